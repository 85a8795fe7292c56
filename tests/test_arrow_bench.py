"""bench/bench_arrow.py runs end to end (tiny table): it only reports, so
this checks that it keeps working, not how fast anything is."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_arrow.py"


@pytest.mark.slow
def test_bench_arrow_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_arrow", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--rows", "20000", "--repeats", "1", "--threads", "1", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for case in ("parquet none: pq.read_table one column, 1 thr", "parquet snappy: write", "csv: read_csv, 1 thr"):
        assert case in out
    assert "sealed reads: median ratio" in out
