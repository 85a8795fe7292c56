"""Every ``python`` and ``bash`` block of README.md and docs/*.md runs exactly
as written, each script in a fresh empty directory in a subprocess (HOME
there too, so no default keyring or token of the user's is read or written).

The convention, an HTML comment on the line before a block's fence, visible
in the Markdown source (several marks are separated by commas)::

    <!-- snippet: continues -->      the block continues the previous block's script
    <!-- snippet: needs spark -->    runs only where that part is present (see NEEDS)
    <!-- snippet: not run: REASON --> never runs (a placeholder host, an install)

Every other block is a script of its own, so it must show everything it
uses, keys included. ``DOC_NEEDS`` gives a whole document a mark;
``NOT_YET`` lists blocks known not to run as written (strict expected
failures, reported to their owners).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from servers._kms_process import find_tool

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN = {"python", "bash"}
NOT_CODE = {"json", "hcl", ""}  # data and policy examples, diagrams
FENCE = re.compile(r"^(?:<!-- snippet: (?P<marks>[^\n]*?) -->\n)?```(?P<lang>[\w+-]*)\n(?P<body>.*?)^```[ \t]*$",
                   re.M | re.S)
TIMEOUT = 300


def _have_spark() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyspark") is not None and bool(
        shutil.which("java") or os.environ.get("JAVA_HOME"))


def _have_vault() -> bool:
    import importlib.util

    return importlib.util.find_spec("hvac") is not None and find_tool("bao") is not None


# Heavy parts a block may need: whether this run has them. A `vault` block
# gets a private OpenBao dev server (VAULT_ADDR, VAULT_TOKEN), removed after.
NEEDS: dict[str, Callable[[], bool]] = {"spark": _have_spark, "vault": _have_vault}

# Documents whose every block needs a part, as if each carried the mark.
DOC_NEEDS: dict[str, list[str]] = {"docs/SPARK.md": ["spark"]}

# Blocks that do not run as written yet (reported to their documents'
# owners), by (document, text in the block) so that edits elsewhere do not
# move them: each still runs, as a strict expected failure, so one that
# starts to work fails here until it is taken off this list.
NOT_YET: dict[tuple[str, str], str] = {}


def not_yet(script: Script) -> str | None:
    """Why ``script`` is on NOT_YET, or None."""
    return next((why for (doc, text), why in NOT_YET.items() if doc == script.doc and text in script.body), None)


# (file, text in the script, text its stdout must contain): the outputs the
# docs promise in their comments, checked where they matter.
EXPECT = [
    ("docs/ARROW.md", "read(8)", "b'\\x89SEALIO\\n'"),
    ("docs/ARROW.md", "compression=\"gzip\", storage_options=opts).shape", "(5, 2)"),
    ("docs/ARROW.md", "dask.config.set", "10"),
    ("docs/BIGDL.md", "duckdb.sql(", "[(2,)]"),
    ("docs/BIGDL.md", 'bigdl.Opener("common"', "1 b'name,age,job'"),
    ("docs/SPARK.md", 'local_session("app")                #', "2"),
    ("docs/SPARK.md", '.option("bigdlKeyFile", key_file)', "2"),
    ("docs/SPARK.md", "native_pme_conf(keys))", "2"),
    ("docs/SPARK.md", '.agg({"age": "avg"})', "28.0"),
    ("docs/SPARK.md", "bigdl_url(f", "2\n3"),
]


@dataclass
class Script:
    doc: str
    line: int
    lang: str
    body: str
    needs: list[str] = field(default_factory=list)
    not_run: str | None = None

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def scripts() -> list[Script]:
    """The scripts of every document, in order (``continues`` blocks joined)."""
    out: list[Script] = []
    for path in DOCS:
        text, doc = path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))
        last: Script | None = None
        for m in FENCE.finditer(text):
            lang, body = m["lang"], m["body"]
            marks = [s.strip() for s in (m["marks"] or "").split(",") if s.strip()]
            line = text.count("\n", 0, m.start("lang")) + 1
            if lang not in RUN:
                assert lang in NOT_CODE, f"{doc}:{line}: a ```{lang} block: run it (RUN) or list it in NOT_CODE"
                assert not marks, f"{doc}:{line}: snippet marks on a block that never runs"
                continue
            not_run = next((s.split(":", 1)[1].strip() for s in marks if s.startswith("not run:")), None)
            needs = [s.split(None, 1)[1] for s in marks if s.startswith("needs ")]
            unknown = [s for s in marks if s != "continues" and not s.startswith(("not run:", "needs "))]
            assert not unknown, f"{doc}:{line}: unknown snippet marks {unknown}"
            assert all(n in NEEDS for n in needs), f"{doc}:{line}: needs one of {sorted(NEEDS)}"
            assert not_run is None or not_run, f"{doc}:{line}: `not run:` needs a reason"
            if "continues" in marks:
                assert last is not None and last.lang == lang, f"{doc}:{line}: continues no {lang} block"
                last.body += "\n" + body
                last.needs += needs
                continue
            last = Script(doc, line, lang, body, [*DOC_NEEDS.get(doc, []), *needs], not_run)
            out.append(last)
    return out


SCRIPTS = scripts()


def test_conventions_hold() -> None:
    """The marks parse, every expectation names a script, and only a few
    blocks are exempt (each with its reason)."""
    for doc, src, _ in EXPECT:
        assert any(s.doc == doc and src in s.body for s in SCRIPTS), (doc, src)
    for doc, text in NOT_YET:  # each names exactly one block that runs
        assert len([s for s in SCRIPTS if s.doc == doc and text in s.body and not s.not_run]) == 1, (doc, text)
    exempt = [s for s in SCRIPTS if s.not_run]
    assert len(exempt) <= len(SCRIPTS) // 3, [(s.id, s.not_run) for s in exempt]


def _env(home: Path, script: Script) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SEALIO_", "VAULT_", "AWS_", "PYTEST_")) and k != "BAO_TOKEN"}
    env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if "spark" in script.needs:  # the Java KMS client jar is built once per user, not per test
        env["SEALIO_CACHE_DIR"] = os.environ.get("SEALIO_CACHE_DIR") or str(
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sealio")
    return env


@pytest.mark.parametrize("script", [s for s in SCRIPTS if not s.not_run], ids=lambda s: s.id)
def test_snippet_runs_as_written(script: Script, tmp_path: Path) -> None:
    missing = [n for n in script.needs if not NEEDS[n]()]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}, not present in this run")
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    if script.lang == "python":
        (work / "snippet.py").write_text(script.body, encoding="utf-8")
        argv = [sys.executable, "snippet.py"]
    else:
        (work / "snippet.sh").write_text(script.body, encoding="utf-8")
        argv = ["bash", "-e", "-u", "-o", "pipefail", "snippet.sh"]
    env = _env(home, script)
    with contextlib.ExitStack() as stack:
        if "vault" in script.needs:
            from servers.openbao import start_openbao

            bao = start_openbao()
            stack.callback(bao.server.stop)
            env.update(VAULT_ADDR=bao.url, VAULT_TOKEN=bao.token)
            env["PATH"] = os.pathsep.join([os.path.dirname(find_tool("bao") or "bao"), env["PATH"]])
        proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    why = not_yet(script)
    if why is not None:
        if proc.returncode != 0:
            pytest.xfail(f"does not run as written yet: {why}")
        pytest.fail(f"{script.id} runs as written now: take it off NOT_YET")
    assert proc.returncode == 0, f"{script.id} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    for doc, src, want in EXPECT:
        if doc == script.doc and src in script.body:
            assert want in proc.stdout, f"{script.id}: {want!r} not in its output:\n{proc.stdout}"
    assert "Traceback" not in proc.stderr, proc.stderr
