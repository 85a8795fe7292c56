"""Whole-file encrypt, decrypt and verify on several threads (the CLI's
paths): each thread takes chunks at their own offsets, so these check the
bytes against the independent reference (``sealref``), the chunk and
segment edges, a source that changes while it is read, and that the
failure reported is the lowest one, with nothing published."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import sealio
import sealref
from sealio.errors import InputChangedError, IntegrityError
from sealio.format import header as H
from sealio.io import chunks, reader, whole, writer
from sealio.io.atomic import AtomicFileSink

KMS = sealref.DeterministicKms()
SEG = 4096
CHUNK = 4 * SEG  # small chunks: many of them in a small file


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "WRITE_BATCH", CHUNK)
    monkeypatch.setattr(whole, "CHUNK_BYTES", CHUNK)


def _seal_file(src: Path, dst: Path, threads: int, progress: object = None) -> int:
    with open(src, "rb") as fin, sealio.open(dst, "xb", keys=KMS, master_key="m", segment_size=SEG,
                                             threads=threads) as w:
        return w.write_file(fin.fileno(), progress=progress)  # type: ignore[arg-type]


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


SIZES = [0, 1, SEG - 1, SEG, SEG + 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 7 * CHUNK + SEG + 5]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_write_file_matches_the_reference(tmp_path: Path, size: int, threads: int) -> None:
    data = os.urandom(size)
    src, dst = tmp_path / "plain", tmp_path / "out.sealed"
    src.write_bytes(data)
    assert _seal_file(src, dst, threads) == size
    sealed = dst.read_bytes()
    assert sealref.unseal(sealed, KMS) == data
    seg_count = max(1, -(-size // SEG))  # the final segment may be full
    assert len(sealed) == H.HEADER_SIZE + size + 16 * seg_count


def test_write_file_source_that_shrinks_publishes_nothing(tmp_path: Path) -> None:
    src, dst = tmp_path / "plain", tmp_path / "out.sealed"
    src.write_bytes(os.urandom(5 * CHUNK))

    def shrink(n: int) -> None:  # after the first chunk, someone truncates the source
        os.truncate(src, 10)

    with pytest.raises(InputChangedError, match="shrank"):
        _seal_file(src, dst, 1, shrink)
    assert not dst.exists() and _leftovers(tmp_path) == []


def test_write_file_source_that_grows_is_sealed_to_its_new_end(tmp_path: Path) -> None:
    src, dst = tmp_path / "plain", tmp_path / "out.sealed"
    first, more = os.urandom(3 * CHUNK), os.urandom(CHUNK + 7)
    src.write_bytes(first)
    grown = []

    def grow(n: int) -> None:
        if not grown:
            grown.append(n)
            with open(src, "ab") as f:
                f.write(more)

    assert _seal_file(src, dst, 1, grow) == len(first) + len(more)
    assert sealref.unseal(dst.read_bytes(), KMS) == first + more


def test_write_file_only_as_the_first_write(tmp_path: Path) -> None:
    src = tmp_path / "plain"
    src.write_bytes(b"abc")
    w = sealio.open(tmp_path / "out.sealed", "xb", keys=KMS, master_key="m")
    w.write(b"x")
    with open(src, "rb") as fin, pytest.raises(ValueError, match="first write"):
        w.write_file(fin.fileno())
    w.abort()


def test_write_file_to_a_file_object(tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK + 11)
    src = tmp_path / "plain"
    src.write_bytes(data)
    with open(tmp_path / "obj.sealed", "wb") as f:
        with open(src, "rb") as fin, sealio.open(f, "wb", keys=KMS, master_key="m", segment_size=SEG) as w:
            assert w.write_file(fin.fileno()) == len(data)
    assert sealref.unseal((tmp_path / "obj.sealed").read_bytes(), KMS) == data


def _sealed(tmp_path: Path, size: int) -> tuple[bytes, Path]:
    data = os.urandom(size)
    path = tmp_path / "in.sealed"
    with sealio.open(path, "wb", keys=KMS, master_key="m", segment_size=SEG) as w:
        w.write(data)
    return data, path


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_decrypt_file_round_trip(tmp_path: Path, size: int, threads: int) -> None:
    data, path = _sealed(tmp_path, size)
    out = tmp_path / "out"
    seen = []
    with sealio.open(path, "rb", keys=KMS) as r:
        n = whole.decrypt_file(r, AtomicFileSink(out, fsync=False, replace=False), threads=threads,
                               progress=seen.append)
    assert n == size and out.read_bytes() == data and sum(seen) == size
    with sealio.open(path, "rb", keys=KMS) as r:
        assert whole.verify_file(r, threads=threads) == size


def _flip(path: Path, segment: int) -> None:
    with open(path, "r+b") as f:
        f.seek(H.HEADER_SIZE + segment * (SEG + 16) + 5)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 1]))


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_the_lowest_bad_segment_is_reported_and_nothing_published(tmp_path: Path, threads: int) -> None:
    _, path = _sealed(tmp_path, 12 * CHUNK + 100)
    _flip(path, 9 * 4 + 2)  # chunk 9
    _flip(path, 5 * 4 + 1)  # chunk 5: the one a serial pass meets first
    out = tmp_path / "out"
    with sealio.open(path, "rb", keys=KMS) as r, pytest.raises(IntegrityError, match=r"segment 21\b"):
        whole.decrypt_file(r, AtomicFileSink(out, fsync=False, replace=False), threads=threads)
    assert not out.exists() and _leftovers(tmp_path) == []
    with sealio.open(path, "rb", keys=KMS) as r, pytest.raises(IntegrityError, match=r"segment 21\b"):
        whole.verify_file(r, threads=threads)


def test_run_chunks_runs_all_below_the_first_failure_and_raises_the_lowest() -> None:
    done: set[int] = set()
    lock = threading.Lock()

    def work(i: int) -> None:
        if i in (7, 3):
            raise RuntimeError(f"chunk {i}")
        with lock:
            done.add(i)

    for threads in (1, 2, 4):
        done.clear()
        with pytest.raises(RuntimeError, match="chunk 3"):
            chunks.run_chunks(50, work, threads)
        assert {0, 1, 2} <= done


def test_reader_parallel_reads_still_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader's large reads now go through run_chunks too."""
    monkeypatch.setattr(reader, "CHUNK_BYTES", SEG)
    monkeypatch.setattr(reader, "PARALLEL_MIN", 2 * SEG)
    data, path = _sealed(tmp_path, 40 * SEG + 3)
    with sealio.open(path, "rb", keys=KMS, threads=3) as r:
        assert r.read_at(SEG + 1, 30 * SEG) == data[SEG + 1:31 * SEG + 1]


