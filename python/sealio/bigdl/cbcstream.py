"""Streaming AES-CBC/PKCS5 decryption of a byte range, HMAC-checked first.

Every BigDL format is "some header, one CBC ciphertext, maybe an
HMAC-SHA256 of the ciphertext". BigDL never really checks that MAC; this
reader does, before it returns a byte: a first pass hashes the ciphertext
(no plaintext leaves), the second decrypts chunk by chunk through the C
core and hashes again, failing at the end if the file changed in between.
Memory stays constant (two chunk buffers).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import warnings
from typing import IO, Any

from sealio.errors import IntegrityError, UnverifiedDataWarning
from sealio.primitives import AesCbc

__all__ = ["CbcRangeReader", "open_source"]

CHUNK = 1 << 20


def open_source(file: str | os.PathLike[str] | IO[bytes]) -> tuple[IO[bytes], bool]:
    """(binary file object, whether we own it)."""
    if isinstance(file, (str, os.PathLike)):
        return io.open(file, "rb"), True  # noqa: SIM115 - closed by the reader
    return file, False


def _read_exact(f: IO[bytes], view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise IntegrityError("the file is shorter than its layout says (truncated while reading)")
        got += n


class CbcRangeReader(io.RawIOBase):
    """Plaintext of ``file[start:end]`` (CBC ciphertext under ``iv``).

    With ``mac_key`` and ``tag`` the HMAC-SHA256 of that range must equal
    ``tag`` or :class:`IntegrityError` is raised before any plaintext is
    returned. ``verify_mac=False`` (salvage) skips it with an
    :class:`UnverifiedDataWarning`; so does a format without a MAC.
    """

    def __init__(self, f: IO[bytes], owns: bool, start: int, end: int, iv: bytes, aes: AesCbc, *,
                 mac_key: bytes | None, tag: bytes | None, verify_mac: bool = True,
                 what: str = "file", chunk: int = CHUNK) -> None:
        super().__init__()
        self._f, self._owns, self._what = f, owns, what
        self._start, self._end, self._pos = start, end, start
        self._iv, self._aes = bytes(iv), aes
        self._chunk = max(16, chunk - chunk % 16)
        self._ct = bytearray(self._chunk)
        self._pt = bytearray(self._chunk)
        self._pt_lo = self._pt_hi = 0
        self._done = end == start
        self._plain_total = 0
        try:
            length = end - start
            if length % 16 or (length == 0 and tag is not None):
                raise IntegrityError(f"{what}: the ciphertext is not a whole number of AES blocks (truncated?)")
            self._mac: Any = None
            if length == 0:  # BigDL writes an empty partition as a 0-byte file
                self._mac = None
            elif mac_key is None or tag is None or not verify_mac:
                reason = "verify_mac=False" if mac_key is not None else "the format has no MAC"
                warnings.warn(f"{what}: plaintext is not integrity-checked ({reason})",
                              UnverifiedDataWarning, stacklevel=4)
            else:
                self._tag, self._mac_key = bytes(tag), bytes(mac_key)
                if not hmac.compare_digest(self._hash_range(), self._tag):
                    raise IntegrityError(f"{what}: HMAC-SHA256 mismatch: tampered, truncated, "
                                         "or the wrong key")
                self._mac = hmac.new(self._mac_key, digestmod=hashlib.sha256)
            self._f.seek(start)
        except BaseException:
            self.close()
            raise

    def _hash_range(self) -> bytes:
        mac = hmac.new(self._mac_key, digestmod=hashlib.sha256)
        self._f.seek(self._start)
        view = memoryview(self._ct)
        left = self._end - self._start
        while left:
            n = min(left, len(view))
            _read_exact(self._f, view[:n])
            mac.update(view[:n])
            left -= n
        return mac.digest()

    def readable(self) -> bool:
        return True

    @property
    def plaintext_read(self) -> int:
        return self._plain_total

    def _fill(self) -> None:
        n = min(self._chunk, self._end - self._pos)
        last = self._pos + n == self._end
        ct = memoryview(self._ct)[:n]
        _read_exact(self._f, ct)
        self._pos += n
        if self._mac is not None:
            self._mac.update(ct)
            if last and not hmac.compare_digest(self._mac.digest(), self._tag):
                raise IntegrityError(f"{self._what}: the ciphertext changed while it was being read")
        got = self._aes.decrypt_into(self._iv, ct, self._pt, padding=last)
        self._iv = bytes(ct[n - 16:n])
        self._pt_lo, self._pt_hi = 0, got
        self._done = last

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        out = memoryview(buffer).cast("B")
        while self._pt_lo == self._pt_hi:
            if self._done:
                return 0
            self._fill()
        n = min(len(out), self._pt_hi - self._pt_lo)
        out[:n] = memoryview(self._pt)[self._pt_lo:self._pt_lo + n]
        self._pt_lo += n
        self._plain_total += n
        return n

    def close(self) -> None:
        if not self.closed and self._owns:
            self._f.close()
        super().close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._what!r}>"

    def __reduce__(self) -> Any:
        raise TypeError("a BigDL reader holds key material and cannot be pickled")
