"""AES-GCM and AES-CBC primitives on the C core (hazmat layer).

Everything here is a thin, checked door into ``csrc/``: keys of 16, 24 or
32 bytes, 12-byte GCM nonces, 16-byte CBC IVs; a wrong type raises
``TypeError``, a wrong length ``ValueError``, a failed check
:class:`sealio.IntegrityError` and never returns plaintext. Inputs are any
bytes-like object; ``*_into`` functions write into any writable buffer
(bytearray, memoryview, numpy) and return the number of bytes written.
An output may be the input it replaces, starting at the same address (in
place); any other overlap of an output with an input, the nonce, AAD, IV,
prefix or another output is a ``ValueError`` on every kernel. Thread
counts are ints in 0..1024, segment sizes 1..GCM_MAX_BYTES, indexes
32-bit; each is checked before anything is allocated from it.

The kernel is chosen once per process (see :func:`cpu_features`); set
``SEALIO_KERNEL=vaes|aesni|fallback`` to force one. GCM nonces must never
repeat under one key: prefer the sealed format (``sealio.open``), which
derives a fresh key per file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sealio.hazmat import buffers as _buffers
from sealio.hazmat import kernel as _kernel
from sealio.hazmat import segments as _segments
from sealio.errors import IntegrityError

__all__ = [
    "AesCbc",
    "AesGcm",
    "GCM_MAX_BYTES",
    "GCM_NONCE_SIZE",
    "GCM_TAG_SIZE",
    "STREAM_PREFIX_SIZE",
    "aes_cbc_decrypt",
    "aes_cbc_decrypt_into",
    "aes_cbc_encrypt",
    "aes_cbc_encrypt_into",
    "aes_cbc_encrypt_many",
    "aes_cbc_encrypt_many_into",
    "aes_gcm_decrypt",
    "aes_gcm_decrypt_into",
    "aes_gcm_encrypt",
    "aes_gcm_encrypt_into",
    "cpu_features",
    "sealed_segments_size",
]

GCM_NONCE_SIZE = _segments.NONCE_SIZE
GCM_TAG_SIZE = _segments.TAG_SIZE
CBC_IV_SIZE = 16
BLOCK = 16
STREAM_PREFIX_SIZE = _segments.PREFIX_SIZE
GCM_MAX_BYTES = (1 << 36) - 32  # 2^32 - 2 blocks with a 96-bit nonce
MAX_THREADS = 1024  # a bound on the argument; the C core runs at most 64


def cpu_features() -> dict[str, Any]:
    """Detected CPU features, available kernels and the active one."""
    return _kernel.cpu_features()


class _Gcm(Protocol):
    kernel: str

    def encrypt(self, nonce: memoryview, aad: memoryview, src: memoryview, out: memoryview) -> None: ...
    def decrypt(self, nonce: memoryview, aad: memoryview, src: memoryview, out: memoryview) -> None: ...
    def seal_segments(self, src: memoryview, out: memoryview, segment_size: int, **kw: Any) -> int: ...
    def open_segments(self, src: memoryview, out: memoryview, segment_size: int, **kw: Any) -> int: ...


def _gcm_impl(key: memoryview, kernel: str | None) -> _Gcm:
    name = _kernel.resolve(kernel)
    if name == "fallback":  # imported only here: ``cryptography`` costs every CLI start ~10 ms
        from sealio.hazmat.fallback import FallbackGcm

        return FallbackGcm(key)
    from sealio.hazmat.native import NativeGcm

    return NativeGcm(key, name)


def _cbc_impl(key: memoryview, kernel: str | None) -> Any:
    name = _kernel.resolve(kernel)
    if name == "fallback":
        from sealio.hazmat.fallback import FallbackCbc

        return FallbackCbc(key)
    from sealio.hazmat.native import NativeCbc

    return NativeCbc(key, name)


def _check_int(name: str, value: Any, lo: int, hi: int) -> int:
    """An int argument within [lo, hi]: TypeError for another type (bool
    included), ValueError out of range; checked before anything is sized
    from it, so a huge or negative value never reaches an allocation."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}, got {value}")
    return value


