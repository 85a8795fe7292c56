"""Fuzzing in the default run (issue 12, item 7).

Each target in tests/fuzz runs for a bounded number of executions (and at
most a bounded time) from its committed seed corpus, after replaying the
saved reproducers of earlier findings (tests/fuzz/crashes/<target>/): an
escaping undocumented exception, a hang (per-input timeout), a native
crash, a sanitizer report or memory above the bound fails the test, with
the reproducer's path and the fuzzer's output in the message. Budgets
live in ``tests/fuzz/run.py`` (about 2-3 minutes for all targets on 2
cores); run one longer with ``python tests/fuzz/run.py TARGET --runs 0
--max-time 600 --save-crashes``.

The C target needs clang (Debian's ``clang`` package: ``.ci/run`` and
``tools/run-tests`` install it); without it the test fails and says so,
it is never skipped.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_RUN = Path(__file__).resolve().parent / "fuzz" / "run.py"
_spec = importlib.util.spec_from_file_location("sealio_fuzz_run", _RUN)
assert _spec and _spec.loader
fuzz = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fuzz
_spec.loader.exec_module(fuzz)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list(fuzz.TARGETS))
def test_fuzz_target(name: str, tmp_path: Path) -> None:
    try:
        result = fuzz.run(name, tmp_path)
    except fuzz.FuzzSetupError as e:
        pytest.fail(str(e))
    assert result.ok, result.report()
    assert "Done" in result.output, result.report()  # it ran its executions, not just started


def test_seed_corpora_are_committed() -> None:
    for name in fuzz.TARGETS:
        seeds = list((fuzz.CORPUS / name).iterdir())
        assert seeds, f"no seeds for {name}: run tests/fuzz/make_corpus.py"
        assert sum(p.stat().st_size for p in seeds) < 256 << 10, f"{name}'s corpus should stay small"


# -- the harness itself: each failure kind fails a run, a documented error does not


def _selftest(tmp_path: Path, seed: bytes) -> fuzz.Result:
    corpus = tmp_path / "seeds"
    corpus.mkdir()
    (corpus / "input").write_bytes(seed)
    work = tmp_path / "work"
    work.mkdir()
    return fuzz.run("selftest", work, corpora=[corpus], target=fuzz.SELFTEST)


def test_harness_passes_documented_errors(tmp_path: Path) -> None:
    r = _selftest(tmp_path, b"documented")
    assert r.ok, r.report()


@pytest.mark.parametrize("seed, artifact, says", [
    (b"undocumented", "crash-", "Uncaught Python exception"),
    (b"hang", "timeout-", "ERROR: libFuzzer: timeout"),
    (b"allocate", "oom-", "out-of-memory"),
])
def test_harness_fails_on(tmp_path: Path, seed: bytes, artifact: str, says: str) -> None:
    r = _selftest(tmp_path, seed)
    assert not r.ok and r.returncode != 0, r.report()
    assert says in r.output, r.report()
    assert any(a.name.startswith(artifact) for a in r.artifacts), r.report()
