#!/usr/bin/env python3
"""Spark reads of sealed data vs Spark's own plaintext reads (local[2]).

Same rows everywhere (int64, float64, 20-character string, timestamp),
split into files of equal size:

* parquet: Spark native plaintext | Spark native on the sealed files
  through the ``sealed://`` Hadoop filesystem (java/io/sealio/hadoop/),
  decrypting with the C core over JNI and with JCE | sealio data source on
  sealed files | a pyarrow-only Python data source on the plaintext files
  (the same Python path without decryption: isolates the Python worker +
  Arrow handoff) | Spark native with Parquet Modular Encryption through
  the Java KmsClient;
* csv: Spark native plaintext | ``sealed://`` (JNI, JCE) | sealio data
  source on sealed files.

Queries: all four columns aggregated (full scan), one column
(``sum(id)``), a selective filter (0.1 % of the ids, so Parquet row groups
are pruned); the sealio source also with a user schema of one column
(manual pruning: Spark 4.3 does not prune columns of Python data sources).
Each is run once to warm up, then ``--repeat`` times; medians and ratios to
the plaintext native read are printed, with the segments the ``sealed://``
rows decrypted per query against the segments of the files. Last, the
decryption throughput of the JVM stream alone (JNI vs JCE, every sealed
Parquet byte read through the filesystem). Timings only report; nothing
here asserts speed.

    python bench/bench_spark.py --quick        # 1M rows, 3 repeats
    python bench/bench_spark.py --rows 5000000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

import sealio
from sealio.spark import kms_client_jar, local_session, native_pme_conf
from sealio.spark.native_fs import native_fs_conf, sealed_url


def make_table(rows: int, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    s = rng.choice(letters, size=(rows, 20)).view("S20").ravel().astype(str)
    return pa.table({
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "x": pa.array(rng.random(rows)),
        "s": pa.array(s, pa.string()),
        "t": pa.array((1_700_000_000_000_000 + np.arange(rows, dtype=np.int64) * 1000).astype("datetime64[us]")),
    })


def seal_file(src: Path, dst: Path, keys: str) -> None:
    with open(src, "rb") as fin, sealio.open(dst, "wb", keys=keys) as fout:
        while chunk := fin.read(8 << 20):
            fout.write(chunk)


def prepare(work: Path, rows: int, files: int, keys: str) -> dict[str, Path]:
    table = make_table(rows)
    d = {k: work / k for k in ("plain_pq", "sealed_pq", "plain_csv", "sealed_csv")}
    for p in d.values():
        p.mkdir()
    per = -(-rows // files)
    for i in range(files):
        part = table.slice(i * per, per)
        pq.write_table(part, d["plain_pq"] / f"part-{i}.parquet", compression="snappy", row_group_size=1 << 17)
        seal_file(d["plain_pq"] / f"part-{i}.parquet", d["sealed_pq"] / f"part-{i}.parquet", keys)
        pacsv.write_csv(part, d["plain_csv"] / f"part-{i}.csv")
        seal_file(d["plain_csv"] / f"part-{i}.csv", d["sealed_csv"] / f"part-{i}.csv", keys)
    return d


def plain_arrow_source() -> Any:
    """A minimal Python data source over plaintext Parquet (no sealio):
    the Python data source path without decryption."""
    from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition

    class PlainReader(DataSourceReader):
        def __init__(self, path: str, schema: Any) -> None:
            from pyspark.sql.pandas.types import to_arrow_schema

            self.path, self.target = path, to_arrow_schema(schema, timezone="UTC")

        def partitions(self) -> list[InputPartition]:
            return [InputPartition(str(p)) for p in sorted(Path(self.path).glob("*.parquet"))]

        def read(self, partition: InputPartition) -> Any:
            import pyarrow.compute as pc
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(partition.value)
            for b in pf.iter_batches(batch_size=1 << 16, columns=self.target.names, use_threads=False):
                yield pa.RecordBatch.from_arrays([pc.cast(c, f.type) for c, f in zip(b.columns, self.target)],
                                                 schema=self.target)

    class PlainArrow(DataSource):
        @classmethod
        def name(cls) -> str:
            return "plainarrow"

        def schema(self) -> str:
            return "id bigint, x double, s string, t timestamp"

        def reader(self, schema: Any) -> DataSourceReader:
            return PlainReader(self.options["path"], schema)

    return PlainArrow


def timed(fn: Any, repeat: int) -> float:
    fn()  # warm-up (first Python source use in a session costs seconds)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


ALL = ["count(*) as n", "sum(id)", "sum(x)", "max(length(s))", "max(t)"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="1M rows, 3 repeats")
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.repeat = 1_000_000, 3
    work = Path(tempfile.mkdtemp(prefix="sealio-bench-spark-"))
    ring = work / "keyring.json"
    sealio.LocalKeyring.create(ring).generate("bench")
    keys = f"local://{ring}"
    t0 = time.perf_counter()
    d = prepare(work, args.rows, args.files, keys)
    print(f"# {args.rows:,} rows x 4 columns in {args.files} files; prepared in {time.perf_counter() - t0:.1f} s; "
          f"{os.cpu_count()} CPUs, local[2], median of {args.repeat}")
    spark = local_session("bench-spark", jars=[str(kms_client_jar())], conf=native_fs_conf(keys))
    jvm = spark._jvm
    segments = jvm.io.sealio.hadoop.SealedInputStream
    jce = {"fs.sealed.impl.disable.cache": "true", "fs.sealed.jni.enabled": "false"}

    spark.dataSource.register(plain_arrow_source())
    pme = native_pme_conf(keys, prefix="")
    (spark.read.parquet(str(d["plain_pq"])).repartition(args.files).write.options(**pme)
     .option("parquet.encryption.uniform.key", "bench").mode("overwrite").parquet(str(work / "pme_pq")))

    def sealed(path: Path, **opts: str) -> Any:
        r = spark.read.format("sealio").option("keys", keys)
        for k, v in opts.items():
            r = r.option(k, v) if k != "schema" else r.schema(v)
        return r.load(str(path))

    csv_schema = "id bigint, x double, s string, t timestamp"
    lo = args.rows // 2
    pick = f"id between {lo} and {lo + args.rows // 1000}"

    def run(df: Any, q: tuple[str | None, list[str]]) -> Any:
        where, exprs = q
        return (df.filter(where) if where else df).selectExpr(*exprs).collect()

    def csv_read(path: str, **opts: str) -> Any:
        return spark.read.options(**opts).schema(csv_schema).option("header", "true").csv(path)

    cases = {
        "parquet": {
            "native plaintext": lambda q: run(spark.read.parquet(str(d["plain_pq"])), q),
            "sealed:// (JNI)": lambda q: run(spark.read.parquet(sealed_url(d["sealed_pq"])), q),
            "sealed:// (JCE)": lambda q: run(spark.read.options(**jce).parquet(sealed_url(d["sealed_pq"])), q),
            "native PME (Java KmsClient)": lambda q: run(spark.read.options(**pme).parquet(str(work / "pme_pq")), q),
            "python source, plaintext": lambda q: run(spark.read.format("plainarrow").load(str(d["plain_pq"])), q),
            "sealio source, sealed": lambda q: run(sealed(d["sealed_pq"]), q),
        },
        "csv": {
            "native plaintext": lambda q: run(csv_read(str(d["plain_csv"])), q),
            "sealed:// (JNI)": lambda q: run(csv_read(sealed_url(d["sealed_csv"])), q),
            "sealed:// (JCE)": lambda q: run(csv_read(sealed_url(d["sealed_csv"]), **jce), q),
            "sealio source, sealed": lambda q: run(sealed(d["sealed_csv"], header="true", schema=csv_schema), q),
        },
    }
    queries = {"parquet": [("full scan", (None, ALL)), ("one column", (None, ["sum(id)"])),
                           ("filter", (pick, ["count(*)", "sum(x)"]))],
               "csv": [("full scan", (None, ALL)), ("one column", (None, ["sum(id)"]))]}
    seg = 1 << 16
    for fmt, impls in cases.items():
        folder = d["sealed_pq"] if fmt == "parquet" else d["sealed_csv"]
        total = sum(-(-max(1, os.path.getsize(p) - 1024) // (seg + 16)) for p in folder.iterdir())
        for qname, q in queries[fmt]:
            base = None
            for name, fn in impls.items():
                before = segments.totalSegmentsDecrypted()
                t = timed(lambda: fn(q), args.repeat)
                used = (segments.totalSegmentsDecrypted() - before) // (args.repeat + 1)
                base = base or t
                note = f"  segments {used}/{total}" if name.startswith("sealed://") else ""
                print(f"{fmt:8s} {qname:12s} {name:30s} {t:7.3f} s  {t / base:5.2f}x{note}")
            if fmt == "parquet" and qname == "one column":
                t = timed(lambda: sealed(d["sealed_pq"], schema="id bigint").selectExpr(*q[1]).collect(), args.repeat)
                print(f"{fmt:8s} {qname:12s} {'sealio source, schema=id only':30s} {t:7.3f} s  {t / base:5.2f}x")
    # Decryption alone in the JVM: every sealed Parquet byte through the filesystem, JNI vs JCE.
    hconf = spark._jsc.hadoopConfiguration()
    sink = jvm.org.apache.commons.io.output.NullOutputStream.INSTANCE
    nbytes = sum(os.path.getsize(p) for p in d["sealed_pq"].iterdir())
    for cipher in ("jni", "jce"):
        conf = jvm.org.apache.hadoop.conf.Configuration(hconf)
        conf.set("fs.sealed.impl.disable.cache", "true")
        conf.set("fs.sealed.jni.enabled", "true" if cipher == "jni" else "false")
        fs = jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI("sealed:///"), conf)

        def scan(fs: Any = fs) -> None:
            for p in sorted(d["sealed_pq"].iterdir()):
                stream = fs.open(jvm.org.apache.hadoop.fs.Path(sealed_url(p)), 1 << 20)
                jvm.org.apache.commons.io.IOUtils.copyLarge(stream, sink, jvm.org.apache.commons.io.IOUtils.byteArray(1 << 20))
                stream.close()
        t = timed(scan, args.repeat)
        print(f"jvm      decrypt      {'sealed:// stream, ' + fs.cipherName():30s} {t:7.3f} s  {nbytes / t / 1e9:5.2f} GB/s")
    # Decryption alone, outside Spark: one process reading every sealed vs plaintext Parquet file.
    for label, folder in (("plaintext", d["plain_pq"]), ("sealed", d["sealed_pq"])):
        def read_all(folder: Path = folder) -> None:
            for p in sorted(folder.glob("*.parquet")):
                if label == "sealed":
                    with sealio.open(p, "rb", keys=keys) as f:
                        pq.read_table(f)
                else:
                    pq.read_table(p)
        print(f"pyarrow  all columns  {'pq.read_table, ' + label:30s} {timed(read_all, args.repeat):7.3f} s")
    spark.stop()
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