def sealed_segments_size(plain_len: int, segment_size: int) -> int:
    """Bytes that ``plain_len`` bytes take as sealed segments (tags included)."""
    _check_int("plain_len", plain_len, 0, 1 << 63)
    _check_segment_size(segment_size)
    return _segments.sealed_size(plain_len, segment_size)


def _check_segment_size(segment_size: int) -> None:
    _check_int("segment_size", segment_size, 1, GCM_MAX_BYTES)


def _check_index(first_index: int, count: int) -> None:
    _check_int("first_index", first_index, 0, (1 << 32) - 1)
    if first_index + count > 1 << 32:
        raise ValueError("segment indexes must fit in 32 bits")


def _plain_ints(segment_size: Any, first_index: Any, threads: Any) -> bool:
    """True if the batch arguments are exact ints in range (the fast path's
    precondition; anything else takes the checked path and its errors)."""
    return (type(segment_size) is int and type(first_index) is int and type(threads) is int
            and 0 < segment_size <= GCM_MAX_BYTES and 0 <= first_index < 1 << 32
            and 0 <= threads <= MAX_THREADS)


def _check_gcm_len(n: int) -> None:
    if n > GCM_MAX_BYTES:
        raise ValueError(f"message longer than the GCM limit of {GCM_MAX_BYTES} bytes")


