"""The format benchmark runs (tiny sizes) and its counted target holds:
a random 4 KiB read_at never costs more than two segment decryptions."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_format_smoke(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_format", ROOT / "bench" / "bench_format.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "r.json"
    rc = bench.main(["--quick", "--size", "8M", "--sweep-size", "8M", "--trials", "1", "--no-tink",
                     "--dir", str(tmp_path), "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert {"read plaintext", "read sealed", "write sealed"} <= set(res["lines"])
    assert [r["segment"] for r in res["sweep"]] == [1 << k for k in range(12, 23)]
    assert all(r["decryptions_per_4k_max"] <= 2 for r in res["sweep"])
    assert res["targets"]["random 4K read_at <= 2 segment decryptions"]["met"] is True
    assert not list(tmp_path.glob("sealio-bench-*"))  # cleaned up
