"""The ``sealio`` Spark data source (local[2]) on a real S3 server
(SeaweedFS on 127.0.0.1): it lists and reads sealed CSV and Parquet from
``s3://`` paths, hive partitions included, and writes there with its commit
protocol, through the same filesystem layer as pyarrow and fsspec users."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyspark", minversion="4.0")

import sealio  # noqa: E402
from sealio.arrow import EncryptedFileSystem  # noqa: E402
from sealio.errors import ConfigurationError  # noqa: E402
from sealio.format.header import MAGIC  # noqa: E402
from sealio.spark._options import parse_options  # noqa: E402

pytestmark = pytest.mark.slow

PEOPLE = pa.table({"name": ["ann", "bob", "cyd", "dan", "eve", "fay"],
                   "age": pa.array([19, 25, 40, 33, 41, 20], pa.int64()),
                   "job": ["Developer", "Engineer", "Developer", "Developer", "Developer", "Researcher"]})


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> str:
    ring = sealio.LocalKeyring.create(tmp_path_factory.mktemp("keys") / "keyring.json")
    ring.generate("main")
    return f"local://{ring.path}"


@pytest.fixture()
def workers_env(spark: Any, s3: Any) -> Iterator[None]:
    """S3 credentials reach the Python workers through their environment
    only (as ``spark.executorEnv.*`` does on a cluster): the data source is
    registered again so its workers start with it."""
    from sealio.spark import register

    env = spark.sparkContext.environment
    creds = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
    saved = {k: env.get(k) for k in creds}
    env.update(creds)
    register(spark)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        register(spark)


def _reader(spark: Any, s3: Any, keys: str) -> Any:
    return (spark.read.format("sealio").option("keys", keys)
            .option("s3.endpoint", s3.endpoint).option("s3.region", s3.region))


def test_lists_and_reads_sealed_csv_and_parquet_from_s3(spark, s3, bucket, keys, workers_env) -> None:  # type: ignore[no-untyped-def]
    fs = EncryptedFileSystem(s3.pyarrow_fs(), keys=keys)
    with fs.open_output_stream(f"{bucket}/csv/people.csv") as f:
        f.write(b"name,age,job\n" + b"".join(f"{n},{a},{j}\n".encode() for n, a, j in
                                                zip(*(PEOPLE.column(c).to_pylist() for c in PEOPLE.column_names))))
    ds.write_dataset(PEOPLE, f"{bucket}/pq", filesystem=fs, format="parquet", partitioning=["job"],
                     partitioning_flavor="hive")
    for info in s3.pyarrow_fs().get_file_info(pafs.FileSelector(bucket, recursive=True)):
        if info.is_file:
            with s3.pyarrow_fs().open_input_file(info.path) as raw:
                blob = raw.read()
            assert blob.startswith(MAGIC) and b"Developer" not in blob  # sealed at rest

    csv = _reader(spark, s3, keys).option("header", "true").option("inferSchema", "true") \
        .load(f"s3://{bucket}/csv")
    assert csv.schema.simpleString() == "struct<name:string,age:bigint,job:string>"
    assert csv.filter("job = 'Developer' and age between 20 and 40").count() == 2

    parquet = _reader(spark, s3, keys).load(f"s3://{bucket}/pq")  # format from the extension
    assert sorted(parquet.columns) == ["age", "job", "name"]  # job: a hive partition column
    assert parquet.rdd.getNumPartitions() == 3  # one file per job
    got = sorted((r.name, r.age, r.job) for r in parquet.collect())
    assert got == sorted(zip(*(PEOPLE.column(c).to_pylist() for c in ("name", "age", "job"))))


def test_writes_to_s3_with_the_commit_protocol(spark, s3, bucket, keys, workers_env) -> None:  # type: ignore[no-untyped-def]
    src = spark.createDataFrame(PEOPLE.to_pandas()).repartition(2)
    out = f"s3://{bucket}/out"
    for mode in ("overwrite", "append", "overwrite"):
        (src.write.format("sealio").option("format", "parquet").option("keys", keys).option("masterKey", "main")
         .option("s3.endpoint", s3.endpoint).option("s3.region", s3.region).mode(mode).save(out))
    base = s3.pyarrow_fs()
    names = sorted(i.base_name for i in base.get_file_info(pafs.FileSelector(f"{bucket}/out")) if i.is_file)
    assert "_SUCCESS" in names and len([n for n in names if n.endswith(".parquet")]) == 2
    fs = EncryptedFileSystem(base, keys=keys)
    table = ds.dataset(f"{bucket}/out", filesystem=fs, format="parquet").to_table()
    assert table.num_rows == 6 and sorted(table.column("name").to_pylist()) == sorted(PEOPLE["name"].to_pylist())
    assert _reader(spark, s3, keys).load(out).count() == 6
    with fs.open_input_file(f"{bucket}/out/{[n for n in names if n.endswith('.parquet')][0]}") as f:
        assert pq.read_metadata(f).num_rows > 0


def test_s3_options_are_checked() -> None:
    opts = parse_options({"path": "s3://b/x/", "keys": "local:///k.json", "s3.endpoint": "http://h:9000"})
    assert opts.path == "s3://b/x" and opts.storage == (("s3.endpoint", "http://h:9000"),)
    with pytest.raises(ConfigurationError, match="unknown option"):
        parse_options({"path": "s3://b/x", "keys": "local:///k.json", "s3.proxy": "x"})
    with pytest.raises(ConfigurationError, match="looks like a secret"):
        parse_options({"path": "s3://b/x", "keys": "local:///k.json", "s3.secretKey": "x"})
    with pytest.raises(ConfigurationError, match="credentials"):
        parse_options({"path": "s3://AKIA:pw@b/x", "keys": "local:///k.json"})
