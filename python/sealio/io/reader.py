"""Sealed streams: :func:`open`, the seekable reader and the streaming writer.

The reader authenticates the header and the final segment when it opens
(so the size is authenticated before any byte is returned), then decrypts
only the segments a read touches, in batches, straight into the caller's
buffer by the C core (GIL released). Large reads are split across a thread
pool; small sequential reads are served from an adaptive read-ahead window
filled in the background. The writer buffers at most one batch, seals it in
one C call and, for local paths, publishes atomically (temporary file in
the destination directory, fsync, rename).
"""

from __future__ import annotations

import functools
import io
import itertools
import operator
import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from sealio import _header as H
from sealio.errors import ConfigurationError, FormatError, IntegrityError, NotSealedError
from sealio.keys import KeyManager, _fsync_dir, key_manager
from sealio.primitives import AesGcm

__all__ = ["SealedReader", "SealedWriter", "open", "rewrap", "default_threads"]

TAG = H.TAG_SIZE
CHUNK_BYTES = 1 << 20  # plaintext per decryption task: stays in L2/L3 between pread and decrypt
PARALLEL_MIN = 4 << 20  # reads smaller than this run on the calling thread
READAHEAD_MAX = 2 << 20  # largest read-ahead window (plaintext bytes)
WRITE_BATCH = 4 << 20  # plaintext sealed per C call by the writer
MAX_THREADS = 1024  # bound on ``threads=``: the C core takes an int, pools stay sane


