"""The C core behind the primitives. cffi releases the GIL around every
call, so these methods run in parallel from Python threads.

Every buffer handed to C goes through :class:`_Pins`, which releases it
when the call's ``with`` block ends, before any error leaves this module.
A ``ffi.from_buffer`` object that outlived a failed call in the exception's
traceback kept an export on its memoryview; when the garbage collector
later cleared that view first, CPython wrote through NULL (issue 12).
Overlapping buffers are refused here, before the C core (which refuses
them too) is called.
"""

from __future__ import annotations

from typing import Any

from sealio.hazmat import buffers as _buffers
from sealio.hazmat import kernel as _kernel
from sealio.hazmat.segments import NONCE_SIZE as NONCE
from sealio.hazmat.segments import PREFIX_SIZE as PREFIX
from sealio.hazmat.segments import TAG_SIZE as TAG
from sealio.hazmat.segments import sealed_count, sealed_size
from sealio.errors import IntegrityError, KernelUnavailableError

IV = 16
_AUTH = -1  # SEALIO_ERR_AUTH
_MAX_BYTES = (1 << 36) - 32  # SEALIO_GCM_MAX_BYTES


def _raise_status(status: int, what: str) -> None:
    ffi, lib = _kernel.native()  # type: ignore[misc]
    if status == lib.SEALIO_ERR_UNSUPPORTED:
        raise KernelUnavailableError(f"{what}: kernel not supported on this CPU")
    if status == lib.SEALIO_ERR_NOMEM:
        raise MemoryError(what)
    if status == lib.SEALIO_ERR_THREAD:
        raise RuntimeError(f"{what}: could not start worker threads")
    if status == lib.SEALIO_ERR_OVERLAP:
        raise ValueError(f"{what}: buffers overlap (only exact in-place use is allowed)")
    raise ValueError(f"{what}: invalid arguments (status {status})")


def _immutable(*views: memoryview) -> bool:
    """True if every view is of a ``bytes`` object: immutable memory, which
    no writable output can overlap, so the address check can be skipped
    (it costs more than a small message's encryption)."""
    for v in views:
        if type(v.obj) is not bytes:
            return False
    return True


_UINTPTR: Any = None


def _addr(ffi: Any, c: Any) -> int:
    global _UINTPTR
    if _UINTPTR is None:
        _UINTPTR = ffi.typeof("uintptr_t")
    return int(ffi.cast(_UINTPTR, c))


def _check_spans(ffi: Any, out: tuple[str, Any, int], same: tuple[str, Any, int],
                 others: tuple[tuple[str, Any, int], ...]) -> None:
    """_buffers.check_overlap on (name, cdata pointer, length) triples."""
    _buffers.check_overlap((out[0], _addr(ffi, out[1]), out[2]),
                           (same[0], _addr(ffi, same[1]), same[2]),
                           tuple((nm, _addr(ffi, c), n) for nm, c, n in others))


class _Pins:
    """The buffers of one C call, exported with ``ffi.from_buffer`` and all
    released when the ``with`` block exits (normally or by an exception)."""

    __slots__ = ("_ffi", "_held")

    def __init__(self, ffi: Any) -> None:
        self._ffi = ffi
        self._held: list[Any] = []

    def __enter__(self) -> _Pins:
        return self

    def __exit__(self, *exc: object) -> None:
        held, release = self._held, self._ffi.release
        while held:
            release(held.pop())

    def ro(self, view: memoryview) -> Any:
        c = self._ffi.from_buffer(view)
        self._held.append(c)
        return c

    def rw(self, view: memoryview) -> Any:
        c = self._ffi.from_buffer(_chars(self._ffi), view, True)
        self._held.append(c)
        return c

    def span(self, name: str, c: Any, n: int) -> _buffers.Span:
        return (name, _addr(self._ffi, c), n)


# Buffer acquisition errors of ffi.from_buffer (str, read-only, not contiguous).
_BUF_ERRORS = (TypeError, ValueError, BufferError)
NOT_HANDLED = -1
_CHARS: Any = None


def _chars(ffi: Any) -> Any:
    """ffi.typeof("char[]"), what from_buffer returns; passed positionally
    with require_writable, because the keyword form costs 300 ns a call."""
    global _CHARS
    if _CHARS is None:
        _CHARS = ffi.typeof("char[]")
    return _CHARS


