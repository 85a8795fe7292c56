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