def test_readinto_segments_decrypts_in_place_and_fails_closed(tmp_path: Path) -> None:
    data, path = _sealed(tmp_path, 10 * SEG + 7)  # segments 0..9 non-final, 10 final
    stride = SEG + 16
    with sealio.open(path, "rb", keys=KMS) as r:
        buf = bytearray(3 * stride + 5)
        assert r.readinto_segments(2, buf) == 3 * SEG and bytes(buf[:3 * SEG]) == data[2 * SEG:5 * SEG]
        assert r.readinto_segments(8, buf) == 2 * SEG  # only the non-final ones
        assert r.readinto_segments(10, buf) == 0 and r.readinto_segments(11, buf) == 0
        with pytest.raises(ValueError):
            r.readinto_segments(-1, buf)
    _flip(path, 4)
    with sealio.open(path, "rb", keys=KMS) as r:
        buf = bytearray(3 * stride)
        with pytest.raises(IntegrityError, match=r"segment 4\b"):
            r.readinto_segments(3, buf)
        assert not any(buf)  # no unauthenticated byte is left behind
        with pytest.raises(IntegrityError):  # the reader stays failed
            r.readinto_segments(0, buf)


def test_readinto_segments_of_a_file_truncated_while_open(tmp_path: Path) -> None:
    _, path = _sealed(tmp_path, 10 * SEG + 7)
    with sealio.open(path, "rb", keys=KMS) as r:
        os.truncate(path, H.HEADER_SIZE + 5 * (SEG + 16))
        with pytest.raises(IntegrityError, match="shorter"):
            r.readinto_segments(3, bytearray(4 * (SEG + 16)))


def test_thread_buffers_are_per_thread_and_wiped_at_the_end() -> None:
    seen: list[memoryview] = []
    with chunks.ThreadBuffers(16) as buffers:
        mine = buffers.get()
        mine[:] = b"p" * 16
        assert buffers.get().obj is mine.obj  # reused by the same thread
        t = threading.Thread(target=lambda: seen.append(buffers.get()))
        t.start()
        t.join()
        assert seen[0].obj is not mine.obj
        seen[0][:] = b"q" * 16
    assert bytes(mine) == bytes(16) and bytes(seen[0]) == bytes(16)
