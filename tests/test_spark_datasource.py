"""The ``sealio`` Spark data source on local[2]: reads and writes of sealed
Parquet, CSV and JSON, schemas, partitions, commit protocol, filter
pushdown, option checks and auto-registration."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyspark", minversion="4.0")

import sealio  # noqa: E402
from sealio.streams import inspect, is_sealed  # noqa: E402
from sealio.errors import ConfigurationError, NotSealedError  # noqa: E402
from sealio.spark._options import parse_options  # noqa: E402


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> tuple[sealio.LocalKeyring, str]:
    d = tmp_path_factory.mktemp("ring")
    kr = sealio.LocalKeyring.create(d / "keyring.json")
    kr.generate("k1")
    kr.generate("k2", make_default=False)
    return kr, f"local://{d / 'keyring.json'}"


PEOPLE = pa.table({
    "name": ["ann", "bob", "cyd", None, "eve", "fay"],
    "age": pa.array([19, 25, 40, 33, 41, 20], pa.int64()),
    "job": ["Developer", "Engineer", "Developer", "Developer", "Developer", "Researcher"],
})


def seal_parquet(kr: sealio.LocalKeyring, path: Path, table: pa.Table, row_group_size: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sealio.open(path, "wb", keys=kr) as f:
        pq.write_table(table, f, row_group_size=row_group_size)


def read(spark, keys: str, path: Path, **options: str):  # type: ignore[no-untyped-def]
    r = spark.read.format("sealio").option("keys", keys)
    for k, v in options.items():
        r = r.option(k, v)
    return r.load(str(path))


def rows(df) -> list[tuple]:  # type: ignore[no-untyped-def]
    return sorted((tuple(r) for r in df.collect()), key=repr)


def test_parquet_read_schema_and_rows(spark, ring, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kr, keys = ring
    seal_parquet(kr, tmp_path / "people.parquet", PEOPLE)
    df = read(spark, keys, tmp_path / "people.parquet")  # format from the extension
    assert [(f.name, f.dataType.simpleString(), f.nullable) for f in df.schema.fields] == [
        ("name", "string", True), ("age", "bigint", True), ("job", "string", True)]
    assert rows(df) == sorted((tuple(r.values()) for r in PEOPLE.to_pylist()), key=repr)
    # The SimpleQuery predicate, evaluated by Spark on the decrypted rows.
    assert df.filter("job = 'Developer' and age between 20 and 40").count() == 2


def test_many_files_partitions_and_row_groups(spark, ring, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kr, keys = ring
    big = pa.table({"x": pa.array(range(40_000), pa.int64())})
    seal_parquet(kr, tmp_path / "ds" / "a.parquet", big.slice(0, 20_000))
    seal_parquet(kr, tmp_path / "ds" / "sub" / "b.parquet", big.slice(20_000))
    (tmp_path / "ds" / "_SUCCESS").write_bytes(b"")  # hidden: not data
    df = read(spark, keys, tmp_path / "ds")
    assert df.rdd.getNumPartitions() == 2  # one per file
    assert df.selectExpr("sum(x)").first()[0] == sum(range(40_000))
    # Large files split by row groups (here: any file over 1 byte).
    seal_parquet(kr, tmp_path / "rg" / "c.parquet", big, row_group_size=10_000)
    split = read(spark, keys, tmp_path / "rg", maxPartitionBytes="1")
    assert split.rdd.getNumPartitions() == 4
    assert split.count() == 40_000 and split.selectExpr("max(x)").first()[0] == 39_999


def test_user_schema_casts_and_missing_columns(spark, ring, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kr, keys = ring
    seal_parquet(kr, tmp_path / "p.parquet", PEOPLE)
    df = (spark.read.format("sealio").option("keys", keys).schema("age int, name string, extra double")
          .load(str(tmp_path / "p.parquet")))
    got = rows(df)
    assert (25, "bob", None) in got and len(got) == 6
    assert df.schema.simpleString() == "struct<age:int,name:string,extra:double>"


def test_csv_options_pass_through(spark, ring, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kr, keys = ring
    with sealio.open(tmp_path / "people.csv", "w", keys=kr) as f:
        f.write("name;age;job\nann;19;Developer\nbob;25;Engineer\n;33;Developer\n")
    inferred = read(spark, keys, tmp_path / "people.csv", header="true", delimiter=";", inferSchema="true")
    assert inferred.schema.simpleString() == "struct<name:string,age:bigint,job:string>"
    assert rows(inferred) == sorted([("ann", 19, "Developer"), ("bob", 25, "Engineer"), (None, 33, "Developer")],
                                    key=repr)
    strings = read(spark, keys, tmp_path / "people.csv", header="true", delimiter=";")
    assert strings.schema.simpleString() == "struct<name:string,age:string,job:string>"
    headerless = read(spark, keys, tmp_path / "people.csv", delimiter=";")
    assert headerless.columns == ["_c0", "_c1", "_c2"] and headerless.count() == 4
    # A declared schema is matched by position, as Spark's CSV reader does.
    typed = (spark.read.format("sealio").option("keys", keys).option("header", "true")
             .option("delimiter", ";").schema("n string, a int, j string").load(str(tmp_path / "people.csv")))
    assert typed.selectExpr("sum(a)").first()[0] == 77


def test_compressed_csv_and_json(spark, ring, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import gzip

    kr, keys = ring
    (tmp_path / "d").mkdir()
    with sealio.open(tmp_path / "d" / "x.csv.gz", "wb", keys=kr) as f:
        f.write(gzip.compress(b"a,b\n1,x\n2,y\n"))
    df = read(spark, keys, tmp_path / "d", header="true", inferSchema="true")
    assert rows(df) == [(1, "x"), (2, "y")]
    with sealio.open(tmp_path / "e.json", "w", keys=kr) as f:
        f.write('{"a": 1, "b": "x"}\n{"a": 2, "b": null}\n')
    js = read(spark, keys, tmp_path / "e.json")
    assert rows(js) == sorted([(1, "x"), (2, None)], key=repr)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_write_round_trip_overwrite_append(spark, ring, tmp_path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    kr, keys = ring
    out = tmp_path / "out"
    src = spark.createDataFrame(PEOPLE.to_pandas()).repartition(2)

    def write(df, mode: str) -> None:  # type: ignore[no-untyped-def]
        (df.write.format("sealio").option("format", fmt).option("keys", keys).option("masterKey", "k2")
         .option("header", "true").mode(mode).save(str(out)))

    write(src, "overwrite")
    files = sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith("_"))
    assert len(files) == 2 and not (out / "_sealio_staging").exists()
    for p in files:
        assert inspect(p)["master_key_id"] == "k2"
        assert is_sealed(p) and b"Developer" not in p.read_bytes()
    schema = "name string, age bigint, job string"
    back = spark.read.format("sealio").option("keys", keys).option("header", "true").schema(schema).load(str(out))
    assert rows(back) == rows(src)
    write(src.limit(1), "append")
    assert spark.read.format("sealio").option("keys", keys).option("header", "true").schema(schema) \
        .load(str(out)).count() == 7
    write(src.limit(2), "overwrite")  # old files are replaced on commit
    assert spark.read.format("sealio").option("keys", keys).option("header", "true").schema(schema) \
        .load(str(out)).count() == 2


def test_failed_write_publishes_nothing_and_keeps_old_files(spark, ring, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql.functions import udf

    kr, keys = ring
    out = tmp_path / "out"
    df = spark.range(100).selectExpr("id", "cast(id as string) as s")
    df.write.format("sealio").option("format", "parquet").option("keys", keys).mode("overwrite").save(str(out))
    before = sorted(p.name for p in out.iterdir())

    @udf("long")
    def boom(x):  # type: ignore[no-untyped-def]  (no hints: they would select a pandas UDF)
        if x == 77:
            raise ValueError("task failure")
        return x

    with pytest.raises(Exception, match="task failure"):
        (df.repartition(2).select(boom("id").alias("id"), "s").write.format("sealio").option("format", "parquet")
         .option("keys", keys).mode("overwrite").save(str(out)))
    assert sorted(p.name for p in out.iterdir()) == before  # staging removed, old data kept
    assert read(spark, keys, out).count() == 100


def test_filter_pushdown_prunes_and_stays_exact(spark, ring, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kr, keys = ring
    t = pa.table({"x": pa.array(range(10_000), pa.int64()), "s": [f"v{i % 7}" for i in range(10_000)],
                  "f": pa.array([float(i) for i in range(10_000)])})
    seal_parquet(kr, tmp_path / "t.parquet", t, row_group_size=1000)
    fresh = lambda: read(spark, keys, tmp_path / "t.parquet", pushFilters="true",  # noqa: E731
                         maxPartitionBytes="1")  # one partition per row group
    assert fresh().rdd.getNumPartitions() == 10
    q = fresh().filter("x >= 2500 and x < 3100 and s = 'v3'")
    assert q.rdd.getNumPartitions() == 2  # row groups 2 and 3 only: pruned at planning time
    assert sorted(r.x for r in q.collect()) == [i for i in range(2500, 3100) if i % 7 == 3]
    # Null semantics: NOT (s IN ...) and IS NULL, on a column with nulls.
    seal_parquet(kr, tmp_path / "n.parquet", PEOPLE)
    nf = lambda: read(spark, keys, tmp_path / "n.parquet", pushFilters="true")  # noqa: E731
    assert nf().filter("name not in ('ann', 'bob')").count() == 3
    assert nf().filter("name is null").count() == 1
    assert nf().filter("name like 'e%' or age < 20").count() == 2  # an OR stays with Spark
    assert nf().filter("not (age > 30)").count() == 3
    # Floating point stays with Spark (NaN semantics differ), result still right.
    assert fresh().filter("f > 9997.5").count() == 2
    # Pushdown disabled: the same option must not break reads.
    spark.conf.set("spark.sql.python.filterPushdown.enabled", "false")
    try:
        assert fresh().filter("x < 10").count() == 10
    finally:
        spark.conf.set("spark.sql.python.filterPushdown.enabled", "true")


def test_default_reader_is_safe_to_reuse(spark, ring, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Without pushFilters, one DataFrame answers many queries correctly
    (Spark caches the planned read of a relation, see pushdown_requested)."""
    kr, keys = ring
    seal_parquet(kr, tmp_path / "p.parquet", PEOPLE)
    df = read(spark, keys, tmp_path / "p.parquet")
    assert df.filter("job = 'Developer'").count() == 4
    assert df.count() == 6 and len(df.collect()) == 6