class NativeGcm:
    """One key context of the C core.

    ``seal_into``/``open_into``/``seal``/``open`` are the fast paths of the
    one-shot calls (about 1 us of Python per call instead of 10): they take
    only ``bytes`` nonces and AAD and ``bytes``/``bytearray``/``memoryview``
    data, and leave to the C core the checks it makes anyway (nonce and
    output lengths, the GCM limit, address wrap, overlap). They return
    NOT_HANDLED for any other type and whenever the C core refuses the
    call (it writes nothing then), so the caller runs the checked path,
    which raises the precise error."""

    __slots__ = ("_ctx", "kernel", "_ffi", "_lib", "_c_seal", "_c_open")

    def __init__(self, key: memoryview, kernel: str) -> None:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        status = ffi.new("int *")
        with _Pins(ffi) as pins:
            ctx = lib.sealio_gcm_new(pins.ro(key), key.nbytes, _kernel.native_id(kernel), status)
        if ctx == ffi.NULL:
            _raise_status(status[0], "AES-GCM key setup")
        self._ctx = ffi.gc(ctx, lib.sealio_gcm_free)
        self.kernel = kernel
        self._ffi, self._lib = ffi, lib
        _chars(ffi)
        # Absent from a binding built before they were added: no fast path then.
        self._c_seal = getattr(lib, "sealio_gcm_seal", None)
        self._c_open = getattr(lib, "sealio_gcm_open", None)

    @property
    def fast(self) -> bool:
        return self._c_seal is not None and self._c_open is not None

    # Each fast path exports at most two buffers (``bytes`` data is passed
    # as it is: immutable, so no output can overlap it) and releases them
    # before it returns or raises. Written out four times on purpose: a
    # shared helper costs a Python call, a tenth of the whole.

    def seal_into(self, nonce: Any, aad: Any, src: Any, out: Any) -> int:
        """ciphertext || tag into ``out``: bytes written, or NOT_HANDLED."""
        ts, to = type(src), type(out)
        if type(nonce) is not bytes or type(aad) is not bytes or \
                (ts is not bytes and ts is not bytearray and ts is not memoryview) or \
                (to is not bytearray and to is not memoryview):
            return NOT_HANDLED
        ffi = self._ffi
        try:
            o = ffi.from_buffer(_CHARS, out, True)
        except _BUF_ERRORS:
            return NOT_HANDLED
        try:
            s = src if ts is bytes else ffi.from_buffer(src)
        except _BUF_ERRORS:
            ffi.release(o)
            return NOT_HANDLED
        n = len(s)
        try:
            rc = self._c_seal(self._ctx, nonce, len(nonce), aad, len(aad), s, n, o, len(o))
        finally:
            ffi.release(o)
            if s is not src:
                ffi.release(s)
        return n + TAG if rc == 0 else NOT_HANDLED

    def open_into(self, nonce: Any, aad: Any, src: Any, out: Any) -> int:
        """Verify and decrypt ciphertext || tag into ``out``: bytes written,
        or NOT_HANDLED; IntegrityError on a bad tag (``out`` zeroed)."""
        ts, to = type(src), type(out)
        if type(nonce) is not bytes or type(aad) is not bytes or \
                (ts is not bytes and ts is not bytearray and ts is not memoryview) or \
                (to is not bytearray and to is not memoryview):
            return NOT_HANDLED
        ffi = self._ffi
        try:
            o = ffi.from_buffer(_CHARS, out, True)
        except _BUF_ERRORS:
            return NOT_HANDLED
        try:
            s = src if ts is bytes else ffi.from_buffer(src)
        except _BUF_ERRORS:
            ffi.release(o)
            return NOT_HANDLED
        n = len(s)
        try:
            rc = self._c_open(self._ctx, nonce, len(nonce), aad, len(aad), s, n, o, len(o))
        finally:
            ffi.release(o)
            if s is not src:
                ffi.release(s)
        if rc == 0:
            return n - TAG
        if rc == _AUTH:
            raise IntegrityError("AES-GCM authentication failed")
        return NOT_HANDLED

    # The allocating forms write into a fresh ``bytes`` object before any
    # other code can see it (as C code does with PyBytes_FromStringAndSize
    # (NULL, n)): one allocation and no copy. Never for an empty result,
    # which is the shared b"" object.

    def seal(self, nonce: Any, aad: Any, src: Any) -> bytes | None:
        """ciphertext || tag as new bytes, or None when not handled."""
        ts = type(src)
        if type(nonce) is not bytes or type(aad) is not bytes or \
                (ts is not bytes and ts is not bytearray and ts is not memoryview):
            return None
        ffi = self._ffi
        try:
            s = src if ts is bytes else ffi.from_buffer(src)
        except _BUF_ERRORS:
            return None
        try:
            n = len(s)
            if n > _MAX_BYTES:
                return None  # the checked path refuses it before allocating
            out = bytes(n + TAG)
            o = ffi.from_buffer(out)
            try:
                rc = self._c_seal(self._ctx, nonce, len(nonce), aad, len(aad), s, n, o, n + TAG)
            finally:
                ffi.release(o)
        finally:
            if s is not src:
                ffi.release(s)
        return out if rc == 0 else None

    def open(self, nonce: Any, aad: Any, src: Any) -> bytes | None:
        """The plaintext as new bytes, or None when not handled;
        IntegrityError on a bad tag."""
        ts = type(src)
        if type(nonce) is not bytes or type(aad) is not bytes or \
                (ts is not bytes and ts is not bytearray and ts is not memoryview):
            return None
        ffi = self._ffi
        try:
            s = src if ts is bytes else ffi.from_buffer(src)
        except _BUF_ERRORS:
            return None
        try:
            size = len(s)
            if not TAG < size <= _MAX_BYTES + TAG:
                return None  # too short (IntegrityError), empty or too long: the checked path
            out = bytes(size - TAG)
            o = ffi.from_buffer(out)
            try:
                rc = self._c_open(self._ctx, nonce, len(nonce), aad, len(aad), s, size, o, size - TAG)
            finally:
                ffi.release(o)
        finally:
            if s is not src:
                ffi.release(s)
        if rc == 0:
            return out
        if rc == _AUTH:
            raise IntegrityError("AES-GCM authentication failed")
        return None

    def segments_fast(self, src: Any, out: Any, segment_size: int, prefix: bytes,
                      first_index: int, final: bool, aad: bytes, threads: int, seal: bool) -> int:
        """seal_segments / open_segments for bytes, bytearray or memoryview
        data, a ``bytes`` prefix and AAD, and ints the caller has range-checked:
        bytes written, or NOT_HANDLED (another type, or the C core refused:
        short output, truncated batch, segment indexes past 2^32, overlap);
        IntegrityError naming the first bad segment when opening."""
        ts, to = type(src), type(out)
        if (ts is not bytes and ts is not bytearray and ts is not memoryview) or \
                (to is not bytearray and to is not memoryview) or len(prefix) != PREFIX:
            return NOT_HANDLED
        ffi = self._ffi
        try:
            o = ffi.from_buffer(_CHARS, out, True)
        except _BUF_ERRORS:
            return NOT_HANDLED
        try:
            s = src if ts is bytes else ffi.from_buffer(src)
        except _BUF_ERRORS:
            ffi.release(o)
            return NOT_HANDLED
        pfx, a = ffi.from_buffer(prefix), ffi.from_buffer(aad)
        try:
            p = ffi.new("sealio_segments *", [segment_size, ffi.NULL, pfx, first_index,
                                              1 if final else 0, a, len(aad), threads])
            if seal:
                rc = self._lib.sealio_gcm_seal_segments(self._ctx, p, s, len(s), o, len(o))
                # the size in Python: a C call, however short, releases the GIL and then waits to
                # get it back (500 MB sealed beside a writing thread: 0.11 s waiting in 537 calls)
                return sealed_size(len(s), segment_size) if rc == 0 else NOT_HANDLED
            res = ffi.new("size_t[2]")  # plaintext length, first bad segment
            rc = self._lib.sealio_gcm_open_segments(self._ctx, p, s, len(s), o, len(o), res, res + 1)
        finally:
            ffi.release(o)
            ffi.release(pfx)
            ffi.release(a)
            if s is not src:
                ffi.release(s)
        if rc == 0:
            return int(res[0])
        if rc == _AUTH:
            raise IntegrityError(f"segment {first_index + res[1]} failed authentication")
        return NOT_HANDLED

    # The hot one-shot calls use cffi's own context managers (cheaper than
    # _Pins): the with statement releases every buffer, whichever way it ends.

    def encrypt(self, nonce: memoryview, aad: memoryview, src: memoryview, out: memoryview) -> None:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        n = src.nbytes
        with ffi.from_buffer(_chars(ffi), out, True) as o, ffi.from_buffer(src) as s, \
                ffi.from_buffer(nonce) as nn, ffi.from_buffer(aad) as a:
            if not _immutable(src, nonce, aad):
                _check_spans(ffi, ("out", o, n + TAG), ("plaintext", s, n),
                             (("nonce", nn, NONCE), ("aad", a, aad.nbytes)))
            rc = lib.sealio_gcm_encrypt(self._ctx, nn, a, aad.nbytes, s, n, o, o + n)
        if rc != 0:
            _raise_status(rc, "AES-GCM encrypt")

    def decrypt(self, nonce: memoryview, aad: memoryview, src: memoryview, out: memoryview) -> None:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        n = src.nbytes - TAG
        with ffi.from_buffer(_chars(ffi), out, True) as o, ffi.from_buffer(src) as s, \
                ffi.from_buffer(nonce) as nn, ffi.from_buffer(aad) as a:
            if not _immutable(src, nonce, aad):
                _check_spans(ffi, ("out", o, n), ("data", s, n + TAG),
                             (("nonce", nn, NONCE), ("aad", a, aad.nbytes)))
            rc = lib.sealio_gcm_decrypt(self._ctx, nn, a, aad.nbytes, s, n, s + n, o)
        if rc == lib.SEALIO_ERR_AUTH:
            raise IntegrityError("AES-GCM authentication failed")
        if rc != 0:
            _raise_status(rc, "AES-GCM decrypt")

    @staticmethod
    def _params(pins: _Pins, segment_size: int, prefix: memoryview | None,
                nonces: memoryview | None, first_index: int, final: bool, aad: memoryview,
                threads: int) -> tuple[Any, tuple[_buffers.Span, ...]]:
        """The C parameter block, and the spans the output must not meet."""
        ffi, _ = _kernel.native()  # type: ignore[misc]
        p = ffi.new("sealio_segments *")
        p.segment_size = segment_size
        if nonces is not None:
            p.nonces = c = pins.ro(nonces)
            key_span = pins.span("nonces", c, nonces.nbytes)
        else:
            assert prefix is not None
            p.prefix = c = pins.ro(prefix)
            key_span = pins.span("prefix", c, PREFIX)
        p.first_index = first_index
        p.final = 1 if final else 0
        p.aad = a = pins.ro(aad)
        p.aad_len = aad.nbytes
        p.threads = threads
        return p, (key_span, pins.span("aad", a, aad.nbytes))

    def seal_segments(self, src: memoryview, out: memoryview, segment_size: int, *,
                      prefix: memoryview | None, nonces: memoryview | None,
                      first_index: int, final: bool, aad: memoryview, threads: int) -> int:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        need = int(lib.sealio_segments_sealed_len(src.nbytes, segment_size))
        with _Pins(ffi) as pins:
            p, others = self._params(pins, segment_size, prefix, nonces, first_index, final,
                                     aad, threads)
            o, s = pins.rw(out), pins.ro(src)
            _buffers.check_overlap(pins.span("out", o, need),
                                   pins.span("plaintext", s, src.nbytes), others)
            rc = lib.sealio_gcm_seal_segments(self._ctx, p, s, src.nbytes, o, out.nbytes)
        if rc != 0:
            _raise_status(rc, "AES-GCM segment encryption")
        return need

    def open_segments(self, src: memoryview, out: memoryview, segment_size: int, *,
                      prefix: memoryview | None, nonces: memoryview | None,
                      first_index: int, final: bool, aad: memoryview, threads: int) -> int:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        plain_len = ffi.new("size_t *")
        bad = ffi.new("size_t *")
        count = sealed_count(src.nbytes, segment_size)
        with _Pins(ffi) as pins:
            p, others = self._params(pins, segment_size, prefix, nonces, first_index, final,
                                     aad, threads)
            o, s = pins.rw(out), pins.ro(src)
            _buffers.check_overlap(pins.span("out", o, src.nbytes - TAG * count),
                                   pins.span("data", s, src.nbytes), others)
            rc = lib.sealio_gcm_open_segments(self._ctx, p, s, src.nbytes, o, out.nbytes,
                                              plain_len, bad)
        if rc == lib.SEALIO_ERR_AUTH:
            raise IntegrityError(f"segment {first_index + bad[0]} failed authentication")
        if rc != 0:
            _raise_status(rc, "AES-GCM segment decryption")
        return int(plain_len[0])


