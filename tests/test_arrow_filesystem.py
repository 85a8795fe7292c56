"""EncryptedFileSystem: pyarrow datasets of every format over sealed files,
on local disk and on a non-local (fsspec) base, and how many segments a read
decrypts. What every adapter shares (sizes, fail-closed reads, pickling, path
binding, copies and moves) is in test_fs_contract.py."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any, Iterator

import fsspec
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.feather as feather
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

import sealio
from sealio.arrow import EncryptedFileSystem
from sealio.format import header as H
from sealio.fs.native import unavailable_here
from sealio.kms import KmsRef

N = 20_000


def _table(n: int = N) -> pa.Table:
    return pa.table({
        "id": pa.array(range(n), pa.int64()),
        "x": pa.array([i * 0.5 for i in range(n)], pa.float64()),
        "s": pa.array([f"name-{i:015d}" for i in range(n)]),
        "g": pa.array([i % 3 for i in range(n)], pa.int64()),
    })


@pytest.fixture()
def uri(tmp_path: Path) -> str:
    ring = sealio.LocalKeyring.create(tmp_path / "keyring.json")
    ring.generate("main")
    ring.generate("other", make_default=False)
    KmsRef.forget()
    return f"local://{ring.path}"


NATIVE = pytest.mark.skipif(unavailable_here() is not None, reason=f"no native path: {unavailable_here()}")
_mode: dict[str, bool | None] = {"native": None}


def efs(base: pafs.FileSystem, **kw: Any) -> pafs.FileSystem:
    """EncryptedFileSystem on the path the ``base`` fixture chose."""
    return EncryptedFileSystem(base, native=_mode["native"], **kw)


def decrypted(fs: pafs.FileSystem) -> int:
    """Segments the filesystem's readers decrypted (either path)."""
    if isinstance(fs, pafs.PyFileSystem) and hasattr(fs, "segments_decrypted"):
        return fs.segments_decrypted  # native: counted in C++
    return fs.handler.segments_decrypted


@pytest.fixture(params=["local", pytest.param("native", marks=NATIVE), "fsspec"])
def base(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[pafs.FileSystem]:
    """Local disk through Python's path (fd-based reads, atomic rename) and
    the native one (C++ files), and the same disk through fsspec, which the
    filesystem treats as remote (reads and writes through the base's own
    streams; Python's path)."""
    _mode["native"] = {"local": False, "native": True, "fsspec": None}[request.param]
    yield _base(request.param, tmp_path)
    _mode["native"] = None


def _base(kind: str, tmp_path: Path) -> pafs.FileSystem:
    if kind in ("local", "native"):
        root = tmp_path / "data"
        root.mkdir()
        return pafs.SubTreeFileSystem(str(root), pafs.LocalFileSystem())
    root = tmp_path / "fsspec"
    root.mkdir()
    return pafs.SubTreeFileSystem(str(root), pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem("file"))))


def _raw(base: pafs.FileSystem, path: str) -> bytes:
    with base.open_input_stream(path, compression=None) as f:
        return f.read()


@pytest.mark.parametrize("fmt", ["parquet", "ipc", "feather", "csv"])
def test_dataset_round_trip_every_format(base: pafs.FileSystem, uri: str, fmt: str) -> None:
    fs = efs(base, keys=uri)
    table = _table()
    ds.write_dataset(table, "ds", filesystem=fs, format=fmt, partitioning=["g"],
                     partitioning_flavor="hive")
    files = [i for i in base.get_file_info(pafs.FileSelector("ds", recursive=True)) if i.is_file]
    assert len(files) == 3
    for info in files:
        raw = _raw(base, info.path)
        assert raw.startswith(H.MAGIC)  # sealed at rest
        assert b"name-000000000000004" not in raw
    got = ds.dataset("ds", filesystem=fs, format=fmt, partitioning="hive").to_table()
    assert got.sort_by("id").select(["id", "x", "s"]).equals(table.select(["id", "x", "s"]))
    some = ds.dataset("ds", filesystem=fs, format=fmt, partitioning="hive")
    assert some.to_table(filter=ds.field("g") == 1).num_rows == len(range(1, N, 3))


def test_orc(base: pafs.FileSystem, uri: str) -> None:
    from pyarrow import orc

    fs = efs(base, keys=uri)
    table = _table().select(["id", "x", "s"])
    with fs.open_output_stream("t.orc") as f:  # dataset writing of ORC is not in pyarrow
        orc.write_table(table, f)
    assert _raw(base, "t.orc").startswith(H.MAGIC)
    assert ds.dataset("t.orc", filesystem=fs, format="orc").to_table().equals(table)


def test_json_and_compressed_csv_are_detected_by_name(base: pafs.FileSystem, uri: str) -> None:
    fs = efs(base, keys=uri)
    with fs.open_output_stream("t.csv.gz", compression=None) as f:  # gzip bytes, sealed
        f.write(gzip.compress(b"a,b\n1,x\n2,y\n"))
    with fs.open_output_stream("t.jsonl") as f:
        f.write(b'{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n')
    expect = pa.table({"a": [1, 2], "b": ["x", "y"]})
    assert ds.dataset("t.csv.gz", filesystem=fs, format="csv").to_table().equals(expect)
    assert ds.dataset("t.jsonl", filesystem=fs, format="json").to_table().equals(expect)
    assert _raw(base, "t.csv.gz").startswith(H.MAGIC)