def test_wrong_key_and_plaintext_fail_closed(spark, ring, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kr, keys = ring
    pq.write_table(PEOPLE, tmp_path / "plain.parquet")
    with pytest.raises(Exception, match="NotSealedError"):
        read(spark, keys, tmp_path / "plain.parquet").collect()
    other = sealio.LocalKeyring.create(tmp_path / "other.json")
    other.generate("k1")
    seal_parquet(kr, tmp_path / "s" / "p.parquet", PEOPLE)
    with pytest.raises(Exception, match="IntegrityError|KeyNotFoundError"):
        read(spark, f"local://{tmp_path / 'other.json'}", tmp_path / "s", format="parquet").collect()
    # bindPath: a file moved to another name does not open.
    (tmp_path / "b").mkdir()
    with sealio.open(tmp_path / "b" / "one.csv", "w", keys=kr, aad="one.csv") as f:
        f.write("a\n1\n")
    assert read(spark, keys, tmp_path / "b", bindPath="true").count() == 2
    os.rename(tmp_path / "b" / "one.csv", tmp_path / "b" / "two.csv")
    with pytest.raises(Exception, match="IntegrityError"):
        read(spark, keys, tmp_path / "b", bindPath="true").collect()


def test_options_refuse_secrets_and_travel_without_keys(ring, monkeypatch: pytest.MonkeyPatch) -> None:
    _, keys = ring
    for bad in ({"passphrase": "x"}, {"spark.sealio.masterKeyBytes": "AAAA"}, {"key": "00" * 32},
                {"vault_token": "s.123"}):
        with pytest.raises(ConfigurationError, match="secret"):
            parse_options({"path": "/tmp/x", "keys": keys, **bad})
    with pytest.raises(ConfigurationError, match="configuration string"):
        parse_options({"path": "/tmp/x", "keys": "c2VjcmV0IGtleSBieXRlcw=="})
    monkeypatch.delenv("SEALIO_KEYRING", raising=False)
    with pytest.raises(ConfigurationError, match="'keys' is required"):
        parse_options({"path": "/tmp/x"})
    opts = parse_options({"path": "/tmp/x", "keyring": keys[len("local://"):]})
    assert opts.keys == keys
    blob = pickle.dumps(opts)
    kr = sealio.LocalKeyring(keys[len("local://"):])
    for name in kr.names():
        assert kr._keys[name][1] not in blob  # only the configuration string travels


def test_auto_registration_module() -> None:
    import pyspark_sealio

    from sealio.spark import SealedDataSource

    assert pyspark_sealio.DefaultSource is SealedDataSource and SealedDataSource.name() == "sealio"


def test_fsspec_urls_are_listed_through_the_shared_layer(ring) -> None:  # type: ignore[no-untyped-def]
    """Any fsspec URL is a base filesystem (here memory://, which lives in one
    process, so without Spark): listed and opened through EncryptedFileSystem."""
    fsspec = pytest.importorskip("fsspec")
    from sealio.arrow import EncryptedFileSystem
    from sealio.spark._storage import dataset_filesystem, list_data_files, locate

    _, keys = ring
    fs = EncryptedFileSystem(fsspec.filesystem("memory"), keys=keys)
    with fs.open_output_stream("/spark-ds/day=1/a.parquet") as f:
        pq.write_table(PEOPLE, f)
    with fs.open_output_stream("/spark-ds/_SUCCESS") as f:
        f.write(b"")
    opts = parse_options({"path": "memory://spark-ds", "keys": keys})
    where = locate(opts)
    sealed = dataset_filesystem(opts, where.root)
    assert list_data_files(sealed, where) == ["day=1/a.parquet"]
    with sealed.open_input_file("day=1/a.parquet") as f:
        assert pq.read_table(f).equals(PEOPLE)
