"""Atomic publish of local files, public for the upper layers (the CLI, the
BigDL writers, Spark's markers). The mechanism is :mod:`sealio._fsutil`,
one layer lower because the local keyring publishes the same way.

:class:`AtomicFileSink` here adds write-behind: every
:data:`WRITEBACK_BYTES` written, it asks the kernel to start writing them
to disk (Linux ``sync_file_range(SYNC_FILE_RANGE_WRITE)``, which waits for
nothing), so the disk works while the caller encrypts or decrypts the next
batch and the fsync in :meth:`publish` finds little left. Durability is
unchanged: publish still fsyncs the file and the directory (a sink made
with ``fsync=False`` neither fsyncs nor starts writeback). Measured on
500 MB here (2 vCPU VM, ext4): ``sealio decrypt`` 0.92-1.16 s -> 0.30-0.56 s,
the final fsync 0.26 s -> 0.004 s; ``sealio encrypt`` about the same.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from sealio._fsutil import TMP_SUFFIX, fsync_dir, write_atomically
from sealio._fsutil import AtomicFileSink as _PlainSink

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["AtomicFileSink", "TMP_SUFFIX", "WRITEBACK_BYTES", "WriteBehind", "fsync_dir", "start_writeback",
           "write_atomically"]

# Start the disk on every 32 MiB written: 8 MiB made the sealed writer's
# 4 MiB batches wait on a busy queue (500 MB encrypt 0.6 -> 0.9 s here).
WRITEBACK_BYTES = 32 << 20
_SYNC_FILE_RANGE_WRITE = 2
_sync_file_range: Any = None  # the libc function, False where there is none


def start_writeback(fd: int, offset: int, length: int) -> bool:
    """Start (not wait for) writeback of ``[offset, offset+length)`` of
    ``fd``; False where the OS has no such call or refuses it (a pipe, a
    filesystem without it). Never raises: it only changes when bytes reach
    the disk, never whether they do."""
    global _sync_file_range
    if _sync_file_range is None:
        _sync_file_range = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                fn = ctypes.CDLL(None, use_errno=True).sync_file_range
                fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
                fn.restype = ctypes.c_int
                _sync_file_range = fn
            except (OSError, AttributeError, ImportError):
                pass
    if _sync_file_range is False:
        return False
    return int(_sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)) == 0


class AtomicFileSink(_PlainSink):
    """:class:`sealio._fsutil.AtomicFileSink` with write-behind (see the
    module docstring): same temporary file, fsync, rename and abort."""

    def __init__(self, path: str | os.PathLike[str], mode: int | None = None, *, fsync: bool = True,
                 replace: bool = True) -> None:
        super().__init__(path, mode, fsync=fsync, replace=replace)
        self._written = 0
        self._started = 0  # writeback was started for [0, _started)

    def write(self, view: memoryview) -> None:
        super().write(view)
        self._written += view.nbytes
        if self.fsync and self._written - self._started >= WRITEBACK_BYTES and self.fd is not None:
            start_writeback(self.fd, self._started, self._written - self._started)
            self._started = self._written

    def pwrite(self, view: memoryview, offset: int) -> None:
        """Write ``view`` at ``offset`` of the temporary file (the position
        :meth:`write` uses is not moved), starting writeback of each
        :data:`WRITEBACK_BYTES` boundary the range ends past. Safe from
        several threads at once on disjoint ranges."""
        fd = self.fd
        assert fd is not None
        end, pos = offset + view.nbytes, offset
        view = view.cast("B")
        while len(view):  # in slices of WriteBehind.BUFFER: larger writes can be slower (see there),
            # but a remainder rides with the slice before it: a chunk of segments and their tags
            # (1 MiB + 256 bytes) written as two calls cost 40 ms more per 500 MB on two threads
            take = len(view) if len(view) < 2 * WriteBehind.BUFFER else WriteBehind.BUFFER
            n = os.pwrite(fd, view[:take], pos)
            view, pos = view[n:], pos + n
        if self.fsync and end // WRITEBACK_BYTES > offset // WRITEBACK_BYTES:  # crossed a boundary
            block = (end // WRITEBACK_BYTES - 1) * WRITEBACK_BYTES
            start_writeback(fd, block, WRITEBACK_BYTES)


class WriteBehind:
    """Writes filled buffers to an :class:`AtomicFileSink` on the package's
    pool while the caller fills the next one (the ``sealio encrypt`` and
    ``decrypt`` loops: read, transform, write).

    Measured on 500 MB here (2 vCPUs, ext4 on a virtual disk), writing
    from the reading thread left one core idle for the ~0.2 s the kernel
    spends copying into the page cache; so did 4-8 MiB writes, which the
    kernel sometimes took 3-7x longer to absorb than 1 MiB ones (dd shows
    the same), hence :data:`BUFFER` and two buffers in flight.

    :meth:`buffer` hands out a buffer once its previous write is done;
    :meth:`commit` queues its first ``n`` bytes at the end of what was
    committed before (``pwrite`` at known offsets, so the pool may run two
    writes at once). A failed write is raised by the next :meth:`buffer`,
    :meth:`commit` or :meth:`drain`; after one, nothing more is written.
    Not thread-safe: one producer.
    """

    BUFFER = 1 << 20
    DEPTH = 2  # buffers in flight besides the one being filled

    def __init__(self, sink: AtomicFileSink, offset: int = 0, *, inline: bool = False) -> None:
        self._sink = sink
        self._offset = offset  # where the next commit lands
        self._inline = inline  # write in commit() itself: no pool (what SealedWriter.write_file leaves)
        self._pool: Any = None  # the package's pool, from the first commit that needs it
        self._free: list[bytearray] = []
        self._busy: deque[tuple[bytearray, Future[None]]] = deque()
        self._current: bytearray | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    @property
    def offset(self) -> int:
        return self._offset

    def buffer(self, size: int = BUFFER) -> memoryview:
        """A writable buffer of at least ``size`` bytes (its first ``size``
        are returned), free of any write in flight."""
        self._raise()
        if len(self._busy) >= self.DEPTH:
            buf, fut = self._busy.popleft()
            self._wait(fut)
            self._free.append(buf)
        fit = next((i for i, b in enumerate(self._free) if len(b) >= size), None)
        buf = bytearray(max(size, self.BUFFER)) if fit is None else self._free.pop(fit)
        self._current = buf
        return memoryview(buf)[:size]

    def commit(self, n: int) -> None:
        """Queue the first ``n`` bytes of the last :meth:`buffer` for writing."""
        buf, self._current = self._current, None
        assert buf is not None and 0 <= n <= len(buf)
        self._raise()
        if n == 0:
            self._free.append(buf)
            return
        if self._inline:
            try:
                self._write(memoryview(buf)[:n], self._offset)
            finally:
                self._free.append(buf)
            self._offset += n
            return
        if self._pool is None:
            from sealio.io.pool import executor  # the pool is started only by a writer that needs it

            self._pool = executor()
        fut = self._pool.submit(self._write, memoryview(buf)[:n], self._offset)
        self._offset += n
        self._busy.append((buf, fut))

    def drain(self) -> None:
        """Wait for every queued write; raise the first one that failed."""
        while self._busy:
            buf, fut = self._busy.popleft()
            self._wait(fut)
            self._free.append(buf)
        self._raise()

    def abandon(self) -> None:
        """Wait for the writes in flight (their errors ignored): the caller
        is about to abort the sink, which must not close the file under them."""
        while self._busy:
            buf, fut = self._busy.popleft()
            try:
                fut.result()
            except BaseException:  # noqa: BLE001 - the caller is already failing
                pass
            self._free.append(buf)

    def wipe(self) -> None:
        """Zero the buffers not in flight (they may have held plaintext)."""
        for buf in (*self._free, *([self._current] if self._current is not None else [])):
            buf[:] = bytes(len(buf))

    def _write(self, view: memoryview, offset: int) -> None:
        if self._error is not None:
            return  # an earlier write failed: the file is being abandoned
        try:
            self._sink.pwrite(view, offset)
        except BaseException as e:
            with self._lock:
                if self._error is None:
                    self._error = e
            raise

    def _wait(self, fut: Future[None]) -> None:
        try:
            fut.result()
        except BaseException:  # noqa: BLE001 - recorded by _write; raised below with the first one
            pass
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error
