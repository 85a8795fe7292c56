"""SimpleQuery on a real multi-process Spark cluster through the sealed
Hadoop filesystem: a standalone master and two workers (separate JVMs on
127.0.0.1, tests/spark_cluster.py), a driver in its own process, sealed CSV
and sealed Parquet in, sealed Parquet out. The conf names no keys: the
executors find the keyring through ``spark.executorEnv.SEALIO_KEYRING``
and the driver has none at all, so every decryption and encryption ran in
an executor (the driver lists, plans and commits by rename only).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyspark", minversion="4.0")

import sealio  # noqa: E402
from sealio.spark import kms_client_jar  # noqa: E402
from sealio.spark.native_fs import FS_CLASS, jni_library, sealed_url  # noqa: E402
from sealio.spark.simple_query import generate_people  # noqa: E402

import spark_cluster  # noqa: E402

DRIVER = r'''
import json, sys
from pyspark.sql import SparkSession
master, jar, lib, ring, csv_dir, pq_dir, out = sys.argv[1:]
spark = (SparkSession.builder.master(master).appName("sealio-cluster")
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.ui.enabled", "false").config("spark.driver.memory", "512m")
         .config("spark.executor.memory", "512m").config("spark.executor.cores", "1").config("spark.cores.max", "2")
         .config("spark.driver.extraClassPath", jar).config("spark.executor.extraClassPath", jar)
         .config("spark.hadoop.fs.sealed.impl", "%s")
         .config("spark.hadoop.fs.sealed.jni.library", lib)
         .config("spark.executorEnv.SEALIO_KEYRING", ring)
         # the committer's _SUCCESS marker would be a sealed file written by the driver, which has no keys here
         .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
query = "job = 'Developer' and age between 20 and 40"
people = spark.read.option("header", "true").schema("name string, age int, job string").csv(csv_dir)
result = {"csv": people.filter(query).count(), "parquet": spark.read.parquet(pq_dir).filter(query).count()}
people.filter(query).repartition(2).write.parquet(out)
result["written"] = spark.read.parquet(out).count()
result["executors"] = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
spark.stop()
print("RESULT " + json.dumps(result))
''' % FS_CLASS


def test_simple_query_on_a_standalone_cluster(tmp_path: Path) -> None:
    ring = tmp_path / "keyring.json"
    sealio.LocalKeyring.create(ring).generate("cluster")
    plain = tmp_path / "people.csv"
    generate_people(plain, 30_000, seed=5)
    with open(plain, newline="") as fh:
        expected = sum(1 for r in csv.DictReader(fh) if r["job"] == "Developer" and 20 <= int(r["age"]) <= 40)
    keys = f"local://{ring}"
    (tmp_path / "csv").mkdir()
    (tmp_path / "pq").mkdir()
    with open(plain, "rb") as src, sealio.open(tmp_path / "csv" / "people.csv", "wb", keys=keys) as dst:
        shutil.copyfileobj(src, dst)
    table = pacsv.read_csv(plain)
    for i, lo in enumerate(range(0, table.num_rows, 10_000)):
        with sealio.open(tmp_path / "pq" / f"part-{i}.parquet", "wb", keys=keys) as f:
            pq.write_table(table.slice(lo, 10_000), f)
    jar, lib = str(kms_client_jar()), str(jni_library())
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    cluster = spark_cluster.start(tmp_path / "cluster", workers=2)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SEALIO_KEYRING", "PYSPARK"))}
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
        proc = subprocess.run([sys.executable, str(script), cluster.master_url, jar, lib, str(ring),
                               sealed_url(tmp_path / "csv"), sealed_url(tmp_path / "pq"),
                               sealed_url(tmp_path / "out")],
                              env=env, capture_output=True, text=True, timeout=240)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        causes = [ln for ln in proc.stderr.splitlines() if "Exception" in ln or "Error" in ln][:12]
        assert proc.returncode == 0 and lines, "\n".join(causes) + proc.stderr[-3000:]
    finally:
        cluster.stop()
    result = json.loads(lines[-1][len("RESULT "):])
    assert result == {"csv": expected, "parquet": expected, "written": expected, "executors": 2}, result
    parts = sorted((tmp_path / "out").glob("part-*"))
    assert parts
    rows = 0
    for p in parts:
        with sealio.open(p, "rb", keys=keys) as f:
            t = pq.read_table(f)
        assert set(t.column("job").to_pylist()) <= {"Developer"}
        rows += t.num_rows
    assert rows == expected
