"""Encrypted datasets on a real S3 server (SeaweedFS on 127.0.0.1), through
``pyarrow.fs.S3FileSystem`` and through s3fs (``sealio::s3://...``),
including ranged reads that decrypt only the segments they touch. The
filesystem contract on S3 (sizes, fail-closed reads, pickling, copies and
moves, unclosed writers) runs in test_fs_contract.py."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

import sealio
from sealio.arrow import EncryptedFileSystem
from sealio.format import header as H
from sealio.fsspec_fs import SealioFileSystem
from sealio.kms import KmsRef
from servers import seaweed

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    ring = sealio.LocalKeyring.create(tmp_path_factory.mktemp("keys") / "keyring.json")
    ring.generate("main")
    KmsRef.forget()
    return f"local://{ring.path}"


def _table(n: int = 30_000) -> pa.Table:
    return pa.table({"id": pa.array(range(n), pa.int64()), "g": [i % 4 for i in range(n)],
                     "s": [f"value-{i:014d}" for i in range(n)]})


def test_pyarrow_s3_dataset_round_trip(s3: seaweed.SeaweedS3, bucket: str, uri: str) -> None:
    base = s3.pyarrow_fs()
    fs = EncryptedFileSystem(base, keys=uri)
    table = _table()
    for fmt in ("parquet", "csv"):
        ds.write_dataset(table, f"{bucket}/{fmt}", filesystem=fs, format=fmt, partitioning=["g"],
                         partitioning_flavor="hive")
        got = ds.dataset(f"{bucket}/{fmt}", filesystem=fs, format=fmt, partitioning="hive").to_table()
        assert got.sort_by("id").select(["id", "s"]).equals(table.select(["id", "s"]))
    objects = [i for i in base.get_file_info(pafs.FileSelector(bucket, recursive=True)) if i.is_file]
    assert len(objects) == 8
    for info in objects:
        with base.open_input_file(info.path) as f:
            raw = f.read()
        assert raw.startswith(H.MAGIC) and b"value-0000" not in raw


def test_ranged_reads_decrypt_only_touched_segments(s3: seaweed.SeaweedS3, bucket: str, uri: str) -> None:
    fs = EncryptedFileSystem(s3.pyarrow_fs(), keys=uri)
    data = bytes(range(256)) * 8192  # 2 MiB: 32 segments
    with fs.open_output_stream(f"{bucket}/blob.bin") as f:
        f.write(data)
    before = fs.handler.segments_decrypted
    with fs.open_input_file(f"{bucket}/blob.bin") as f:
        assert f.size() == len(data)
        assert f.read_at(100, 1_000_000) == data[1_000_000:1_000_100]
        assert f.read_at(70_000, 65_000) == data[65_000:135_000]
    # final segment at open, one for the first read, three for the second
    assert fs.handler.segments_decrypted - before <= 1 + 1 + 3


def test_s3fs_protocol_chaining(s3: seaweed.SeaweedS3, bucket: str, uri: str) -> None:
    pd = pytest.importorskip("pandas")
    opts = {"sealio": {"keys": uri}, "s3": {**s3.s3fs_options(), "skip_instance_cache": True}}
    df = pd.DataFrame({"id": range(500), "name": [f"n{i}" for i in range(500)]})
    url = f"sealio::s3://{bucket}/pandas/t.parquet"
    # pandas < 3 does not take chained URLs ("::"); the one-protocol form
    # with target_protocol works with every pandas.
    flat = {"target_protocol": "s3", "target_options": opts["s3"], "keys": uri}
    df.to_parquet(f"sealio://{bucket}/pandas/t.parquet", storage_options=flat)
    df.to_csv(f"sealio://{bucket}/pandas/t.csv", index=False, storage_options=flat)
    raw = s3.s3fs()
    assert raw.cat(f"{bucket}/pandas/t.parquet")[:8] == H.MAGIC
    pd.testing.assert_frame_equal(pd.read_parquet(f"sealio://{bucket}/pandas/t.parquet", storage_options=flat),
                                  df, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_csv(f"sealio://{bucket}/pandas/t.csv", storage_options=flat), df,
                                  check_dtype=False)
    fs, path = fsspec.core.url_to_fs(url, **opts)
    assert isinstance(fs, SealioFileSystem)
    assert fs.info(path)["size"] == H.layout(raw.info(path)["size"], 1 << H.DEFAULT_SEGMENT_LOG2)[0]
    with fs.open(path, "rb") as f:  # ranged: seek into the middle
        f.seek(fs.info(path)["size"] - 4)
        assert f.read() == b"PAR1"


def test_s3fs_as_pyarrow_base(s3: seaweed.SeaweedS3, bucket: str, uri: str, tmp_path: Path) -> None:
    """An fsspec filesystem as the base of the pyarrow filesystem."""
    fs = EncryptedFileSystem(s3.s3fs(), keys=uri)
    table = _table(5000)
    pq.write_table(table, f"{bucket}/via-s3fs.parquet", filesystem=fs)
    assert pq.read_table(f"{bucket}/via-s3fs.parquet", filesystem=fs, columns=["s"]).equals(table.select(["s"]))


def test_many_partitions_with_few_io_threads(s3: seaweed.SeaweedS3, bucket: str, uri: str) -> None:
    """Streams are closed inside Arrow's I/O threads: with S3 background
    writes that could wait forever for uploads queued behind them."""
    saved = pa.io_thread_count()
    pa.set_io_thread_count(2)
    try:
        fs = EncryptedFileSystem(s3.pyarrow_fs(), keys=uri)
        table = pa.table({"k": [i % 12 for i in range(1200)], "v": list(range(1200))})
        ds.write_dataset(table, f"{bucket}/many", filesystem=fs, format="parquet", partitioning=["k"])
        assert ds.dataset(f"{bucket}/many", filesystem=fs, format="parquet").count_rows() == 1200
    finally:
        pa.set_io_thread_count(saved)