class AesGcm:
    """A reusable AES-GCM key: the schedule and GHASH table are built once.

    Safe to share between threads; every call releases the GIL on the
    native kernels. ``kernel`` forces ``vaes``, ``aesni`` or ``fallback``.
    """

    __slots__ = ("_impl", "_fast")

    def __init__(self, key: Any, *, kernel: str | None = None) -> None:
        self._impl = _gcm_impl(_buffers.key(key), kernel)
        # The native one-shot fast paths (see NativeGcm), or None: every
        # call then takes the checked path below.
        self._fast = self._impl if getattr(self._impl, "fast", False) else None

    def __repr__(self) -> str:
        return f"AesGcm(kernel={self._impl.kernel!r})"

    def __reduce__(self) -> Any:
        raise TypeError("AesGcm holds key material and cannot be pickled")

    @property
    def kernel(self) -> str:
        return self._impl.kernel

    def encrypt(self, nonce: Any, plaintext: Any, aad: Any = b"") -> bytes:
        fast = self._fast
        if fast is not None:
            done = fast.seal(nonce, aad, plaintext)
            if done is not None:
                return done
        _buffers.exact("nonce", nonce, GCM_NONCE_SIZE)
        src = _buffers.readable("plaintext", plaintext)
        _check_gcm_len(src.nbytes)  # before the output is allocated
        out = bytearray(src.nbytes + GCM_TAG_SIZE)
        self.encrypt_into(nonce, src, out, aad)
        return bytes(out)

    def decrypt(self, nonce: Any, data: Any, aad: Any = b"") -> bytes:
        fast = self._fast
        if fast is not None:
            done = fast.open(nonce, aad, data)
            if done is not None:
                return done
        _buffers.exact("nonce", nonce, GCM_NONCE_SIZE)
        src = _buffers.readable("data", data)
        if src.nbytes < GCM_TAG_SIZE:
            raise IntegrityError("AES-GCM data is shorter than its 16-byte tag")
        _check_gcm_len(src.nbytes - GCM_TAG_SIZE)
        out = bytearray(src.nbytes - GCM_TAG_SIZE)
        self.decrypt_into(nonce, src, out, aad)
        return bytes(out)

    def encrypt_into(self, nonce: Any, plaintext: Any, out: Any, aad: Any = b"") -> int:
        fast = self._fast
        if fast is not None:
            done = fast.seal_into(nonce, aad, plaintext, out)
            if done >= 0:
                return done
        n = _buffers.exact("nonce", nonce, GCM_NONCE_SIZE)
        a = _buffers.readable("aad", aad, allow_none=True)
        src = _buffers.readable("plaintext", plaintext)
        _check_gcm_len(src.nbytes)
        dst = _buffers.writable("out", out, src.nbytes + GCM_TAG_SIZE)
        self._impl.encrypt(n, a, src, dst)
        return src.nbytes + GCM_TAG_SIZE

    def decrypt_into(self, nonce: Any, data: Any, out: Any, aad: Any = b"") -> int:
        """Verify and decrypt ``data`` (ciphertext || tag) into ``out``; on a
        bad tag ``out`` is zeroed and :class:`IntegrityError` raised."""
        fast = self._fast
        if fast is not None:
            done = fast.open_into(nonce, aad, data, out)
            if done >= 0:
                return done
        n = _buffers.exact("nonce", nonce, GCM_NONCE_SIZE)
        a = _buffers.readable("aad", aad, allow_none=True)
        src = _buffers.readable("data", data)
        if src.nbytes < GCM_TAG_SIZE:
            raise IntegrityError("AES-GCM data is shorter than its 16-byte tag")
        _check_gcm_len(src.nbytes - GCM_TAG_SIZE)
        dst = _buffers.writable("out", out, src.nbytes - GCM_TAG_SIZE)
        self._impl.decrypt(n, a, src, dst)
        return src.nbytes - GCM_TAG_SIZE

    def seal_segments_into(self, plaintext: Any, out: Any, segment_size: int, *,
                           prefix: Any = None, nonces: Any = None, first_index: int = 0,
                           final: bool = True, aad: Any = b"", threads: int = 1) -> int:
        """Encrypt consecutive STREAM segments in one call (see sealio.h).

        Each ``segment_size`` bytes of plaintext become ciphertext || tag. The
        nonce of segment i is ``nonces[12*i:12*i+12]`` if given, else
        ``prefix || BE32(first_index + i) || last`` with ``last`` set only on
        the final segment of a ``final`` batch. Returns bytes written.
        """
        fast = self._fast
        if fast is not None and nonces is None and type(prefix) is bytes and type(aad) is bytes \
                and _plain_ints(segment_size, first_index, threads):
            done = fast.segments_fast(plaintext, out, segment_size, prefix, first_index,
                                      bool(final), aad, threads, True)
            if done >= 0:
                return done
        _check_segment_size(segment_size)
        src = _buffers.readable("plaintext", plaintext)
        count = _segments.segment_count(src.nbytes, segment_size)
        if not final and (src.nbytes == 0 or src.nbytes % segment_size):
            raise ValueError("a non-final batch must hold whole segments")
        kw = self._nonce_args(prefix, nonces, first_index, count, aad, threads)
        dst = _buffers.writable("out", out, sealed_segments_size(src.nbytes, segment_size))
        return self._impl.seal_segments(src, dst, segment_size, final=final, **kw)

    def open_segments_into(self, data: Any, out: Any, segment_size: int, *,
                           prefix: Any = None, nonces: Any = None, first_index: int = 0,
                           final: bool = True, aad: Any = b"", threads: int = 1) -> int:
        """Verify and decrypt sealed segments; the inverse of
        :meth:`seal_segments_into`. On a bad segment the output is zeroed and
        :class:`IntegrityError` names the segment index."""
        fast = self._fast
        if fast is not None and nonces is None and type(prefix) is bytes and type(aad) is bytes \
                and _plain_ints(segment_size, first_index, threads):
            done = fast.segments_fast(data, out, segment_size, prefix, first_index,
                                      bool(final), aad, threads, False)
            if done >= 0:
                return done
        _check_segment_size(segment_size)
        src = _buffers.readable("data", data)
        count = _segments.sealed_count(src.nbytes, segment_size)
        tail = src.nbytes - _segments.sealed_offset(count - 1, segment_size)
        if tail < GCM_TAG_SIZE or (not final and tail != segment_size + GCM_TAG_SIZE):
            raise IntegrityError("sealed segments are truncated")
        kw = self._nonce_args(prefix, nonces, first_index, count, aad, threads)
        dst = _buffers.writable("out", out, src.nbytes - GCM_TAG_SIZE * count)
        return self._impl.open_segments(src, dst, segment_size, final=final, **kw)

    @staticmethod
    def _nonce_args(prefix: Any, nonces: Any, first_index: int, count: int, aad: Any,
                    threads: int) -> dict[str, Any]:
        if (prefix is None) == (nonces is None):
            raise TypeError("pass exactly one of prefix= and nonces=")
        _check_int("threads", threads, 0, MAX_THREADS)
        _check_int("first_index", first_index, 0, (1 << 32) - 1)
        p = None if prefix is None else _buffers.exact("prefix", prefix, STREAM_PREFIX_SIZE)
        ns = None
        if nonces is not None:
            ns = _buffers.exact("nonces", nonces, GCM_NONCE_SIZE * count)
        else:
            _check_index(first_index, count)
        return {
            "prefix": p, "nonces": ns, "first_index": first_index,
            "aad": _buffers.readable("aad", aad, allow_none=True), "threads": threads,
        }


