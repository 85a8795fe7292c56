"""The ``cryptography`` (OpenSSL) implementation behind the same interface
as the C core: used where AES-NI is absent or ``SEALIO_KERNEL=fallback``."""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealio.hazmat import buffers as _buffers
from sealio.hazmat.segments import TAG_SIZE as TAG
from sealio.hazmat.segments import sealed_count, sealed_offset, sealed_size, segment_count, stream_nonce
from sealio.errors import IntegrityError


def _wipe(out: memoryview, n: int) -> None:
    """Match the C core: a failed check leaves the output range zeroed."""
    out[:n] = bytes(n)


class FallbackGcm:
    __slots__ = ("_aead", "kernel")

    def __init__(self, key: memoryview, kernel: str = "fallback") -> None:
        self._aead = AESGCM(bytes(key))
        self.kernel = kernel

    def encrypt(self, nonce: memoryview, aad: memoryview, src: memoryview, out: memoryview) -> None:
        n = src.nbytes + TAG
        _buffers.check_overlap(_buffers.span("out", out, n), _buffers.span("plaintext", src),
                               (_buffers.span("nonce", nonce), _buffers.span("aad", aad)))
        out[:n] = self._aead.encrypt(bytes(nonce), src, bytes(aad))

    def decrypt(self, nonce: memoryview, aad: memoryview, src: memoryview, out: memoryview) -> None:
        _buffers.check_overlap(_buffers.span("out", out, src.nbytes - TAG), _buffers.span("data", src),
                               (_buffers.span("nonce", nonce), _buffers.span("aad", aad)))
        try:
            pt = self._aead.decrypt(bytes(nonce), src, bytes(aad))
        except InvalidTag:
            _wipe(out, src.nbytes - TAG)
            raise IntegrityError("AES-GCM authentication failed") from None
        out[: len(pt)] = pt

    def _nonces(self, count: int, prefix, nonces, first_index: int, final: bool):
        for i in range(count):
            if nonces is not None:
                yield bytes(nonces[12 * i : 12 * i + 12])
            else:
                yield stream_nonce(prefix, first_index + i, final and i == count - 1)

    @staticmethod
    def _keys(prefix: memoryview | None, nonces: memoryview | None,
              aad: memoryview) -> tuple[_buffers.Span, ...]:
        return (_buffers.span("prefix", prefix), _buffers.span("nonces", nonces),
                _buffers.span("aad", aad))

    def seal_segments(self, src: memoryview, out: memoryview, segment_size: int, *,
                      prefix, nonces, first_index: int, final: bool, aad: memoryview,
                      threads: int) -> int:
        count = segment_count(src.nbytes, segment_size)
        total = sealed_size(src.nbytes, segment_size)
        _buffers.check_overlap(_buffers.span("out", out, total), _buffers.span("plaintext", src),
                               self._keys(prefix, nonces, aad))
        # Last segment first: in place, segment i's output covers the start
        # of segment i+1's plaintext, which must already be sealed by then.
        all_nonces = list(self._nonces(count, prefix, nonces, first_index, final))
        for i in reversed(range(count)):
            chunk = src[i * segment_size : (i + 1) * segment_size]
            sealed = self._aead.encrypt(all_nonces[i], chunk, bytes(aad))
            pos = sealed_offset(i, segment_size)
            out[pos : pos + len(sealed)] = sealed
        return total

    def open_segments(self, src: memoryview, out: memoryview, segment_size: int, *,
                      prefix, nonces, first_index: int, final: bool, aad: memoryview,
                      threads: int) -> int:
        sealed = segment_size + TAG
        count = sealed_count(src.nbytes, segment_size)
        _buffers.check_overlap(_buffers.span("out", out, src.nbytes - TAG * count),
                               _buffers.span("data", src), self._keys(prefix, nonces, aad))
        # First segment first: in place, each plaintext lands at or before
        # its ciphertext, over segments already opened.
        pos = 0
        for i, nonce in enumerate(self._nonces(count, prefix, nonces, first_index, final)):
            try:
                pt = self._aead.decrypt(nonce, src[i * sealed : (i + 1) * sealed], bytes(aad))
            except InvalidTag:
                _wipe(out, src.nbytes - TAG * count)
                raise IntegrityError(f"segment {first_index + i} failed authentication") from None
            out[pos : pos + len(pt)] = pt
            pos += len(pt)
        return pos


class FallbackCbc:
    __slots__ = ("_key", "kernel")

    def __init__(self, key: memoryview, kernel: str = "fallback") -> None:
        self._key = algorithms.AES(bytes(key))
        self.kernel = kernel

    def encrypt(self, iv: memoryview, src: memoryview, out: memoryview, padding: bool) -> int:
        n = (src.nbytes // 16 + 1) * 16 if padding else src.nbytes
        _buffers.check_overlap(_buffers.span("out", out, n), _buffers.span("plaintext", src),
                               (_buffers.span("iv", iv),))
        data = bytes(src)
        if padding:
            padder = sym_padding.PKCS7(128).padder()
            data = padder.update(data) + padder.finalize()
        enc = Cipher(self._key, modes.CBC(bytes(iv))).encryptor()
        ct = enc.update(data) + enc.finalize()
        out[: len(ct)] = ct
        return len(ct)

    def decrypt(self, iv: memoryview, src: memoryview, out: memoryview, padding: bool) -> int:
        _buffers.check_overlap(_buffers.span("out", out, src.nbytes), _buffers.span("ciphertext", src),
                               (_buffers.span("iv", iv),))
        dec = Cipher(self._key, modes.CBC(bytes(iv))).decryptor()
        pt = dec.update(bytes(src)) + dec.finalize()
        if padding:
            unpadder = sym_padding.PKCS7(128).unpadder()
            try:
                pt = unpadder.update(pt) + unpadder.finalize()
            except ValueError:
                _wipe(out, src.nbytes)
                raise IntegrityError("AES-CBC padding is invalid") from None
        out[: len(pt)] = pt
        return len(pt)