def test_listing_decrypts_nothing(base: pafs.FileSystem, uri: str) -> None:
    """Sizes are plaintext sizes (test_fs_contract.py), computed without
    decrypting: the handler counts every segment its readers decrypt."""
    fs = efs(base, keys=uri)
    for n in (0, 1, 65535, 65536, 65537, 200_000):
        with fs.open_output_stream(f"f{n}.bin", compression=None) as f:
            f.write(b"z" * n)
    listed = {i.path: i.size for i in fs.get_file_info(pafs.FileSelector("", recursive=True))}
    assert listed == {f"f{n}.bin": n for n in (0, 1, 65535, 65536, 65537, 200_000)}
    assert decrypted(fs) == 0
    with fs.open_input_file("f200000.bin") as f:
        assert f.size() == 200_000
        assert f.read_at(10, 199_995) == b"z" * 5


def test_random_access_and_pq_read_table(base: pafs.FileSystem, uri: str) -> None:
    fs = efs(base, keys=uri)
    table = _table()
    pq.write_table(table, "t.parquet", filesystem=fs, row_group_size=4096)
    assert pq.read_table("t.parquet", filesystem=fs).equals(table)
    assert pq.read_table("t.parquet", filesystem=fs, columns=["s"]).equals(table.select(["s"]))
    with fs.open_output_stream("t.arrow") as out:
        feather.write_feather(table, out)
    with fs.open_input_file("t.arrow") as f:
        assert feather.read_table(f).equals(table)


@pytest.mark.parametrize("native", [False, pytest.param(True, marks=NATIVE)])
def test_one_column_read_decrypts_only_its_segments(tmp_path: Path, uri: str, native: bool) -> None:
    """Footer + the column chunk's segments + at most one segment at each edge."""
    root = tmp_path / "d"
    root.mkdir()
    fs = EncryptedFileSystem(pafs.SubTreeFileSystem(str(root), pafs.LocalFileSystem()), keys=uri, native=native)
    table = _table(400_000)
    pq.write_table(table, "big.parquet", filesystem=fs, compression="none", row_group_size=1 << 30)
    seg = 1 << H.DEFAULT_SEGMENT_LOG2
    with fs.open_input_file("big.parquet") as f:
        meta = pq.ParquetFile(f).metadata
        size = f.size()
    col = meta.row_group(0).column(1)  # "x": 3.2 MB in the middle of the file
    start = col.dictionary_page_offset or col.data_page_offset
    end = start + col.total_compressed_size
    footer_start = size - meta.serialized_size - 8
    column_segments = (end - 1) // seg - start // seg + 1
    footer_segments = (size - 1) // seg - footer_start // seg + 1
    allowed = column_segments + footer_segments + 2
    before = decrypted(fs)
    got = pq.read_table("big.parquet", filesystem=fs, columns=["x"])
    assert got.column("x").equals(table.column("x"))
    used = decrypted(fs) - before
    total = -(-size // seg)
    assert used <= allowed, (used, allowed, total)
    assert used < total // 3


def test_plaintext_dataset_fails_closed_naming_it(base: pafs.FileSystem, uri: str) -> None:
    fs = efs(base, keys=uri)
    with base.open_output_stream("plain.csv") as f:
        f.write(b"a\n1\n")
    with pytest.raises(sealio.NotSealedError, match="plain.csv"):
        ds.dataset("plain.csv", filesystem=fs, format="csv").to_table()
    migrating = efs(base, keys=uri, passthrough=True)
    assert ds.dataset("plain.csv", filesystem=migrating, format="csv").to_table().num_rows == 1


@pytest.mark.parametrize("native", [False, pytest.param(True, marks=NATIVE)])
def test_streamed_blocks_with_prefetch(tmp_path: Path, uri: str, native: bool) -> None:
    """Sequential 1 MiB reads (how CSV is read) are served by prefetched,
    decrypted-in-place blocks; a tampered block still fails when reached."""
    import os

    root = tmp_path / "d"
    root.mkdir()
    fs = EncryptedFileSystem(pafs.SubTreeFileSystem(str(root), pafs.LocalFileSystem()), keys=uri, native=native)
    data = os.urandom((5 << 20) + 12345)
    with fs.open_output_stream("blob", compression=None) as f:
        f.write(data)
    with fs.open_input_stream("blob", compression=None) as f:
        got = [f.read(1 << 20) for _ in range(7)]
    assert b"".join(got) == data and len(got[-1]) == 0
    raw = bytearray((root / "blob").read_bytes())
    raw[H.HEADER_SIZE + (3 << 20) + 77] ^= 1  # inside the fourth MiB
    (root / "blob").write_bytes(bytes(raw))
    with fs.open_input_stream("blob", compression=None) as f:
        assert f.read(1 << 20) == data[:1 << 20]
        assert f.read(1 << 20) == data[1 << 20:2 << 20]
        with pytest.raises(sealio.IntegrityError):
            for _ in range(3):
                f.read(1 << 20)
