"""The native (C++) path of EncryptedFileSystem: what is its own. The
contract every adapter shares runs on it in test_fs_contract.py
(arrow-native) and test_arrow_filesystem.py (native); exits in
test_clean_exit.py.

Here: files cross between the paths byte for byte; one Python call per
open and none per read (the Python reader is made unusable and reads
still work); reads at every segment edge and large parallel reads match;
a bad segment fails and stays failed; the path is chosen and logged as
documented; pickles and pyarrow's own wrapping keep the policy."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pyarrow.feather as feather
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

import sealio
from sealio.arrow import EncryptedFileSystem
from sealio.errors import ConfigurationError
from sealio.format import header as H
from sealio.fs import native
from sealio.io.reader import SealedReader
from sealio.kms import KmsRef

pytestmark = pytest.mark.skipif(native.unavailable_here() is not None,
                                reason=f"no native path: {native.unavailable_here()}")
SEG = 1 << H.DEFAULT_SEGMENT_LOG2


@pytest.fixture()
def uri(tmp_path: Path) -> str:
    ring = sealio.LocalKeyring.create(tmp_path / "keyring.json")
    ring.generate("main")
    KmsRef.forget()
    return f"local://{ring.path}"


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    (tmp_path / "d").mkdir()
    return tmp_path / "d"


def _fs(root: Path, uri: str, **kw: Any) -> pafs.FileSystem:
    return EncryptedFileSystem(pafs.SubTreeFileSystem(str(root), pafs.LocalFileSystem()), keys=uri, **kw)


def _write(fs: pafs.FileSystem, name: str, data: bytes) -> None:
    with fs.open_output_stream(name, compression=None) as f:
        f.write(data)


def _read(fs: pafs.FileSystem, name: str) -> bytes:
    with fs.open_input_file(name) as f:
        return f.read()


SIZES = (0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, (4 << 20) + 5 * SEG + 17, (9 << 20) + 3)


def test_files_cross_between_the_paths_and_sealio_open(root: Path, uri: str) -> None:
    nat, py = _fs(root, uri, native=True), _fs(root, uri, native=False)
    assert type(nat).__name__ == "NativeSealedFileSystem" and type(py) is pafs.PyFileSystem
    for n in SIZES:
        data = os.urandom(n)
        _write(nat, f"n{n}", data)
        _write(py, f"p{n}", data)
        assert (root / f"n{n}").stat().st_size == (root / f"p{n}").stat().st_size  # same layout
        assert _read(py, f"n{n}") == _read(nat, f"p{n}") == _read(nat, f"n{n}") == data
        with sealio.open(root / f"n{n}", "rb", keys=uri) as f:
            assert f.read() == data
    assert not [p for p in root.iterdir() if p.name.endswith(".sealio-tmp")]


def test_reads_at_every_edge_match(root: Path, uri: str) -> None:
    nat = _fs(root, uri, native=True)
    data = os.urandom(5 * SEG + 1234)
    _write(nat, "r", data)
    with nat.open_input_file("r") as f:
        assert f.size() == len(data)
        for edge in range(0, len(data) + SEG, SEG):
            for off in (edge - 17, edge - 1, edge, edge + 1):
                if off < 0:
                    continue
                for n in (0, 1, 16, SEG, 2 * SEG + 3, len(data)):
                    assert f.read_at(n, off) == data[off:off + n], (off, n)
        f.seek(SEG - 3)
        assert f.read(10) == data[SEG - 3:SEG + 7] and f.tell() == SEG + 7


def test_one_python_call_per_open_none_per_read(root: Path, uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opens go through NativeHooks.open_input, once each; the Python reader
    is broken for the duration, and Parquet (dataset and pq), CSV and
    Feather reads do not notice."""
    nat = _fs(root, uri, native=True)
    table = pa.table({"x": pa.array(range(300_000)), "s": [f"v{i}" for i in range(300_000)]})
    pq.write_table(table, "t.parquet", filesystem=nat, row_group_size=20_000)
    with nat.open_output_stream("t.csv") as f:
        pcsv.write_csv(table, f)
    with nat.open_output_stream("t.arrow") as f:
        feather.write_feather(table, f, compression="uncompressed")
    opens: list[str] = []
    real = native.NativeHooks.open_input

    def counting(self: Any, path: str, head: bytes, size: int) -> Any:
        opens.append(path)
        return real(self, path, head, size)

    def broken(*_: Any, **__: Any) -> Any:
        raise AssertionError("the Python reader was used")

    monkeypatch.setattr(native.NativeHooks, "open_input", counting)
    for name in ("readinto_at", "readinto", "read", "read_at"):
        monkeypatch.setattr(SealedReader, name, broken)
    got = ds.dataset("t.parquet", filesystem=nat).to_table()
    assert got.equals(table)
    assert opens and set(opens) == {"t.parquet"} and len(opens) <= 2  # inspection + scan
    assert pq.read_table("t.parquet", filesystem=nat, columns=["s"]).equals(table.select(["s"]))
    assert ds.dataset("t.csv", filesystem=nat, format="csv").to_table().equals(table)
    with nat.open_input_file("t.arrow") as f:
        assert feather.read_table(f, memory_map=False).equals(table)
    counts = {name: opens.count(name) for name in set(opens)}
    assert counts["t.arrow"] == 1 and counts["t.csv"] <= 2 and counts["t.parquet"] <= 4  # inspect + scan


