"""pyarrow over sealed files vs plaintext vs Parquet Modular Encryption.

A table of int64, float64, a 20-character string and a timestamp is written
as Parquet (uncompressed and snappy), CSV and Feather/IPC: plaintext on
local disk, sealed through ``sealio.arrow.EncryptedFileSystem`` on its
native path (``native``: C++ files, no Python per read) and on its
``pyarrow.fs.PyFileSystem`` path (``pyfs``), and (Parquet) with PME through
``sealio.arrow.parquet_crypto_factory``. Reads: all columns and one column,
through ``pq.read_table`` and ``dataset.to_table``, with 1 and 2 threads;
Feather through ``feather.read_table`` of an open (not memory-mapped) file.
Every variant is timed in the same run, interleaved, repeated; medians and
ratios to plaintext of wall time and of process CPU time are printed (speed
is reported, never asserted; on a busy machine the CPU ratio is the steadier
one). Files are read once before timing (warm page cache).

    python bench/bench_arrow.py --quick      # 500k rows, a few seconds per case
    python bench/bench_arrow.py              # 5M rows, as in the issue
    python bench/bench_arrow.py --json out.json   # also the rows, for machines
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pyarrow.feather as feather
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe

import sealio
from sealio import primitives
from sealio.arrow import EncryptedFileSystem, parquet_crypto_factory
from sealio.fs.native import unavailable_here


def make_table(rows: int) -> pa.Table:
    rng = np.random.default_rng(1)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)
    chars = letters[rng.integers(0, len(letters), size=rows * 20)]
    strings = pa.StringArray.from_buffers(rows, pa.py_buffer(np.arange(0, rows * 20 + 1, 20, dtype=np.int32)),
                                          pa.py_buffer(chars.tobytes()))
    return pa.table({
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "value": pa.array(rng.random(rows)),
        "name": strings,
        "ts": pa.array(np.datetime64("2026-01-01") + rng.integers(0, 10**9, rows).astype("timedelta64[s]"),
                       pa.timestamp("us")),
    })


def timeit(fn: Callable[[], object], repeats: int) -> list[tuple[float, float]]:
    """(wall, CPU of the whole process) seconds per call: on a busy machine
    the CPU time is the steadier measure of the work done."""
    out = []
    for _ in range(repeats):
        c, t = time.process_time(), time.perf_counter()
        fn()
        out.append((time.perf_counter() - t, time.process_time() - c))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="500k rows, 3 repeats")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--dir", default=None, help="where to write files (default: a temporary directory)")
    ap.add_argument("--json", default=None, help="also write the results as JSON to this file")
    args = ap.parse_args(argv)
    rows = args.rows or (500_000 if args.quick else 5_000_000)
    repeats = args.repeats or (3 if args.quick else 5)
    threads = [int(t) for t in args.threads.split(",")]
    saved = (pa.cpu_count(), pa.io_thread_count())
    try:
        return _run(args, rows, repeats, threads)
    finally:  # the thread pools are process-wide
        pa.set_cpu_count(saved[0])
        pa.set_io_thread_count(saved[1])


def _run(args: argparse.Namespace, rows: int, repeats: int, threads: list[int]) -> int:

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="sealio-bench-arrow-") as tmp:
        root = Path(tmp)
        ring = sealio.LocalKeyring.create(root / "keyring.json")
        ring.generate("main")
        uri = f"local://{ring.path}"
        (root / "plain").mkdir()
        (root / "sealed").mkdir()
        plain = pafs.SubTreeFileSystem(str(root / "plain"), pafs.LocalFileSystem())
        sub = pafs.SubTreeFileSystem(str(root / "sealed"), pafs.LocalFileSystem())
        why = unavailable_here()
        if why is not None:
            print(f"# no native path here ({why}): native rows are left out")
        paths = {"pyfs": False} if why is not None else {"native": True, "pyfs": False}
        sealed_fs = {(p, n): EncryptedFileSystem(sub, keys=uri, threads=n, native=flag)
                     for p, flag in paths.items() for n in threads}
        sealed = sealed_fs[("pyfs", max(threads))]

        def each(n: int, fn: Callable[..., object]) -> dict[str, Callable[[], object]]:
            """One variant per sealed path: fn(filesystem)."""
            return {p: (lambda fs=sealed_fs[(p, n)]: fn(fs)) for p in paths}
        factory = parquet_crypto_factory(uri)
        kms = pe.KmsConnectionConfig()
        pme_cfg = pe.EncryptionConfiguration(footer_key="main", column_keys={"main": ["id", "value", "name", "ts"]},
                                             double_wrapping=True)
        dprops = factory.file_decryption_properties(kms, pe.DecryptionConfiguration())

        t0 = time.perf_counter()
        table = make_table(rows)
        print(f"# {rows:,} rows, {table.nbytes / 1e6:.0f} MB in memory (made in {time.perf_counter() - t0:.1f} s); "
              f"repeats={repeats}, medians; cpus={os.cpu_count()}; kernel={primitives.cpu_features()['kernel']}")
        print(f"# pyarrow {pa.__version__}, python {sys.version.split()[0]}")

        results: list[tuple[str, str, float, float, float, float]] = []
        # (case, variant, median wall s, wall ratio, median CPU s, CPU ratio); ratios to plaintext

        def report(case: str, timings: dict[str, list[tuple[float, float]]]) -> None:
            base = statistics.median(t[0] for t in timings["plain"])
            cbase = statistics.median(t[1] for t in timings["plain"]) or 1e-9
            for variant, ts in sorted(timings.items(), key=lambda kv: kv[0] != "plain"):
                med = statistics.median(t[0] for t in ts)
                cpu = statistics.median(t[1] for t in ts)
                results.append((case, variant, med, med / base, cpu, cpu / cbase))
                print(f"{case:<44} {variant:<7} {med * 1e3:9.1f} ms  {med / base:5.2f}x   "
                      f"cpu {cpu * 1e3:8.1f} ms {cpu / cbase:5.2f}x", flush=True)

        def run(case: str, fns: dict[str, Callable[[], object]]) -> None:
            for fn in fns.values():  # warm-up: page cache, KEK caches
                fn()
            timings: dict[str, list[tuple[float, float]]] = {k: [] for k in fns}
            for _ in range(repeats):  # interleaved: noise hits every variant alike
                for name, fn in fns.items():
                    timings[name] += timeit(fn, 1)
            report(case, timings)

        for comp in ("none", "snappy"):
            name = f"t-{comp}.parquet"

            def write_pme(comp: str = comp, name: str = name) -> None:
                props = factory.file_encryption_properties(kms, pme_cfg)
                pq.write_table(table, str(root / "plain" / ("pme-" + name)), compression=comp,
                               encryption_properties=props)

            run(f"parquet {comp}: write", {
                "plain": lambda comp=comp, name=name: pq.write_table(table, name, filesystem=plain, compression=comp),
                **each(max(threads), lambda fs, comp=comp, name=name: pq.write_table(table, name, filesystem=fs,
                                                                                     compression=comp)),
                "pme": write_pme,
            })
            for n in threads:
                pa.set_cpu_count(n)
                pa.set_io_thread_count(max(2, n))
                for cols, label in ((None, "all columns"), (["value"], "one column")):
                    run(f"parquet {comp}: pq.read_table {label}, {n} thr", {
                        "plain": lambda c=cols, name=name: pq.read_table(name, filesystem=plain, columns=c),
                        **each(n, lambda fs, c=cols, name=name: pq.read_table(name, filesystem=fs, columns=c)),
                        "pme": lambda c=cols, name=name: pq.read_table(str(root / "plain" / ("pme-" + name)),
                                                                       columns=c, decryption_properties=dprops),
                    })
                    run(f"parquet {comp}: dataset.to_table {label}, {n} thr", {
                        "plain": lambda c=cols, name=name: ds.dataset(name, filesystem=plain).to_table(columns=c),
                        **each(n, lambda fs, c=cols, name=name: ds.dataset(name, filesystem=fs).to_table(columns=c)),
                    })

        pa.set_cpu_count(max(threads))
        for fs in (plain, sealed):
            with fs.open_output_stream("t.csv") as f:
                pcsv.write_csv(table, f)
            with fs.open_output_stream("t.feather") as f:
                feather.write_feather(table, f, compression="uncompressed")
        for n in threads:
            pa.set_cpu_count(n)
            run(f"csv: read_csv, {n} thr", {
                "plain": lambda: pcsv.read_csv(plain.open_input_stream("t.csv")),
                **each(n, lambda fs: pcsv.read_csv(fs.open_input_stream("t.csv"))),
            })
            run(f"csv: dataset.to_table, {n} thr", {
                "plain": lambda: ds.dataset("t.csv", filesystem=plain, format="csv").to_table(),
                **each(n, lambda fs: ds.dataset("t.csv", filesystem=fs, format="csv").to_table()),
            })
            run(f"feather: read_table (not mapped), {n} thr", {
                "plain": lambda: feather.read_table(plain.open_input_file("t.feather"), memory_map=False),
                **each(n, lambda fs: feather.read_table(fs.open_input_file("t.feather"), memory_map=False)),
            })
        sizes = {p.name: p.stat().st_size for p in (root / "plain").iterdir()}
        print(f"# plaintext file sizes (MB): " + ", ".join(f"{k} {v / 1e6:.0f}" for k, v in sorted(sizes.items())))
        for path in paths:
            reads = [r for r in results if r[1] == path and "write" not in r[0]]
            worst = max(reads, key=lambda r: r[3])
            print(f"# sealed reads: median ratio {statistics.median(r[3] for r in reads):.3f}x on the {path} path, "
                  f"worst {worst[3]:.3f}x ({worst[0]})")
        if args.json:
            rows_out = [{"case": c, "variant": v, "median_s": m, "ratio_to_plain": r, "median_cpu_s": cm,
                         "cpu_ratio_to_plain": cr} for c, v, m, r, cm, cr in results]
            Path(args.json).write_text(json.dumps({"rows": rows, "pyarrow": pa.__version__, "results": rows_out},
                                                  indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
