"""The streaming writer of a sealed file.

It buffers at most one batch of plaintext, seals it in one C call and,
for local paths, publishes atomically (:class:`sealio.io.atomic.AtomicFileSink`:
temporary file in the destination directory, fsync, rename).
"""

from __future__ import annotations

import errno
import io
import os
import threading
from collections.abc import Callable
from typing import Any

from sealio.errors import InputChangedError
from sealio.format import header as H
from sealio.hazmat import AesGcm, segments
from sealio.io.args import aad_bytes, flat_view
from sealio.io.atomic import AtomicFileSink, WriteBehind
from sealio.io.chunks import ThreadBuffers, run_chunks, serialised
from sealio.io.pool import on_pool_thread, threads_arg
from sealio.keys import key_manager

__all__ = ["SealedWriter", "WRITE_BATCH"]

WRITE_BATCH = 1 << 20  # plaintext sealed per C call by the writer, per sealing thread to a local file


class _FileObjSink:
    """A caller's binary file object: written, flushed, never closed."""

    def __init__(self, f: Any) -> None:
        self.f = f

    def write(self, view: memoryview) -> None:
        while len(view):
            n = self.f.write(view)
            if n is None:  # non-blocking raw file with nothing written
                raise BlockingIOError("sink would block")
            view = view[n:]

    def publish(self) -> None:
        self.f.flush()

    def abort(self) -> None:
        pass