def _cbc_out_len(n: int, padding: bool) -> int:
    return (n // IV + 1) * IV if padding else n


class NativeCbc:
    __slots__ = ("_ctx", "kernel")

    def __init__(self, key: memoryview, kernel: str) -> None:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        status = ffi.new("int *")
        with _Pins(ffi) as pins:
            ctx = lib.sealio_cbc_new(pins.ro(key), key.nbytes, _kernel.native_id(kernel), status)
        if ctx == ffi.NULL:
            _raise_status(status[0], "AES-CBC key setup")
        self._ctx = ffi.gc(ctx, lib.sealio_cbc_free)
        self.kernel = kernel

    def encrypt(self, iv: memoryview, src: memoryview, out: memoryview, padding: bool) -> int:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        with ffi.from_buffer(_chars(ffi), out, True) as o, ffi.from_buffer(src) as s, \
                ffi.from_buffer(iv) as v:
            if not _immutable(src, iv):
                _check_spans(ffi, ("out", o, _cbc_out_len(src.nbytes, padding)),
                             ("plaintext", s, src.nbytes), (("iv", v, IV),))
            if padding:
                n = ffi.new("size_t *")
                rc = lib.sealio_cbc_encrypt_pad(self._ctx, v, s, src.nbytes, o, out.nbytes, n)
                written = int(n[0])
            else:
                rc = lib.sealio_cbc_encrypt(self._ctx, v, s, src.nbytes, o)
                written = src.nbytes
        if rc != 0:
            _raise_status(rc, "AES-CBC encrypt")
        return written

    def decrypt(self, iv: memoryview, src: memoryview, out: memoryview, padding: bool) -> int:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        with ffi.from_buffer(_chars(ffi), out, True) as o, ffi.from_buffer(src) as s, \
                ffi.from_buffer(iv) as v:
            if not _immutable(src, iv):
                _check_spans(ffi, ("out", o, src.nbytes), ("ciphertext", s, src.nbytes),
                             (("iv", v, IV),))
            if padding:
                n = ffi.new("size_t *")
                rc = lib.sealio_cbc_decrypt_pad(self._ctx, v, s, src.nbytes, o, out.nbytes, n)
                written = int(n[0])
            else:
                rc = lib.sealio_cbc_decrypt(self._ctx, v, s, src.nbytes, o)
                written = src.nbytes
        if rc == lib.SEALIO_ERR_PADDING:
            raise IntegrityError("AES-CBC padding is invalid")
        if rc != 0:
            _raise_status(rc, "AES-CBC decrypt")
        return written


def cbc_encrypt_many(jobs: list[tuple[NativeCbc, memoryview, memoryview, memoryview]],
                     padding: bool) -> list[int]:
    """Encrypt independent chains interleaved; each job is (ctx, iv, src, out)."""
    ffi, lib = _kernel.native()  # type: ignore[misc]
    arr = ffi.new("sealio_cbc_job[]", len(jobs))
    with _Pins(ffi) as pins:
        outs, ins, ivs = [], [], []
        for i, (cbc, iv, src, out) in enumerate(jobs):
            slot = arr[i]
            v, s, o = pins.ro(iv), pins.ro(src), pins.rw(out)
            outs.append(pins.span("out", o, _cbc_out_len(src.nbytes, padding)))
            ins.append(pins.span("plaintext", s, src.nbytes))
            ivs.append(pins.span("iv", v, IV))
            slot.ctx = cbc._ctx
            slot.iv = v
            setattr(slot, "in", s)  # "in" is a Python keyword
            slot.len = src.nbytes
            slot.out = o
            slot.out_cap = out.nbytes
        _buffers.check_jobs_overlap(outs, ins, ivs)
        rc = lib.sealio_cbc_encrypt_multi(arr, len(jobs), 1 if padding else 0)
    if rc != 0:
        _raise_status(rc, "multi-buffer AES-CBC encrypt")
    return [int(arr[i].out_len) for i in range(len(jobs))]