def test_large_parallel_reads_and_a_bad_segment_fails_and_stays_failed(root: Path, uri: str) -> None:
    nat = _fs(root, uri, native=True, threads=2)
    data = os.urandom(12 << 20)
    _write(nat, "big", data)
    with nat.open_input_file("big") as f:
        assert f.read_at(len(data), 0) == data  # >= 1 MiB: decrypted on two threads
    raw = bytearray((root / "big").read_bytes())
    raw[H.HEADER_SIZE + 100 * (SEG + 16) + 5] ^= 1  # segment 100
    (root / "big").write_bytes(bytes(raw))
    with nat.open_input_file("big") as f:
        assert f.read_at(SEG, 0) == data[:SEG]
        with pytest.raises(sealio.IntegrityError, match="big: segment 100 failed authentication"):
            f.read_at(len(data), 0)
        with pytest.raises(sealio.IntegrityError, match="earlier read failed"):
            f.read_at(SEG, 0)  # sticky, as the Python reader


def test_a_file_cut_at_a_segment_boundary_says_truncated(root: Path, uri: str) -> None:
    nat = _fs(root, uri, native=True)
    _write(nat, "c", os.urandom(3 * SEG))
    raw = (root / "c").read_bytes()
    (root / "c").write_bytes(raw[:H.HEADER_SIZE + 2 * (SEG + 16)])
    with pytest.raises(sealio.IntegrityError, match="c: sealed file is truncated"):
        _read(nat, "c")


def test_an_abandoned_writer_publishes_nothing(root: Path, uri: str) -> None:
    nat = _fs(root, uri, native=True)
    out = nat.open_output_stream("gone")
    out.write(b"x" * 300_000)
    del out
    assert list(root.iterdir()) == []


def test_the_path_is_chosen_and_said_once(root: Path, uri: str, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    import fsspec

    native._said.clear()
    with caplog.at_level(logging.INFO, logger="sealio"):
        _fs(root, uri)
        _fs(root, uri)
        over_fsspec = EncryptedFileSystem(pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem("file"))),
                                          keys=uri)
    said = [r.getMessage() for r in caplog.records if r.name == "sealio"]
    assert said == ["sealio: EncryptedFileSystem reads natively (C++ sealed files, no Python call per read)",
                    "sealio: EncryptedFileSystem reads through pyarrow.fs.PyFileSystem (a Python call per read): "
                    "the base filesystem is a Python one (fsspec)"]
    assert type(over_fsspec) is pafs.PyFileSystem
    with pytest.raises(ConfigurationError, match="fsspec"):
        EncryptedFileSystem(pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem("file"))), keys=uri,
                            native=True)


def test_pickles_and_pyarrows_own_wrapping_keep_the_policy(root: Path, uri: str) -> None:
    nat = _fs(root, uri, native=True, bind_paths=True)
    table = pa.table({"a": [1, 2, 3]})
    ds.write_dataset(table, "ds", filesystem=nat, format="parquet")
    again = pickle.loads(pickle.dumps(nat))
    assert type(again).__name__ == "NativeSealedFileSystem" and again.equals(nat)
    dataset = ds.dataset("ds", filesystem=again, format="parquet")
    wrapped = dataset.filesystem  # pyarrow wraps the C++ filesystem back: a PyFileSystem with the handler
    assert isinstance(wrapped, pafs.PyFileSystem) and wrapped.handler == nat.handler
    assert dataset.to_table().equals(table)
    assert pickle.loads(pickle.dumps(dataset)).to_table().equals(table)