def default_threads() -> int:
    """``$SEALIO_THREADS`` (clamped to 1..MAX_THREADS) or the number of CPUs."""
    env = os.environ.get("SEALIO_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ConfigurationError("SEALIO_THREADS must be an integer") from None
        return min(MAX_THREADS, max(1, n))
    return min(MAX_THREADS, _cpus())


def _threads_arg(threads: Any) -> int:
    """Validate ``threads=`` before anything is allocated: None (the default)
    or an int in 1..MAX_THREADS (TypeError / ValueError otherwise)."""
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads must be an int, not {type(threads).__name__}")
    if not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads must be in 1..{MAX_THREADS}")
    return threads


def _int_arg(value: Any, name: str) -> int:
    """An integer argument (bool refused), TypeError otherwise."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None


@functools.lru_cache(maxsize=1)
def _cpus() -> int:
    return max(1, os.cpu_count() or 1)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(2, default_threads()),
                                       thread_name_prefix="sealio")
        return _pool


_tls = threading.local()


def _scratch(name: str, nbytes: int) -> memoryview:
    """A per-thread reusable buffer (ciphertext staging, edge segments)."""
    buf = getattr(_tls, name, None)
    if buf is None or len(buf) < nbytes:
        buf = bytearray(nbytes)
        setattr(_tls, name, buf)
    return memoryview(buf)[:nbytes]


def _aad_bytes(aad: bytes | str | None) -> bytes:
    if aad is None:
        return b""
    if isinstance(aad, str):
        return aad.encode("utf-8")
    return bytes(aad)


def _flat(b: Any, *, writable: bool) -> memoryview:
    mv = memoryview(b)
    if not mv.c_contiguous:
        raise ValueError("buffer must be C-contiguous")
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    if writable and mv.readonly:
        raise TypeError("buffer must be writable")
    return mv


# ----------------------------------------------------------------- sources


class _FdSource:
    """Positional reads on a file descriptor: thread-safe, no shared offset."""

    def __init__(self, fd: int, owns: bool) -> None:
        self.fd = fd
        self.owns = owns

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def pread_into(self, offset: int, view: memoryview) -> int:
        done = 0
        while done < len(view):
            n = os.preadv(self.fd, [view[done:]], offset + done)
            if n == 0:
                break
            done += n
        return done

    def close(self) -> None:
        if self.owns:
            os.close(self.fd)


class _FileObjSource:
    """Any seekable binary file object (BytesIO, fsspec files): seek+read
    under a lock, so positional reads stay thread-safe."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.lock = threading.Lock()

    def size(self) -> int:
        with self.lock:
            return self.f.seek(0, io.SEEK_END)

    def pread_into(self, offset: int, view: memoryview) -> int:
        with self.lock:
            self.f.seek(offset)
            done = 0
            readinto = getattr(self.f, "readinto", None)
            while done < len(view):
                if readinto is not None:
                    try:
                        n = readinto(view[done:])
                    except NotImplementedError:
                        readinto = None
                        continue
                else:
                    data = self.f.read(len(view) - done)
                    n = len(data)
                    view[done:done + n] = data
                if not n:
                    break
                done += n
            return done

    def close(self) -> None:
        pass


def _source_for(file: Any) -> tuple[Any, str]:
    if isinstance(file, (str, os.PathLike)):
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        return _FdSource(fd, owns=True), os.fspath(file)
    name = str(getattr(file, "name", "<file object>"))
    if not (hasattr(file, "seekable") and file.seekable()):
        raise ValueError("reading a sealed file needs a seekable file object (random access)")
    try:
        fd = file.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return _FileObjSource(file), name
    return _FdSource(fd, owns=False), name


# ------------------------------------------------------------------ reader


class _Window:
    """Decrypted plaintext [start, end) for the sequential read-ahead."""

    __slots__ = ("buf", "start", "end", "error")

    def __init__(self, buf: bytearray) -> None:
        self.buf = buf
        self.start = self.end = 0
        self.error: IntegrityError | None = None


class SealedReader(io.RawIOBase):
    """Seekable, authenticated reader of a sealed file (``sealio.open(..., "rb")``).

    ``read``/``readinto``/``seek``/``tell`` share a position (serialised by a
    lock); :meth:`read_at` and :meth:`readinto_at` are positional and safe
    to call from many threads at once. After an :class:`IntegrityError`
    every later read raises.

    Files of format 1.1 carry a key commitment, which is always checked;
    ``require_commitment=True`` also refuses 1.0 files (no commitment) with
    :class:`UnsupportedFormatError` before any KMS call.
    """

    def __init__(self, file: Any, keys: Any, *, aad: bytes | str | None = None,
                 threads: int | None = None, require_commitment: bool = False) -> None:
        super().__init__()
        nthreads = _threads_arg(threads)  # before any file is opened
        if not isinstance(require_commitment, bool):
            raise TypeError("require_commitment must be a bool")
        self._src, self.name = _source_for(file)
        try:
            self._open(key_manager(keys), _aad_bytes(aad), nthreads, require_commitment)
        except BaseException:
            self._src.close()
            io.RawIOBase.close(self)  # so the finaliser finds nothing to do
            raise

    def _open(self, keys: KeyManager, aad: bytes, threads: int, require_commitment: bool) -> None:
        head = bytearray(H.HEADER_SIZE)
        got = self._src.pread_into(0, memoryview(head))
        header, k_seg = keys.open_header(memoryview(head)[:got], aad, require_commitment=require_commitment)
        self.header = header
        self._seg = header.segment_size
        self._sseg = self._seg + TAG
        self._size, self._nseg = H.layout(self._src.size(), self._seg)
        self._gcm = AesGcm(k_seg)
        self._prefix = header.nonce_prefix
        self._threads = threads
        self._count_lock = threading.Lock()
        self._decrypted = 0
        self._failed: str | None = None
        self._lock = threading.RLock()
        self._pos = 0
        self._final_start = (self._nseg - 1) * self._seg
        final = bytearray(self._size - self._final_start)
        self._open_segments(self._nseg - 1, 1, memoryview(final), final=True)
        self._final = bytes(final)
        # sequential read-ahead state (guarded by self._lock)
        self._ra_max = max(1, READAHEAD_MAX // self._seg)
        self._ra = 1
        self._last_end = 0  # a first read at offset 0 counts as sequential
        self._cur: _Window | None = None
        self._spare: _Window | None = None
        self._pending: Future[_Window] | None = None

    # -- properties

    @property
    def size(self) -> int:
        """Authenticated plaintext size in bytes."""
        return self._size

    @property
    def segment_size(self) -> int:
        return self._seg

    @property
    def segment_count(self) -> int:
        return self._nseg

    @property
    def segments_decrypted(self) -> int:
        """How many segment decryptions this reader has done (for tests)."""
        return self._decrypted

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<SealedReader name={self.name!r} size={getattr(self, '_size', '?')}>"

    def __reduce__(self) -> Any:
        raise TypeError("SealedReader holds key material and cannot be pickled")

    # -- segment decryption

    def _open_segments(self, first: int, count: int, out: memoryview, *, final: bool = False) -> None:
        """Read and authenticate segments [first, first+count) into ``out``
        (exactly their plaintext length). Non-final segments unless ``final``."""
        ct_len = len(out) + TAG * count
        buf = _scratch("ct", ct_len)
        got = self._src.pread_into(H.HEADER_SIZE + first * self._sseg, buf)
        if got != ct_len:
            raise IntegrityError("sealed file is shorter than when it was opened (truncated while reading)")
        self._gcm.open_segments_into(buf, out, self._seg, prefix=self._prefix, first_index=first,
                                     final=final, threads=1)
        with self._count_lock:
            self._decrypted += count

    def _full_segments(self, first: int, count: int, out: memoryview, parallel: bool) -> None:
        """Decrypt whole non-final segments into ``out``, in chunks, across
        the pool for large ranges (the calling thread works too)."""
        per = max(1, CHUNK_BYTES // self._seg)
        nchunks = -(-count // per)
        if not parallel or self._threads < 2 or count * self._seg < PARALLEL_MIN:
            for c in range(nchunks):
                k = min(per, count - c * per)
                self._open_segments(first + c * per, k, out[c * per * self._seg:(c * per + k) * self._seg])
            return
        counter = itertools.count()
        errors: list[tuple[int, BaseException]] = []

        def work() -> None:
            while not errors:
                c = next(counter)
                if c >= nchunks:
                    return
                k = min(per, count - c * per)
                try:
                    self._open_segments(first + c * per, k,
                                        out[c * per * self._seg:(c * per + k) * self._seg])
                except BaseException as e:  # noqa: BLE001 - re-raised below
                    errors.append((c, e))
                    return

        pool = _executor()
        futures = [pool.submit(work) for _ in range(min(self._threads, nchunks) - 1)]
        work()
        for f in futures:
            if not f.cancel():
                f.result()
        if errors:
            out[:] = bytes(len(out))
            first = min(errors, key=lambda ce: ce[0])[1]
            errors.clear()  # no cycle exception -> traceback -> frame -> errors -> exception
            raise first

    def _segment_into(self, index: int, lo: int, out: memoryview) -> None:
        """Plaintext of segment ``index`` from offset ``lo``, len(out) bytes."""
        if index == self._nseg - 1:
            out[:] = self._final[lo:lo + len(out)]
            return
        plain = _scratch("pt", self._seg)
        self._open_segments(index, 1, plain)
        out[:] = plain[lo:lo + len(out)]

    def _read_range(self, offset: int, out: memoryview, parallel: bool = True) -> None:
        """Fill ``out`` with plaintext [offset, offset+len(out)) (within size)."""
        seg, end = self._seg, offset + len(out)
        if end > self._final_start:  # the final segment is cached since open
            lo = max(offset, self._final_start)
            out[lo - offset:] = self._final[lo - self._final_start:end - self._final_start]
            end = lo
        pos = offset
        if pos < end and (pos % seg or end - pos < seg):  # partial first segment
            s = pos // seg
            stop = min(end, (s + 1) * seg)
            self._segment_into(s, pos - s * seg, out[pos - offset:stop - offset])
            pos = stop
        full = (end - pos) // seg
        if full:
            self._full_segments(pos // seg, full, out[pos - offset:pos - offset + full * seg], parallel)
            pos += full * seg
        if pos < end:  # partial last segment
            self._segment_into(pos // seg, 0, out[pos - offset:end - offset])

    def _check(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed sealed file")
        if self._failed is not None:
            raise IntegrityError(f"{self._failed} (an earlier read failed authentication; "
                                 "this reader is unusable)")

    def _fail(self, e: IntegrityError) -> IntegrityError:
        if self._failed is None:
            self._failed = str(e)
        return e

    # -- positional API (thread-safe)

    def readinto_at(self, offset: int, buffer: Any) -> int:
        """Read up to len(buffer) bytes at ``offset`` into ``buffer``;
        returns the count (0 at or past the end). Thread-safe."""
        offset = _int_arg(offset, "offset")
        if offset < 0:
            raise ValueError("negative offset")
        self._check()
        mv = _flat(buffer, writable=True)
        n = max(0, min(len(mv), self._size - offset))
        if n:
            try:
                self._read_range(offset, mv[:n])
            except IntegrityError as e:
                mv[:n] = bytes(n)
                raise self._fail(e) from None
        return n

    def read_at(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` (fewer at the end). Thread-safe.

        Both are checked before allocating: the buffer is at most the
        authenticated bytes left after ``offset``, whatever ``size`` says."""
        offset, size = _int_arg(offset, "offset"), _int_arg(size, "size")
        if offset < 0:
            raise ValueError("negative offset")
        if size < 0:
            raise ValueError("negative size")
        self._check()
        buf = bytearray(max(0, min(size, self._size - offset)))
        n = self.readinto_at(offset, buf)
        return bytes(memoryview(buf)[:n])

    # -- sequential API

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        offset = _int_arg(offset, "offset")
        with self._lock:
            if self.closed:
                raise ValueError("I/O operation on closed sealed file")
            if whence == io.SEEK_SET:
                pos = offset
            elif whence == io.SEEK_CUR:
                pos = self._pos + offset
            elif whence == io.SEEK_END:
                pos = self._size + offset
            else:
                raise ValueError(f"invalid whence {whence}")
            if pos < 0:
                raise ValueError("negative seek position")
            self._pos = pos
            return pos

    def tell(self) -> int:
        with self._lock:
            if self.closed:
                raise ValueError("I/O operation on closed sealed file")
            return self._pos

    def readinto(self, buffer: Any) -> int:
        mv = _flat(buffer, writable=True)
        with self._lock:
            self._check()
            pos = self._pos
            n = max(0, min(len(mv), self._size - pos))
            if not n:
                return 0
            try:
                if n >= self._ra_max * self._seg:
                    self._read_range(pos, mv[:n])  # large: straight into the caller's buffer
                    self._ra = 1
                else:
                    self._read_windowed(pos, mv[:n])
            except IntegrityError as e:
                mv[:n] = bytes(n)
                raise self._fail(e) from None
            self._pos = pos + n
            self._last_end = pos + n
            return n

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        with self._lock:
            self._check()
            buf = bytearray(max(0, min(size, self._size - self._pos)))
            n = self.readinto(buf)
            return bytes(memoryview(buf)[:n])

    def readall(self) -> bytes:
        with self._lock:
            self._check()
            buf = bytearray(max(0, self._size - self._pos))
            n = self.readinto(buf)
            return bytes(memoryview(buf)[:n])

    # -- read-ahead

    def _fill(self, w: _Window, start: int, nsegs: int) -> _Window:
        """Decrypt ``nsegs`` segments from plaintext offset ``start`` into w."""
        end = min(self._size, start + nsegs * self._seg)
        w.start, w.end, w.error = start, end, None
        if len(w.buf) < end - start:  # windows grow with the read-ahead
            w.buf = bytearray(max(end - start, min(2 * len(w.buf), self._ra_max * self._seg)))
        try:
            self._read_range(start, memoryview(w.buf)[:end - start], parallel=False)
        except IntegrityError as e:  # raised only if the reader gets there
            w.error = e
        return w

    def _new_window(self) -> _Window:
        return _Window(bytearray())

    def _drain_pending(self) -> _Window | None:
        if self._pending is None:
            return None
        w = self._pending.result()
        self._pending = None
        return w

    def _read_windowed(self, pos: int, out: memoryview) -> None:
        sequential = pos == self._last_end
        if not sequential:
            self._ra = 1
        done = 0
        while done < len(out):
            p = pos + done
            w = self._cur
            if w is None or not (w.start <= p < w.end):
                nxt = self._drain_pending()
                if nxt is not None and nxt.start <= p < nxt.end:
                    self._spare, self._cur = self._cur, nxt
                else:
                    if nxt is not None:
                        self._spare = nxt
                    spare = self._spare or self._new_window()
                    self._spare = self._cur
                    start = p - p % self._seg
                    need = -(-(pos + len(out) - start) // self._seg)
                    self._cur = self._fill(spare, start, min(self._ra_max, max(need, self._ra)))
                w = self._cur
            if w.error is not None:
                raise w.error
            take = min(len(out) - done, w.end - p)
            out[done:done + take] = memoryview(w.buf)[p - w.start:p - w.start + take]
            done += take
        if sequential:
            self._ra = min(self._ra_max, self._ra * 2)
            w = self._cur
            if self._pending is None and w is not None and w.end < self._size and w.end % self._seg == 0:
                spare = self._spare or self._new_window()
                self._spare = None
                self._pending = _executor().submit(self._fill, spare, w.end, self._ra)

    def close(self) -> None:
        """Close the file (after any read-ahead in flight). Do not close a
        reader while other threads still call :meth:`read_at` on it."""
        if self.closed:
            return
        with self._lock:
            try:
                pending = getattr(self, "_pending", None)
                if pending is not None:
                    pending.result()
                    self._pending = None
            finally:
                self._cur = self._spare = None
                self._src.close()
                super().close()


# ------------------------------------------------------------------ writer


def _umask() -> int:
    try:
        with io.open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o077  # unknown: keep the file private


class _AtomicFileSink:
    """Writes to a temporary file next to ``path``; :meth:`publish` fsyncs
    and renames it into place, :meth:`abort` deletes it.

    The temporary file is created by ``mkstemp`` (``O_EXCL``, mode 0600, a
    random name), so nothing planted at a predictable name is followed. The
    published file gets ``mode & 0o777`` when the caller names one (e.g.
    the source's), else ``0o666 & ~umask``; never the mode of the file it
    replaces (an attacker's setuid/setgid/sticky or world-writable file, or
    the target of a symlink planted there) and never a special bit.
    """

    def __init__(self, path: str | os.PathLike[str], mode: int | None = None) -> None:
        self.path = Path(path)
        self.mode = None if mode is None else mode & 0o777
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".sealio-tmp",
                                   dir=self.path.parent or ".")
        self.fd: int | None = fd
        self.tmp: str | None = tmp  # None once renamed into place

    def write(self, view: memoryview) -> None:
        assert self.fd is not None
        while len(view):
            n = os.write(self.fd, view)
            view = view[n:]

    def publish(self) -> None:
        assert self.fd is not None and self.tmp is not None
        os.fsync(self.fd)
        os.fchmod(self.fd, (0o666 & ~_umask()) if self.mode is None else self.mode)
        os.close(self.fd)
        self.fd = None
        os.replace(self.tmp, self.path)  # replaces a symlink itself, never its target
        self.tmp = None
        _fsync_dir(self.path.parent)

    def abort(self) -> None:
        """Close and delete the temporary file (also after a failed publish)."""
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None


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
                 threads: int | None = None) -> None:
        super().__init__()
        self._wlock = threading.RLock()  # first: abort() and __del__ take it
        self.name = str(getattr(file, "name", "<file object>"))
        self._written = 0
        nthreads = _threads_arg(threads)  # before any key, buffer or file exists
        if segment_size is not None and (isinstance(segment_size, bool) or not isinstance(segment_size, int)):
            raise TypeError(f"segment_size must be an int, not {type(segment_size).__name__}")
        mgr = key_manager(keys)
        master = master_key if master_key is not None else mgr.default_master_key
        if master is None:
            raise ValueError("writing needs master_key= (or a keyring with a default master key)")
        log2 = H.DEFAULT_SEGMENT_LOG2 if segment_size is None else H.segment_size_log2(segment_size)
        header, k_seg = mgr.seal_header(master, log2, _aad_bytes(aad))
        self.header = header
        self._seg = header.segment_size
        self._gcm = AesGcm(k_seg)
        self._prefix = header.nonce_prefix
        self._threads = nthreads
        self._cap = max(1, WRITE_BATCH // self._seg) * self._seg
        self._buf = bytearray()  # grows to at most _cap: small files stay small
        self._fill = 0
        self._out = bytearray()
        self._index = 0
        self._written = 0
        if isinstance(file, (str, os.PathLike)):
            self._sink: Any = _AtomicFileSink(file)
            self.name = os.fspath(file)
        else:
            self._sink = _FileObjSink(file)
            self.name = str(getattr(file, "name", "<file object>"))
        try:
            self._sink.write(memoryview(header.pack()))
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

    def tell(self) -> int:
        with self._wlock:
            return self._written

    def _seal(self, plain: memoryview, final: bool) -> None:
        """Seal whole segments (all non-final unless ``final``) in one C call
        and write the ciphertext. (Overlapping the write with the next seal
        in a second thread measured slower on 2 CPUs, so it is not done.)"""
        count = max(1, -(-len(plain) // self._seg))
        if self._index + count > H.MAX_SEGMENTS:
            raise ValueError("sealed file would exceed 2**32 segments; use a larger segment_size")
        need = len(plain) + TAG * count
        if len(self._out) < need:
            self._out = bytearray(need)
        n = self._gcm.seal_segments_into(plain, self._out, self._seg, prefix=self._prefix,
                                         first_index=self._index, final=final, threads=self._threads)
        self._index += count
        self._sink.write(memoryview(self._out)[:n])

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
        mv = _flat(b, writable=False)
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

    def close(self) -> None:
        """Seal the final segment and publish (rename into place)."""
        with self._wlock:
            if self.closed:
                return
            try:
                self._seal(memoryview(self._buf)[:self._fill], final=True)
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


# -------------------------------------------------------------------- open


def open(file: str | os.PathLike[str] | IO[bytes], mode: str = "rb", *, keys: Any,
         master_key: str | None = None, aad: bytes | str | None = None,
         segment_size: int | None = None, threads: int | None = None,
         require_commitment: bool = False,
         encoding: str | None = None, errors: str | None = None,
         newline: str | None = None) -> Any:
    """Open a sealed file for reading (``"rb"``) or writing (``"wb"``).

    ``keys`` is a :class:`~sealio.KmsClient` (e.g. :class:`~sealio.LocalKeyring`)
    or a :class:`~sealio.KeyManager`; ``master_key`` names the master key
    for writing (readers find it in the header). ``aad`` (bytes or str, e.g.
    the logical path) is bound into the file and must be given again to
    read it. ``segment_size`` (writing) is a power of two, 4 KiB..4 MiB,
    default 64 KiB. Text modes ``"r"``/``"rt"``/``"w"``/``"wt"`` wrap the
    binary stream in :class:`io.TextIOWrapper` (UTF-8 by default).
    ``threads`` (1..1024) bounds the decryption/encryption threads.
    Writers write format 1.1 (with a key commitment); readers read 1.0 and
    1.1, and ``require_commitment=True`` makes a reader refuse 1.0 files
    (:class:`UnsupportedFormatError`); it is a no-op for writers.

    Raises :class:`NotSealedError` for a file that is not sealed,
    :class:`UnsupportedFormatError`, :class:`FormatError` or
    :class:`IntegrityError` as described in docs/FORMAT.md.
    """
    text = "b" not in mode
    base = mode.replace("b", "").replace("t", "")
    if base not in ("r", "w") or ("b" in mode and "t" in mode) or len(mode) > 2:
        raise ValueError(f"invalid mode {mode!r}: use 'rb', 'wb', 'r', 'w', 'rt' or 'wt'")
    if not text and (encoding is not None or errors is not None or newline is not None):
        raise ValueError("encoding, errors and newline are for text modes only")
    raw: io.RawIOBase
    if base == "r":
        if segment_size is not None or master_key is not None:
            raise ValueError("segment_size and master_key are for writing (the reader uses the header)")
        raw = SealedReader(file, keys, aad=aad, threads=threads, require_commitment=require_commitment)
        if not text:
            return raw
        return io.TextIOWrapper(io.BufferedReader(raw, 1 << 16), encoding=encoding or "utf-8",
                                errors=errors, newline=newline)
    raw = SealedWriter(file, keys, master_key=master_key, aad=aad, segment_size=segment_size,
                       threads=threads)
    if not text:
        return raw
    return _TextWriter(io.BufferedWriter(raw, 1 << 16), encoding=encoding or "utf-8",
                       errors=errors, newline=newline, write_through=False)


class _TextWriter(io.TextIOWrapper):
    """Text mode over a :class:`SealedWriter` that, like it, publishes only
    on a clean close (not on an exception in ``with``, not when collected)."""

    def _abort(self) -> None:
        raw = self.buffer.raw  # type: ignore[attr-defined]
        raw.abort()
        try:
            super().close()
        except ValueError:  # the buffered layer cannot flush into the aborted writer
            pass

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self._abort()
        else:
            self.close()

    def __del__(self) -> None:
        try:
            if not self.closed:
                self._abort()
        except Exception:
            pass


def rewrap(path: str | os.PathLike[str], keys: Any, *, new_master_key: str | None = None,
           new_keys: Any = None, aad: bytes | str | None = None, in_place: bool = False,
           require_commitment: bool = False) -> None:
    """Re-wrap a sealed file's DEK under ``new_master_key`` (default: the
    newest version of its current master key) without touching segments.
    The format version is kept (1.0 stays 1.0, 1.1 keeps its commitment);
    ``require_commitment=True`` refuses 1.0 files. The new file keeps the
    source's permission bits (never setuid/setgid/sticky).

    By default the file is copied to a temporary file with the new header
    and renamed into place (crash-safe). ``in_place=True`` overwrites the
    1024-byte header where it is (fast for huge files, but a crash in the
    middle of that write can destroy the header)."""
    mgr = key_manager(keys)
    target = key_manager(new_keys) if new_keys is not None else mgr
    with io.open(path, "rb") as fh:
        head = fh.read(H.HEADER_SIZE)
    new_header = mgr.rewrap_header(head, _aad_bytes(aad), new_keys=target, new_master_key=new_master_key,
                                   require_commitment=require_commitment)
    assert len(new_header) == H.HEADER_SIZE
    if in_place:
        fd = os.open(path, os.O_WRONLY)
        try:
            if os.pwrite(fd, new_header, 0) != H.HEADER_SIZE:
                raise OSError("short write of the header")
            os.fsync(fd)
        finally:
            os.close(fd)
        return
    sink = _AtomicFileSink(path, mode=os.stat(path).st_mode & 0o777)  # the source's bits, no special ones
    try:
        sink.write(memoryview(new_header))
        assert sink.fd is not None
        src = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(src).st_size
            offset = H.HEADER_SIZE
            while offset < size:
                n = os.sendfile(sink.fd, src, offset, min(size - offset, 1 << 30))
                if n == 0:
                    raise IntegrityError("sealed file shrank while being re-wrapped")
                offset += n
        finally:
            os.close(src)
        sink.publish()
    except BaseException:
        sink.abort()
        raise


def inspect(file: str | os.PathLike[str] | IO[bytes]) -> dict[str, Any]:
    """The public header fields and size arithmetic, without any key.

    Nothing here is authenticated (that needs the keys: ``verify``)."""
    src, name = _source_for(file)
    try:
        head = bytearray(H.HEADER_SIZE)
        got = src.pread_into(0, memoryview(head))
        header = H.parse(memoryview(head)[:got])
        file_size = src.size()
    finally:
        src.close()
    info: dict[str, Any] = {
        "file": name,
        "format_version": header.version,
        "format_minor_version": header.minor_version,
        "format": header.version_string,  # "1.0" or "1.1"
        "key_commitment": header.committed,
        "algorithm": H.SUITE_NAMES[header.suite],
        "suite_id": header.suite,
        "segment_size": header.segment_size,
        "header_size": H.HEADER_SIZE,
        "file_size": file_size,
        "master_key_id": header.master_key_id,
        "kek_id": header.kek_id.hex(),
        "wrapped_kek_length": len(header.wrapped_kek),
    }
    try:
        plain, nseg = H.layout(file_size, header.segment_size)
        info.update(plaintext_size=plain, segment_count=nseg, size_valid=True)
    except (IntegrityError, FormatError):
        info.update(plaintext_size=None, segment_count=None, size_valid=False)
    return info


def is_sealed(file: str | os.PathLike[str]) -> bool:
    """Whether ``file`` starts with the sealed-file magic (cheap sniffing)."""
    with io.open(file, "rb") as fh:
        try:
            H.check_magic(fh.read(8))
        except NotSealedError:
            return False
    return True


def copy_stream(src: Any, dst: Any, *, chunk: int = 8 << 20,
                progress: Callable[[int], None] | None = None) -> int:
    """Copy a binary stream through one reused buffer; returns bytes copied."""
    buf = bytearray(chunk)
    mv = memoryview(buf)
    total = 0
    while True:
        n = src.readinto(mv)
        if not n:
            return total
        dst.write(mv[:n])
        total += n
        if progress is not None:
            progress(n)