class SealedWriter(io.RawIOBase):
    """Streaming writer of a sealed file (``sealio.open(..., "wb")``).

    Memory is constant (one batch of plaintext and its ciphertext).
    :meth:`close` seals the final segment and publishes the file; leaving a
    ``with`` block by an exception, :meth:`abort`, or garbage collection of
    an unclosed writer publish nothing.

    Safe to share between threads: ``write``, ``close`` and ``abort`` are
    serialised by one lock, so each ``write`` lands whole (writes of
    different threads are not interleaved) and a segment index, hence a
    STREAM nonce, is never used twice (docs/FORMAT.md, "Nonce uniqueness").
    """

    def __init__(self, file: Any, keys: Any, *, master_key: str | None = None,
                 aad: bytes | str | None = None, segment_size: int | None = None,
                 threads: int | None = None, fsync: bool = True, replace: bool = True) -> None:
        super().__init__()
        self._wlock = threading.RLock()  # first: abort() and __del__ take it
        self.name = str(getattr(file, "name", "<file object>"))
        self._written = 0
        nthreads = threads_arg(threads)  # before any key, buffer or file exists
        if segment_size is not None and (isinstance(segment_size, bool) or not isinstance(segment_size, int)):
            raise TypeError(f"segment_size must be an int, not {type(segment_size).__name__}")
        mgr = key_manager(keys)
        master = master_key if master_key is not None else mgr.default_master_key
        if master is None:
            raise ValueError("writing needs master_key= (or a keyring with a default master key)")
        log2 = H.DEFAULT_SEGMENT_LOG2 if segment_size is None else H.segment_size_log2(segment_size)
        header, k_seg = mgr.seal_header(master, log2, aad_bytes(aad))
        self.header = header
        self._seg = header.segment_size
        self._gcm = AesGcm(k_seg)
        self._prefix = header.nonce_prefix
        self._threads = nthreads
        self._nthreads = nthreads  # write_file seals on all of them (each writes its own chunks)
        self._cap = max(1, WRITE_BATCH // self._seg) * self._seg
        self._buf = bytearray()  # grows to at most _cap: small files stay small
        self._fill = 0
        self._out = bytearray()
        self._index = 0
        self._written = 0
        self._behind: WriteBehind | None = None  # a local file is written on the pool, behind the sealing
        if isinstance(file, (str, os.PathLike)):
            if not replace and os.path.lexists(file):  # as open(..., "x") does, before any key is used
                raise FileExistsError(errno.EEXIST, "File exists", os.fspath(file))
            self._sink: Any = AtomicFileSink(file, fsync=fsync, replace=replace)
            self.name = os.fspath(file)
        else:
            self._sink = _FileObjSink(file)
            self.name = str(getattr(file, "name", "<file object>"))
        try:
            packed = header.pack()
            self._sink.write(memoryview(packed))
            if isinstance(self._sink, AtomicFileSink) and not on_pool_thread():  # (see there)
                self._behind = WriteBehind(self._sink, offset=len(packed))
                # the pool thread writing is one of the ``threads``: sealing on all of them
                # as well left 3 busy threads on 2 CPUs (500 MB: sealing 0.09 s -> 0.73 s)
                self._threads = max(1, nthreads - 1)
            # 1 MiB per sealing thread: each seals a share of every batch
            self._cap = max(1, WRITE_BATCH * self._threads // self._seg) * self._seg
        except BaseException:
            self.abort()
            raise

    def writable(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<SealedWriter name={self.name!r} written={self._written}>"

    def __reduce__(self) -> Any:
        raise TypeError("SealedWriter holds key material and cannot be pickled")

    @property
    def segment_size(self) -> int:
        return self._seg

    @property
    def lock(self) -> threading.RLock:
        """The re-entrant lock every write/close/abort holds; a subclass that
        publishes or discards something alongside takes it too, so nothing
        interleaves with a seal (no nonce is used twice)."""
        return self._wlock

    def tell(self) -> int:
        with self._wlock:
            return self._written

    def _seal(self, plain: memoryview, final: bool) -> None:
        """Seal whole segments (all non-final unless ``final``) in one C call
        and write the ciphertext: a local file's on the pool while the
        next batch is sealed (:class:`~sealio.io.atomic.WriteBehind`)."""
        count = segments.segment_count(len(plain), self._seg)
        if self._index + count > segments.MAX_SEGMENTS:
            raise ValueError("sealed file would exceed 2**32 segments; use a larger segment_size")
        need = segments.sealed_size(len(plain), self._seg)
        behind = self._behind
        if behind is not None:
            out = behind.buffer(need)
        else:
            if len(self._out) < need:
                self._out = bytearray(need)
            out = memoryview(self._out)
        n = self._gcm.seal_segments_into(plain, out, self._seg, prefix=self._prefix,
                                         first_index=self._index, final=final, threads=self._threads)
        self._index += count
        if behind is not None:
            behind.commit(n)
        else:
            self._sink.write(out[:n])

    def write(self, b: Any) -> int:
        """Buffer or seal ``b``. Only the last (possibly partial) segment is
        held back, because only at close is it known to be the final one;
        large writes are sealed straight from the caller's buffer.
        Serialised with every other write/close/abort (thread-safe)."""
        with self._wlock:
            return self._write_locked(b)

    def _write_locked(self, b: Any) -> int:
        if self.closed:
            raise ValueError("write to closed sealed file")
        mv = flat_view(b, writable=False)
        total = len(mv)
        seg, cap = self._seg, self._cap
        try:
            while len(mv):
                fill = self._fill
                if fill:
                    small = len(mv) < cap
                    if fill == cap or (not small and fill % seg == 0):  # more data follows: not final
                        self._seal(memoryview(self._buf)[:fill], final=False)
                        self._fill = 0
                        continue
                    take = min(cap - fill, len(mv)) if small else seg - fill % seg
                else:
                    k = (len(mv) - 1) // seg  # whole segments with data after them
                    for j in range(0, k * seg, cap):
                        self._seal(mv[j:min(j + cap, k * seg)], final=False)
                    mv = mv[k * seg:]
                    take = len(mv)  # 1..seg bytes
                if len(self._buf) < self._fill + take:
                    grown = bytearray(min(self._cap, max(2 * len(self._buf), self._fill + take, self._seg)))
                    grown[:self._fill] = self._buf[:self._fill]
                    self._buf[:] = bytes(len(self._buf))
                    self._buf = grown
                self._buf[self._fill:self._fill + take] = mv[:take]
                self._fill += take
                mv = mv[take:]
        except BaseException:
            self.abort()
            raise
        self._written += total
        return total

    def write_file(self, fd: int, progress: Callable[[int], None] | None = None) -> int:
        """Seal the whole local file ``fd`` (from offset 0 to its end) as
        this writer's content; returns the bytes sealed. It must be the
        first write, and :meth:`close` still publishes.

        Why not ``write`` in a loop: ``cp`` copies in the kernel, while a
        read, seal, write loop on one thread leaves the other CPU idle
        (500 MB here: 0.26 s). To a local destination every thread takes
        1 MiB chunks of the body (pread, seal in place, pwrite at the
        chunk's own offset, the chunk in cache throughout); the bytes
        after the last whole segment before the end are then read to EOF
        and written as usual. A file that shrinks while read raises
        :class:`InputChangedError`; one that grows is sealed to its new end.
        ``progress(n)`` is called (serialised) as chunks are done."""
        with self._wlock:
            if self.closed:
                raise ValueError("write to closed sealed file")
            if self._written:
                raise ValueError("write_file must be the writer's first write")
            done = 0
            if self._behind is not None:
                try:
                    done = self._seal_body(fd, progress)
                except BaseException:
                    self.abort()
                    raise
            return done + self._write_rest(fd, done, progress)

    def _seal_body(self, fd: int, progress: Callable[[int], None] | None) -> int:
        """The parallel part of :meth:`write_file`: every whole segment that
        has data after it, as the file's size is now. Returns its bytes."""
        seg = self._seg
        size = os.fstat(fd).st_size
        body = (size - 1) // seg * seg if size > 0 else 0
        chunk = max(1, WRITE_BATCH // seg) * seg
        assert self._behind is not None
        base = self._behind.offset
        pwrite = serialised(self._sink.pwrite)
        told = serialised(progress) if progress is not None else None
        buffers = ThreadBuffers(segments.sealed_size(chunk, seg))

        def work(c: int) -> None:
            lo = c * chunk
            n = min(chunk, body - lo)
            mv = buffers.get()
            _pread_exact(fd, mv[:n], lo)
            m = self._gcm.seal_segments_into(mv[:n], mv, seg, prefix=self._prefix, first_index=lo // seg,
                                             final=False, threads=1)
            pwrite(mv[:m], base + segments.sealed_offset(lo // seg, seg))
            if told is not None:
                told(n)

        with buffers:
            run_chunks(-(-body // chunk), work, self._nthreads, own_threads=True)
        self._index = body // seg
        self._written = body
        end = base + segments.sealed_size(body, seg) if body else base
        self._behind = WriteBehind(self._sink, offset=end, inline=True)  # the rest is a segment or so
        return body

    def _write_rest(self, fd: int, offset: int, progress: Callable[[int], None] | None) -> int:
        """``fd`` from ``offset`` to its end, through :meth:`write`."""
        buf = bytearray(self._cap)
        mv = memoryview(buf)
        total = 0
        try:
            while n := os.preadv(fd, [mv], offset + total):
                self._write_locked(mv[:n])
                total += n
                if progress is not None:
                    progress(n)
        finally:
            buf[:] = bytes(len(buf))
        return total

    def close(self) -> None:
        """Seal the final segment and publish (rename into place)."""
        with self._wlock:
            if self.closed:
                return
            try:
                self._seal(memoryview(self._buf)[:self._fill], final=True)
                if self._behind is not None:
                    self._behind.drain()
                self._sink.publish()
            except BaseException:
                self._abort_sink()
                raise
            finally:
                self._wipe()
                super().close()

    def abort(self) -> None:
        """Discard the file: nothing is published (a temporary file is removed)."""
        with self._wlock:
            if self.closed:
                return
            try:
                self._abort_sink()
            finally:
                self._wipe()
                super().close()

    def _abort_sink(self) -> None:
        behind = getattr(self, "_behind", None)
        if behind is not None:
            behind.abandon()  # no write may land in (or fail on) a closed file
        sink = getattr(self, "_sink", None)
        if sink is not None:
            sink.abort()

    def _wipe(self) -> None:
        buf = getattr(self, "_buf", None)  # absent when __init__ failed early
        if buf is not None:
            buf[:] = bytes(len(buf))
        self._fill = 0

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:  # an unclosed writer is a failed writer
        try:
            if not self.closed:
                self.abort()
        except Exception:
            pass


def _pread_exact(fd: int, out: memoryview, offset: int) -> None:
    while len(out):
        n = os.preadv(fd, [out], offset)
        if n == 0:
            raise InputChangedError("the input file shrank while it was being sealed")
        out, offset = out[n:], offset + n
