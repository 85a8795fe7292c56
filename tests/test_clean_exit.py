"""A script that reads (or writes) a sealed dataset through
``sealio.arrow.EncryptedFileSystem`` and exits returns 0, every time.

Without sealio's exit hook (sealio.fs.shutdown) about two reads in three
abort here with ``terminate called without an active exception`` (exit
134): Arrow's I/O threads drop the Python file objects a moment after
``to_table()`` returns, and a thread that takes the GIL once finalization
began is killed inside a C++ destructor (pyarrow #45214, #34314). Each run
is a fresh interpreter, the way a batch job runs; two run at a time.
``SEALIO_EXIT_RUNS`` sets how many per script (200 when checked by hand).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

import sealio
from sealio.arrow import EncryptedFileSystem
from sealio.fs import native

RUNS = int(os.environ.get("SEALIO_EXIT_RUNS", "25"))
NATIVE = pytest.mark.skipif(native.unavailable_here() is not None, reason=f"{native.unavailable_here()}")
AT_ONCE = 2

OPEN = """\
import sys
import pyarrow as pa, pyarrow.dataset as ds, pyarrow.fs as pafs
from sealio.arrow import EncryptedFileSystem
root = sys.argv[1]
fs = EncryptedFileSystem(pafs.SubTreeFileSystem(root + "/data", pafs.LocalFileSystem()),
                         keys=f"local://{root}/keyring.json", native=sys.argv[2] == "native")
"""
READ = OPEN + """\
assert ds.dataset("csv", filesystem=fs, format="csv").to_table().num_rows == 20_000
"""
WRITE = OPEN + """\
t = pa.table({"id": range(20_000), "g": [i % 4 for i in range(20_000)]})
ds.write_dataset(t, f"out/{sys.argv[2]}/{sys.argv[3]}", filesystem=fs, format="csv", partitioning=["g"])
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A keyring and a sealed CSV dataset of four files."""
    root = tmp_path_factory.mktemp("exit")
    (root / "data").mkdir()
    sealio.LocalKeyring.create(root / "keyring.json").generate("main")
    fs = EncryptedFileSystem(pafs.SubTreeFileSystem(str(root / "data"), pafs.LocalFileSystem()),
                             keys=f"local://{root}/keyring.json")
    t = pa.table({"id": range(20_000), "s": [f"n{i}" for i in range(20_000)], "g": [i % 4 for i in range(20_000)]})
    ds.write_dataset(t, "csv", filesystem=fs, format="csv", partitioning=["g"])
    return root


def _run_many(script: Path, root: Path, path: str, runs: int) -> list[tuple[int, str]]:
    """(exit status, stderr) of every run that did not return 0."""
    bad: list[tuple[int, str]] = []
    running: list[subprocess.Popen[bytes]] = []

    def reap(p: subprocess.Popen[bytes]) -> None:
        _, err = p.communicate(timeout=120)
        if p.returncode != 0:
            bad.append((p.returncode, err.decode(errors="replace")[-2000:]))

    for i in range(runs):
        if len(running) >= AT_ONCE:
            reap(running.pop(0))
        running.append(subprocess.Popen([sys.executable, str(script), str(root), path, str(i)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for p in running:
        reap(p)
    return bad


@pytest.mark.parametrize("path", ["python", pytest.param("native", marks=NATIVE)])
@pytest.mark.parametrize("kind", ["read", "write"])
def test_a_script_exits_cleanly_every_time(root: Path, tmp_path: Path, kind: str, path: str) -> None:
    """Both paths: Python's (PyFileSystem) and the native one (one Python
    call per open, whose references C++ drops before its files are gone)."""
    script = tmp_path / f"{kind}.py"
    script.write_text(READ if kind == "read" else WRITE)
    bad = _run_many(script, root, path, RUNS)
    assert not bad, f"{len(bad)}/{RUNS} runs failed; first: exit {bad[0][0]}\n{bad[0][1]}"
    if kind == "write":
        written = [p for p in (root / "data" / "out" / path).rglob("*") if p.is_file()]
        assert len(written) == 4 * RUNS and all(p.read_bytes()[:8] == b"\x89SEALIO\n" for p in written)


def test_after_the_exit_hook_calls_fail_fast_and_the_pool_runs_inline(root: Path) -> None:
    """The hook refuses new work (an abandoned scan ends at once instead of
    racing finalization), lets closes through, and does not wait for a
    file the program itself still holds."""
    code = textwrap.dedent("""\
        from sealio.fs import shutdown
        from sealio.io.pool import executor
        held = fs.open_input_file("csv/0/part-0.csv")
        print(shutdown.drain(quiet=0.05))
        try:
            fs.open_input_file("csv/1/part-0.csv")
        except OSError as e:
            print("refused:", e)
        held.close()
        print(executor().submit(lambda: "inline").result())
        """)
    out = subprocess.run([sys.executable, "-c", OPEN + code, str(root), "python"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "(0, 1)"  # nothing in flight; the held file is the program's own
    assert lines[1].startswith("refused:") and "exiting" in lines[1]
    assert lines[2] == "inline"
