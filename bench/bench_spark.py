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
Each is run once to warm up, then ``--repeat`` rounds take the variants in turn (interleaved); medians and ratios to
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
import pyarrow.parquet.encryption as pe

import sealio
from sealio.parquet import parquet_crypto_factory
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
    d = {k: work / k for k in ("plain_pq", "sealed_pq", "pme_pq", "plain_csv", "sealed_csv")}
    for p in d.values():
        p.mkdir()
    # PME files are written by pyarrow with the same row groups and
    # encodings as the plaintext ones (Spark reads them: parquet-java's
    # local wrap), so the PME row compares the same files, encrypted.
    factory = parquet_crypto_factory(keys)
    pme = factory.file_encryption_properties(
        pe.KmsConnectionConfig(), pe.EncryptionConfiguration(footer_key="bench", uniform_encryption=True))
    per = -(-rows // files)
    for i in range(files):
        part = table.slice(i * per, per)
        pq.write_table(part, d["plain_pq"] / f"part-{i}.parquet", compression="snappy", row_group_size=1 << 17)
        pq.write_table(part, d["pme_pq"] / f"part-{i}.parquet", compression="snappy", row_group_size=1 << 17,
                       encryption_properties=pme)
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


JVM_BENCH = r"""
package io.sealio.hadoop;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.URI;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/** Decryption throughput of each segment cipher: batches in memory, then a sealed file through the filesystem. */
public final class JvmDecryptBench {
  public static void main(String[] args) throws Exception {
    String lib = args[0], keys = args[1], file = args[2];
    int rounds = Integer.parseInt(args[3]);
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    NativeGcm.load(lib);
    int seg = 1 << 16, segs = 16;
    byte[] key = new byte[32], prefix = new byte[7], fill = new byte[segs * seg];
    SecureRandom r = new SecureRandom();
    r.nextBytes(key);
    r.nextBytes(prefix);
    r.nextBytes(fill);
    for (String name : new String[] {"jni", "jce"}) {
      SegmentCipher c = name.equals("jni") ? new JniSegmentCipher(key, prefix, seg) : new JceSegmentCipher(key, prefix, seg);
      ByteBuffer pt = c.allocate(segs * seg), ct = c.allocate(segs * (seg + 16));
      pt.put(fill).clear();
      int len = c.seal(pt, segs * seg, ct, 0, false);
      double first = 0, best = 0;
      for (int round = 0; round < rounds; round++) { // 64 MiB a round; the JIT compiles JCE's GCM after a few thousand segments
        long cpu0 = mx.getCurrentThreadCpuTime();
        for (int i = 0; i < 64; i++) {
          c.open(ct, len, pt, 0, false);
        }
        double gbs = 64.0 * segs * seg / ((mx.getCurrentThreadCpuTime() - cpu0) / 1e9) / 1e9;
        first = round == 0 ? gbs : first;
        best = Math.max(best, gbs);
      }
      c.close();
      System.out.printf("RESULT batch %s %.3f %.3f%n", name, first, best);
    }
    for (String name : new String[] {"jni", "jce"}) {
      Configuration conf = new Configuration();
      conf.set("fs.sealed.impl", SealedFileSystem.class.getName());
      conf.set("fs.sealed.keys", keys);
      conf.set("fs.sealed.jni.library", lib);
      conf.setBoolean("fs.sealed.jni.enabled", name.equals("jni"));
      conf.setBoolean("fs.sealed.impl.disable.cache", true);
      FileSystem fs = FileSystem.get(URI.create("sealed:///"), conf);
      byte[] buf = new byte[1 << 20];
      double best = 0;
      for (int round = 0; round < Math.max(3, rounds / 4); round++) {
        long cpu0 = mx.getCurrentThreadCpuTime(), n = 0;
        try (FSDataInputStream in = fs.open(new Path("sealed://" + file))) {
          for (int got; (got = in.read(buf, 0, buf.length)) > 0; ) {
            n += got;
          }
        }
        best = Math.max(best, n / ((mx.getCurrentThreadCpuTime() - cpu0) / 1e9) / 1e9);
      }
      System.out.printf("RESULT stream %s %.3f %.3f%n", ((SealedFileSystem) fs).cipherName(), best, best);
    }
  }
}
"""


def jvm_decrypt(work: Path, keys: str, repeat: int) -> None:
    """JNI vs JCE decryption in one JVM of its own (CPU time of the decrypting
    thread, so other load on the machine matters less): segment batches in
    memory, then a 256 MiB sealed file read through the filesystem."""
    import subprocess

    from sealio.spark._jvm import _java_tool, spark_jars_dir
    from sealio.spark.native_fs import jni_library

    src = work / "jvmbench" / "io" / "sealio" / "hadoop" / "JvmDecryptBench.java"
    src.parent.mkdir(parents=True)
    src.write_text(JVM_BENCH)
    cp = os.pathsep.join([str(kms_client_jar()), *(str(p) for p in sorted(spark_jars_dir().glob("*.jar")))])
    subprocess.run([_java_tool("javac"), "-nowarn", "-cp", cp, "-d", str(work / "jvmbench"), str(src)], check=True)
    big = work / "big.bin"
    with sealio.open(big, "wb", keys=keys) as f:
        for _ in range(256):
            f.write(os.urandom(1 << 20))
    out = subprocess.run([_java_tool("java"), "-cp", os.pathsep.join([str(work / "jvmbench"), cp]),
                          "io.sealio.hadoop.JvmDecryptBench", str(jni_library()), keys, str(big), str(8 + 2 * repeat)],
                         check=True, capture_output=True, text=True).stdout
    rows = {(w[1], w[2]): (float(w[3]), float(w[4])) for w in (ln.split() for ln in out.splitlines())
            if w and w[0] == "RESULT"}
    for kind in ("batch", "stream"):
        jni, jce = rows[(kind, "jni")], rows[(kind, "jce")]
        where = "16 x 64 KiB in memory" if kind == "batch" else "256 MiB file, sealed://"
        print(f"jvm      decrypt      {kind + ', ' + where:30s} JNI {jni[1]:5.2f} GB/s  JCE {jce[1]:5.2f} GB/s "
              f"(first 64 MiB {jce[0]:.2f})  JNI/JCE {jni[1] / jce[1]:4.2f}x" if kind == "batch" else
              f"jvm      decrypt      {kind + ', ' + where:30s} JNI {jni[1]:5.2f} GB/s  JCE {jce[1]:5.2f} GB/s  "
              f"JNI/JCE {jni[1] / jce[1]:4.2f}x   (GB/s per CPU second of the reading thread)")


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
            "native PME (Java KmsClient)": lambda q: run(spark.read.options(**pme).parquet(str(d["pme_pq"])), q),
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
            # Interleaved: every variant warms up, then the repeats take
            # the variants in turn, so none is timed while the JVM is still
            # compiling the read path the others then get for free.
            runs: dict[str, list[float]] = {name: [] for name in impls}
            used: dict[str, int] = dict.fromkeys(impls, 0)
            for name, fn in impls.items():
                fn(q)
            for _ in range(args.repeat):
                for name, fn in impls.items():
                    before = segments.totalSegmentsDecrypted()
                    t0 = time.perf_counter()
                    fn(q)
                    runs[name].append(time.perf_counter() - t0)
                    used[name] += segments.totalSegmentsDecrypted() - before
            base = statistics.median(runs[next(iter(impls))])
            for name in impls:
                t = statistics.median(runs[name])
                note = f"  segments {used[name] // args.repeat}/{total}" if name.startswith("sealed://") else ""
                print(f"{fmt:8s} {qname:12s} {name:30s} {t:7.3f} s  {t / base:5.2f}x{note}")
            if fmt == "parquet" and qname == "one column":
                t = timed(lambda: sealed(d["sealed_pq"], schema="id bigint").selectExpr(*q[1]).collect(), args.repeat)
                print(f"{fmt:8s} {qname:12s} {'sealio source, schema=id only':30s} {t:7.3f} s  {t / base:5.2f}x")
    jvm_decrypt(work, keys, args.repeat)
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