class AesCbc:
    """A reusable AES-CBC key (encryption and decryption schedules).

    CBC has no integrity: use it only for legacy formats (BigDL PPML) whose
    MAC is checked separately.
    """

    __slots__ = ("_impl",)

    def __init__(self, key: Any, *, kernel: str | None = None) -> None:
        self._impl = _cbc_impl(_buffers.key(key), kernel)

    def __repr__(self) -> str:
        return f"AesCbc(kernel={self._impl.kernel!r})"

    def __reduce__(self) -> Any:
        raise TypeError("AesCbc holds key material and cannot be pickled")

    @property
    def kernel(self) -> str:
        return self._impl.kernel

    @staticmethod
    def encrypted_size(plain_len: int, padding: bool = True) -> int:
        _check_int("plain_len", plain_len, 0, 1 << 63)
        return (plain_len // BLOCK + 1) * BLOCK if padding else plain_len

    def encrypt(self, iv: Any, plaintext: Any, padding: bool = True) -> bytes:
        src = _buffers.readable("plaintext", plaintext)
        out = bytearray(self.encrypted_size(src.nbytes, padding))
        n = self.encrypt_into(iv, src, out, padding)
        return bytes(out[:n])

    def decrypt(self, iv: Any, ciphertext: Any, padding: bool = True) -> bytes:
        src = _buffers.readable("ciphertext", ciphertext)
        out = bytearray(src.nbytes)
        n = self.decrypt_into(iv, src, out, padding)
        return bytes(out[:n])

    def encrypt_into(self, iv: Any, plaintext: Any, out: Any, padding: bool = True) -> int:
        v = _buffers.exact("iv", iv, CBC_IV_SIZE)
        src = _buffers.readable("plaintext", plaintext)
        if not padding and src.nbytes % BLOCK:
            raise ValueError("without padding the plaintext must be a multiple of 16 bytes")
        dst = _buffers.writable("out", out, self.encrypted_size(src.nbytes, padding))
        return self._impl.encrypt(v, src, dst, padding)

    def decrypt_into(self, iv: Any, ciphertext: Any, out: Any, padding: bool = True) -> int:
        """Decrypt into ``out`` (room for len(ciphertext)); with padding, bad
        padding zeroes ``out`` and raises :class:`IntegrityError`."""
        v = _buffers.exact("iv", iv, CBC_IV_SIZE)
        src = _buffers.readable("ciphertext", ciphertext)
        if src.nbytes % BLOCK or (padding and src.nbytes == 0):
            if padding:
                raise IntegrityError("AES-CBC ciphertext is not a whole number of blocks")
            raise ValueError("the ciphertext must be a multiple of 16 bytes")
        dst = _buffers.writable("out", out, src.nbytes)
        return self._impl.decrypt(v, src, dst, padding)


def aes_gcm_encrypt(key: Any, nonce: Any, plaintext: Any, aad: Any = b"") -> bytes:
    """AES-GCM encrypt; returns ciphertext followed by the 16-byte tag."""
    return AesGcm(key).encrypt(nonce, plaintext, aad)


def aes_gcm_decrypt(key: Any, nonce: Any, data: Any, aad: Any = b"") -> bytes:
    """Verify and decrypt ciphertext || tag; raises IntegrityError on a bad tag."""
    return AesGcm(key).decrypt(nonce, data, aad)


def aes_gcm_encrypt_into(key: Any, nonce: Any, plaintext: Any, out: Any, aad: Any = b"") -> int:
    return AesGcm(key).encrypt_into(nonce, plaintext, out, aad)


def aes_gcm_decrypt_into(key: Any, nonce: Any, data: Any, out: Any, aad: Any = b"") -> int:
    return AesGcm(key).decrypt_into(nonce, data, out, aad)


def aes_cbc_encrypt(key: Any, iv: Any, plaintext: Any, padding: bool = True) -> bytes:
    """AES-CBC encrypt, PKCS#7-padded unless ``padding=False``."""
    return AesCbc(key).encrypt(iv, plaintext, padding)


def aes_cbc_decrypt(key: Any, iv: Any, ciphertext: Any, padding: bool = True) -> bytes:
    """AES-CBC decrypt; raises IntegrityError on bad padding."""
    return AesCbc(key).decrypt(iv, ciphertext, padding)


def aes_cbc_encrypt_into(key: Any, iv: Any, plaintext: Any, out: Any, padding: bool = True) -> int:
    return AesCbc(key).encrypt_into(iv, plaintext, out, padding)


def aes_cbc_decrypt_into(key: Any, iv: Any, ciphertext: Any, out: Any, padding: bool = True) -> int:
    return AesCbc(key).decrypt_into(iv, ciphertext, out, padding)


def _prepare_many(jobs: Sequence[tuple[Any, Any, Any]], padding: bool,
                  kernel: str | None) -> list[tuple[AesCbc, memoryview, memoryview]]:
    prepared = []
    for key, iv, plaintext in jobs:
        cbc = key if isinstance(key, AesCbc) else AesCbc(key, kernel=kernel)
        v = _buffers.exact("iv", iv, CBC_IV_SIZE)
        src = _buffers.readable("plaintext", plaintext)
        if not padding and src.nbytes % BLOCK:
            raise ValueError("without padding every plaintext must be a multiple of 16 bytes")
        prepared.append((cbc, v, src))
    return prepared


def aes_cbc_encrypt_many_into(jobs: Sequence[tuple[Any, Any, Any]], outs: Sequence[Any],
                              padding: bool = True, *, kernel: str | None = None) -> list[int]:
    """Encrypt many independent CBC chains, ``(key, iv, plaintext)`` each,
    interleaved in the C core (multi-buffer: one chain is serial, many
    chains fill the AES pipeline), into caller buffers ``outs`` (each at
    least ``AesCbc.encrypted_size(len(plaintext), padding)`` bytes).
    Returns the bytes written per chain; nothing is allocated per byte."""
    prepared = _prepare_many(jobs, padding, kernel)
    if len(outs) != len(prepared):
        raise ValueError(f"{len(prepared)} jobs but {len(outs)} output buffers")
    views = []
    for (_, _, src), out in zip(prepared, outs):
        views.append(_buffers.writable("out", out, AesCbc.encrypted_size(src.nbytes, padding)))
    if all(c.kernel != "fallback" for c, _, _ in prepared):
        from sealio.hazmat.native import cbc_encrypt_many

        return cbc_encrypt_many([(c._impl, v, s, o) for (c, v, s), o in zip(prepared, views)], padding)
    # One job after another here, but the rule is the interleaved kernel's.
    _buffers.check_jobs_overlap(
        [_buffers.span("out", o, AesCbc.encrypted_size(s.nbytes, padding))
         for (_, _, s), o in zip(prepared, views)],
        [_buffers.span("plaintext", s) for _, _, s in prepared],
        [_buffers.span("iv", v) for _, v, _ in prepared])
    return [c.encrypt_into(v, s, o, padding) for (c, v, s), o in zip(prepared, views)]


def aes_cbc_encrypt_many(jobs: Sequence[tuple[Any, Any, Any]], padding: bool = True, *,
                         kernel: str | None = None) -> list[bytearray]:
    """:func:`aes_cbc_encrypt_many_into` into fresh buffers (returned as
    bytearrays: a copy into ``bytes`` would cost as much as the encryption)."""
    prepared = _prepare_many(jobs, padding, kernel)
    outs = [bytearray(AesCbc.encrypted_size(s.nbytes, padding)) for _, _, s in prepared]
    aes_cbc_encrypt_many_into([(c, v, s) for c, v, s in prepared], outs, padding)
    return outs
