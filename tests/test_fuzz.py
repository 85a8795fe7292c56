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

from pathlib import Path

import pytest

from conftest import fuzz_runner

fuzz = fuzz_runner()  # the one conftest loaded, with its launcher (see tests/fuzz/run.py)

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


def test_fuzzer_memory_bound_ignores_the_test_runs_own_memory(tmp_path: Path) -> None:
    """Linux carries peak RSS over fork+exec; fuzzers started from a grown
    pytest process would hit their RSS bound at once. The launcher (started
    while the run was small) keeps the bound about the fuzzer alone."""
    hog = bytearray(600 << 20)  # this process now peaks above the selftest's 300 MB bound
    for i in range(0, len(hog), 4096):
        hog[i] = 1
    r = _selftest(tmp_path, b"hang")  # runs long enough for libFuzzer's once-a-second RSS check
    del hog
    assert "ERROR: libFuzzer: timeout" in r.output and "out-of-memory" not in r.output, r.report()
