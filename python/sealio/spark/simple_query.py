"""SimpleQuery, end to end on encrypted data: BigDL PPML's walkthrough
(developers aged 20 to 40 from people.csv), with Spark ``local[2]`` through
the ``sealio`` data source and, where a JDK can build sealio's jar, through
Spark's own CSV reader on ``sealed://`` (the Hadoop filesystem of
:mod:`sealio.spark.native_fs`), cross-checked with pyarrow and DuckDB.

Run it as ``sealio demo simple-query`` or ``python examples/simple_query.py``.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import string
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["generate_people", "main", "run"]

JOBS = ("Developer", "Engineer", "Researcher")


def generate_people(path: str | os.PathLike[str], rows: int, seed: int) -> None:
    """people.csv: ``name,age,job``; names of 3-7 lowercase letters, ages
    18-60, jobs Developer/Engineer/Researcher; the same file for a seed."""
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "age", "job"])
        for _ in range(rows):
            name = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 7)))
            w.writerow([name, rng.randint(18, 60), rng.choice(JOBS)])


def _plain_count(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for r in csv.DictReader(fh) if r["job"] == "Developer" and 20 <= int(r["age"]) <= 40)


def _native_jar(say) -> str | None:  # type: ignore[no-untyped-def]
    """sealio's jar (KMS client and sealed filesystem), or None without a JDK."""
    from sealio.errors import ConfigurationError
    from sealio.spark._jvm import kms_client_jar

    try:
        return str(kms_client_jar())
    except ConfigurationError as e:
        say(f"#    no native path ({e}): the data source only")
        return None


def _native_count(spark, path: Path, keys: str) -> int:  # type: ignore[no-untyped-def]
    """The query with Spark's own CSV reader on ``sealed://``. Per-read
    options with their own filesystem instance, so a caller's session with
    another keyring is left as it is."""
    from sealio.spark.native_fs import native_fs_conf, sealed_url

    opts = dict(native_fs_conf(keys, prefix=""), **{"fs.sealed.impl.disable.cache": "true"})
    people = (spark.read.options(**opts).option("header", "true")
              .schema("name string, age int, job string").csv(sealed_url(path)))
    return people.filter("job = 'Developer' and age between 20 and 40").count()


def run(work: Path, rows: int = 20_000, seed: int = 1, say=print) -> bool:  # type: ignore[no-untyped-def]
    """The walkthrough in ``work``; True when every engine agrees with the
    plaintext computation."""
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    import sealio
    from sealio.io import is_sealed
    from sealio.spark._session import local_session

    plain = work / "people.csv"
    generate_people(plain, rows, seed)
    say(f"# 1. generated {plain} ({rows:,} rows, seed {seed})")

    ring = work / "keyring.json"
    kr = sealio.LocalKeyring.create(ring)
    kr.generate("simple-query")
    keys = f"local://{ring}"
    sealed_dir = work / "sealed"
    sealed_dir.mkdir()
    with open(plain, "rb") as src, sealio.open(sealed_dir / "people.csv", "wb", keys=keys) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    say(f"# 2. encrypted it to {sealed_dir / 'people.csv'} under master key 'simple-query' (keys={keys})")

    expected = _plain_count(plain)
    say(f"# plaintext answer (csv module on people.csv): {expected} developers aged 20-40")

    from pyspark.sql import SparkSession

    t0 = time.perf_counter()
    owned = SparkSession.getActiveSession() is None  # leave a caller's session running
    jar = _native_jar(say)
    spark = local_session("simple-query", jars=[jar] if jar else None)
    say(f"# 3. Spark local[2] started in {time.perf_counter() - t0:.1f} s")
    try:
        t0 = time.perf_counter()
        people = (spark.read.format("sealio").option("keys", keys).option("header", "true")
                  .option("inferSchema", "true").load(str(sealed_dir / "people.csv")))
        result = people.filter("job = 'Developer' and age between 20 and 40")
        spark_count = result.count()
        say(f"#    spark.read.format('sealio')...filter(job = 'Developer' and 20 <= age <= 40).count() = "
            f"{spark_count} ({time.perf_counter() - t0:.2f} s)")
        out = work / "result"
        (result.write.format("sealio").option("format", "csv").option("header", "true").option("keys", keys)
         .mode("overwrite").save(str(out)))
        say(f"#    wrote the result encrypted to {out}/ (atomic commit)")
        native_count = None
        if jar:
            t0 = time.perf_counter()
            native_count = _native_count(spark, sealed_dir / "people.csv", keys)
            say(f"#    spark.read.csv('sealed://...people.csv') (Spark's own reader, sealio's Hadoop filesystem) "
                f"= {native_count} ({time.perf_counter() - t0:.2f} s)")
    finally:
        if owned:
            spark.stop()

    with sealio.open(sealed_dir / "people.csv", "rb", keys=keys) as f:
        table = pacsv.read_csv(f)
    mask = pc.and_(pc.equal(table["job"], "Developer"), pc.and_(pc.greater_equal(table["age"], 20),
                                                                  pc.less_equal(table["age"], 40)))
    arrow_count = table.filter(mask).num_rows
    say(f"# 4. pyarrow on the sealed file: {arrow_count}")
    try:
        import duckdb

        con = duckdb.connect()
        con.register("people", table)
        duck_count = con.sql("select count(*) from people where job = 'Developer' "
                             "and age between 20 and 40").fetchall()[0][0]
        con.close()
        say(f"#    DuckDB on the decrypted Arrow table: {duck_count}")
    except ImportError:
        duck_count = arrow_count
        say("#    DuckDB not installed (pip install 'sealio[spark]'): skipped")

    result_rows = 0
    files = sorted(p for p in out.iterdir() if not p.name.startswith("_"))
    for p in files:
        assert is_sealed(p), f"{p} is not sealed"
        with sealio.open(p, "rb", keys=keys) as f:
            result_rows += pacsv.read_csv(f).num_rows
    say(f"# 5. decrypted the {len(files)} result file(s): {result_rows} rows")
    ok = spark_count == arrow_count == duck_count == result_rows == expected and native_count in (None, expected)
    native = "" if native_count is None else f"Spark on sealed:// {native_count}, "
    say(f"# {'OK' if ok else 'MISMATCH'}: Spark {spark_count}, {native}pyarrow {arrow_count}, DuckDB {duck_count}, "
        f"result files {result_rows}, plaintext {expected}")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="simple_query", description=__doc__)
    p.add_argument("--rows", type=int, default=20_000, help="rows of people.csv (default 20000)")
    p.add_argument("--seed", type=int, default=1, help="random seed for people.csv (default 1)")
    p.add_argument("--keep", metavar="DIR", help="work under DIR and keep the files")
    args = p.parse_args(argv)
    return simple_query(args.rows, args.seed, args.keep)


def simple_query(rows: int, seed: int, keep: str | None) -> int:
    parent = Path(keep).resolve() if keep else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sealio-simple-query-", dir=parent))
    print(f"# working in {work}", flush=True)
    try:
        return 0 if run(work, rows, seed, say=lambda s: print(s, flush=True)) else 1
    finally:
        if parent is None:
            shutil.rmtree(work, ignore_errors=True)