@pytest.mark.parametrize("how", ["mismatch", "off"])
def test_without_a_usable_module_the_python_path_is_taken_and_said(tmp_path: Path, uri: str, how: str) -> None:
    """A module built against another pyarrow (its recorded version made to
    differ) or SEALIO_ARROW_NATIVE=0: the Python path, with the reason."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""\
        import logging, sys
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
        import pyarrow  # first: the module links against pyarrow's libraries
        if {how == "mismatch"}:
            from sealio.fs import _native_arrow
            _native_arrow.PYARROW_VERSION = "1.0.0"
        import pyarrow.fs as pafs
        from sealio.arrow import EncryptedFileSystem
        fs = EncryptedFileSystem(pafs.LocalFileSystem(), keys={uri!r})
        print(type(fs).__name__)
        """)
    env = dict(os.environ, SEALIO_ARROW_NATIVE="0") if how == "off" else dict(os.environ)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    said, kind = out.stdout.strip().splitlines()
    assert kind == "PyFileSystem"
    assert said.startswith("sealio: EncryptedFileSystem reads through pyarrow.fs.PyFileSystem")
    assert ("built against pyarrow 1.0.0" if how == "mismatch" else "SEALIO_ARROW_NATIVE=0") in said


def test_a_read_over_many_chunks_and_threads_names_the_lowest_bad_segment(root: Path, uri: str) -> None:
    """Large reads go chunk by chunk on two threads: of several bad
    segments the read reports the lowest (as one serial pass would), every
    time, leaves the caller's memory wiped, and the file stays failed."""
    nat = _fs(root, uri, native=True, threads=2)
    data = os.urandom((12 << 20) + 777)
    _write(nat, "big", data)
    raw = bytearray((root / "big").read_bytes())
    for bad in (170, 77, 120, 95, 78):
        raw[H.HEADER_SIZE + bad * (SEG + 16) + 9] ^= 0x40
    (root / "big").write_bytes(bytes(raw))
    for _ in range(8):
        with nat.open_input_file("big") as f:
            with pytest.raises(sealio.IntegrityError, match="big: segment 77 failed authentication"):
                f.read_at(len(data), 0)
    with nat.open_input_file("big") as f:
        assert f.read_at(10 * SEG + 3, 5) == data[5:10 * SEG + 8]  # before the first bad segment
        off = 3 * SEG + 12345
        f.seek(off)
        buf = bytearray(b"\xaa" * (len(data) - off - 1000))
        with pytest.raises(sealio.IntegrityError, match="big: segment 77 failed authentication"):
            f.readinto(buf)
        assert buf == bytearray(len(buf))  # wiped, not left with plaintext
        with pytest.raises(sealio.IntegrityError, match="earlier read failed"):
            f.read_at(SEG, 0)


@pytest.mark.parametrize(("threads", "seg"), [(1, SEG), (2, SEG), (2, 4096), (2, 1 << 20)])
def test_reads_into_caller_memory_at_random_unaligned_ranges_match(root: Path, uri: str, threads: int,
                                                                   seg: int) -> None:
    """readinto (Read / ReadAt into the caller's memory) decrypts in place
    there, the cut first and last segments through a bounce; random ranges,
    small to several MiB (parallel), equal the plaintext and the Python
    reader's bytes, and nothing past the range is written. Segment sizes:
    many per chunk (4 KiB), the default, one per chunk (1 MiB)."""
    import random

    nat = _fs(root, uri, native=True, threads=threads, segment_size=seg)
    data = os.urandom((5 << 20) + 3 * seg + 4321)
    _write(nat, "r", data)
    rng = random.Random(14)
    with nat.open_input_file("r") as f, sealio.open(root / "r", "rb", keys=uri) as py:
        for i in range(120):
            off = rng.randrange(len(data))
            n = rng.choice((rng.randrange(1, 64), rng.randrange(1, 3 * seg), rng.randrange(1, 6 << 20)))
            want = data[off:off + n]
            buf = bytearray(b"\x55" * (n + 8))
            f.seek(off)
            got = f.readinto(memoryview(buf)[:n])
            assert got == len(want) and bytes(buf[:got]) == want, (off, n)
            assert buf[got:] == b"\x55" * (n + 8 - got)
            if i % 10 == 0:
                py.seek(off)
                assert py.read(n) == want
            assert f.read_at(n, off) == want



def test_a_long_native_write_starts_writeback_before_close(root: Path, uri: str) -> None:
    """Every 32 MiB the native writer asks the kernel to start writing the
    temporary file (as Python's AtomicFileSink does), so the fsync at close
    finds little left (a 245 MB Parquet write: 1.69x -> about the Python
    path's ratio to plaintext)."""
    from sealio.fs import _native_arrow

    fs = _fs(root, uri, native=True)
    chunk = os.urandom(1 << 20)
    before = _native_arrow.writebacks_started()
    with fs.open_output_stream("long.bin") as f:
        for _ in range(80):
            f.write(chunk)
        assert _native_arrow.writebacks_started() - before >= 2  # 80 MiB: at 32 and 64
    with fs.open_input_stream("long.bin") as f:
        assert f.read(1 << 20) == chunk
