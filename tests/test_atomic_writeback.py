"""sealio.io.atomic.AtomicFileSink's write-behind (issue 14): it starts
the kernel's writeback as it goes, and publishes exactly what the plain
sink does (same bytes, mode, fsync + rename, abort leaves nothing)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from sealio._fsutil import AtomicFileSink as PlainSink
from sealio.io import atomic


def _chunks(total: int, step: int) -> list[bytes]:
    return [bytes([i % 251]) * min(step, total - off) for i, off in enumerate(range(0, total, step))]


def test_publishes_what_was_written(tmp_path: Path) -> None:
    data = _chunks(3 * atomic.WRITEBACK_BYTES + 12345, 3 << 20)
    sink = atomic.AtomicFileSink(tmp_path / "out", mode=0o640)
    assert isinstance(sink, PlainSink)
    for c in data:
        sink.write(memoryview(c))
    sink.publish()
    assert (tmp_path / "out").read_bytes() == b"".join(data)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary file left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_writeback_is_started_every_few_mib(tmp_path: Path) -> None:
    sink = atomic.AtomicFileSink(tmp_path / "out")
    try:
        sink.write(memoryview(bytes(atomic.WRITEBACK_BYTES - 1)))
        assert sink._started == 0
        sink.write(memoryview(bytes(2)))
        assert sink._started == atomic.WRITEBACK_BYTES + 1
        assert sink.fd is not None
        assert atomic.start_writeback(sink.fd, 0, 1) is True
    finally:
        sink.abort()
    assert list(tmp_path.iterdir()) == []


def test_start_writeback_never_raises(tmp_path: Path) -> None:
    r, w = os.pipe()
    try:
        assert atomic.start_writeback(w, 0, 4096) is False  # ESPIPE: refused, not raised
    finally:
        os.close(r)
        os.close(w)
    assert atomic.start_writeback(-1, 0, 1) is False  # EBADF


def test_multibyte_views_count_bytes(tmp_path: Path) -> None:
    import numpy as np

    sink = atomic.AtomicFileSink(tmp_path / "out")
    words = np.arange(atomic.WRITEBACK_BYTES // 8 + 1, dtype=np.uint64)
    sink.write(memoryview(words).cast("B"))
    assert sink._written == words.nbytes
    sink.publish()
    assert (tmp_path / "out").read_bytes() == words.tobytes()


# --------------------------------------------------------- WriteBehind


def _fill(view: memoryview, seed: int) -> None:
    view[:] = bytes([(seed * 7 + i) % 256 for i in range(256)]) * (len(view) // 256) + \
        bytes(len(view) % 256)


def test_write_behind_lands_every_buffer_in_order(tmp_path: Path) -> None:
    """Many buffers of odd sizes, two writes in flight on the pool: the
    file is exactly their concatenation after the header-sized offset."""
    sink = atomic.AtomicFileSink(tmp_path / "out")
    sink.write(memoryview(b"H" * 1024))
    wb = atomic.WriteBehind(sink, offset=1024)
    expected = [b"H" * 1024]
    for i, size in enumerate([1, 4096, atomic.WriteBehind.BUFFER, 3 * atomic.WriteBehind.BUFFER + 5, 77] * 4):
        buf = wb.buffer(size)
        _fill(buf, i)
        expected.append(bytes(buf))
        wb.commit(size)
    wb.drain()
    assert wb.offset == sum(map(len, expected))
    sink.publish()
    assert (tmp_path / "out").read_bytes() == b"".join(expected)


def test_write_behind_raises_a_failed_write_and_abandon_leaves_nothing(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails on the pool (here ENOSPC on the third one) is
    raised by the producer's next call; abandon + abort leave no file."""
    import errno

    sink = atomic.AtomicFileSink(tmp_path / "out")
    real, calls = sink.pwrite, []

    def pwrite(view: memoryview, offset: int) -> None:
        calls.append(offset)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(view, offset)

    monkeypatch.setattr(sink, "pwrite", pwrite)
    wb = atomic.WriteBehind(sink)
    with pytest.raises(OSError) as err:
        for i in range(50):
            buf = wb.buffer(1000)
            _fill(buf, i)
            wb.commit(1000)
        wb.drain()
    assert err.value.errno == errno.ENOSPC
    assert len(calls) < 50  # nothing more was written after the failure was seen
    wb.abandon()
    sink.abort()
    assert list(tmp_path.iterdir()) == []


def test_write_behind_wipe_zeroes_its_buffers(tmp_path: Path) -> None:
    sink = atomic.AtomicFileSink(tmp_path / "out")
    wb = atomic.WriteBehind(sink)
    for i in range(4):
        buf = wb.buffer(5000)
        buf[:] = b"\xaa" * 5000
        wb.commit(5000)
    last = wb.buffer(10)  # filled, never committed (a failure mid-loop)
    last[:] = b"\xbb" * 10
    wb.drain()
    wb.wipe()
    kept = [*wb._free, *([wb._current] if wb._current is not None else [])]
    assert kept and all(not any(b) for b in kept)
    sink.abort()


def test_fsync_false_neither_syncs_nor_starts_writeback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    started: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    monkeypatch.setattr(atomic, "start_writeback", lambda fd, off, n: started.append((off, n)) or True)
    data = bytes(range(256)) * (atomic.WRITEBACK_BYTES // 256 + 1)
    sink = atomic.AtomicFileSink(tmp_path / "quick", fsync=False)
    sink.write(memoryview(data))
    sink.pwrite(memoryview(data), len(data))
    sink.publish()
    assert (tmp_path / "quick").read_bytes() == data + data
    assert synced == [] and started == []
    sink = atomic.AtomicFileSink(tmp_path / "durable")
    sink.write(memoryview(data))
    sink.pwrite(memoryview(data), len(data))
    sink.publish()
    assert len(synced) == 2  # the file and its directory
    assert started and all(off % atomic.WRITEBACK_BYTES == 0 for off, _ in started)


# ------------------------------------------------------ replace=False


def test_no_replace_refuses_a_file_that_appeared_meanwhile(tmp_path: Path) -> None:
    target = tmp_path / "out"
    sink = atomic.AtomicFileSink(target, replace=False)
    sink.write(memoryview(b"new content"))
    target.write_bytes(b"theirs")  # appeared while ours was being written
    with pytest.raises(FileExistsError, match="appeared while it was being written"):
        sink.publish()
    sink.abort()
    assert target.read_bytes() == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_no_replace_refuses_a_planted_dangling_symlink(tmp_path: Path) -> None:
    target = tmp_path / "out"
    sink = atomic.AtomicFileSink(target, replace=False)
    sink.write(memoryview(b"new content"))
    os.symlink(tmp_path / "elsewhere", target)
    with pytest.raises(FileExistsError):
        sink.publish()
    sink.abort()
    assert os.readlink(target) == str(tmp_path / "elsewhere") and not (tmp_path / "elsewhere").exists()


def test_no_replace_publishes_a_new_name_with_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "out"
    sink = atomic.AtomicFileSink(target, mode=0o640, replace=False)
    sink.write(memoryview(b"x" * 5000))
    sink.publish()
    assert target.read_bytes() == b"x" * 5000 and target.stat().st_mode & 0o777 == 0o640
    assert target.stat().st_nlink == 1  # the temporary name is gone
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
