"""Streaming readers for BigDL's CBC formats and a streaming multi-buffer writer.

Every BigDL format is "some header, one AES-CBC/PKCS5 ciphertext, maybe an
HMAC-SHA256 of the ciphertext". :class:`CbcRangeReader` reads any of them
in constant memory: a first pass hashes the ciphertext (no plaintext
leaves before the MAC matches), the second decrypts chunk by chunk through
the C core *and hashes again*, failing at the end if the file changed
between the passes. :func:`encrypt_parts` writes several common-format
part files from streams with the multi-buffer CBC kernel, a chunk of each
file per call, in bounded memory, each output published atomically.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import secrets
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from sealio.bigdl.common import HEADER_SIZE, MAC_SIZE, build_header, parse_header
from sealio.bigdl.keys import DataKey, KeySource, decode_primary_key
from sealio.errors import ConfigurationError, FormatError, IntegrityError, UnauthenticatedWarning
from sealio.primitives import AesCbc, aes_cbc_encrypt_many_into
from sealio.streams import _AtomicFileSink

__all__ = ["CbcRangeReader", "encrypt_parts", "open_common_stream", "open_legacy_stream",
           "open_native_stream"]

CHUNK = 1 << 20
WIDTH = 8
LEGACY_HEAD = 1 + 8 + 16
LEGACY_AES_BYTES = {"legacy-2.1": 32, "legacy-2.2": 16}

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
    :class:`UnauthenticatedWarning`; so does a format without a MAC.
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
                              UnauthenticatedWarning, stacklevel=4)
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


def _opened(file: Any) -> tuple[IO[bytes], bool, int, str]:
    f, owns = open_source(file)
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    return f, owns, size, str(getattr(f, "name", file if isinstance(file, (str, os.PathLike)) else "file"))


def open_common_stream(file: str | os.PathLike[str] | IO[bytes], keys: KeySource, *,
                       verify_mac: bool = True) -> CbcRangeReader:
    """A common-format part (key from its own header), streamed and verified."""
    f, owns, size, name = _opened(file)
    try:
        if size == 0:  # BigDL writes an empty partition as a 0-byte file
            return CbcRangeReader(f, owns, 0, 0, bytes(16), AesCbc(bytes(16)), mac_key=None, tag=None,
                                  what=name)
        if size < HEADER_SIZE + 16 + MAC_SIZE or (size - HEADER_SIZE - MAC_SIZE) % 16:
            raise IntegrityError(f"{name}: truncated or not a BigDL common-format file ({size} bytes)")
        header = parse_header(f.read(HEADER_SIZE), name)
        key = keys.decrypt_data_key(header.encrypted_data_key)
        key.warn_if_weak(name)
        f.seek(size - MAC_SIZE)
        tag = f.read(MAC_SIZE)
        return CbcRangeReader(f, owns, HEADER_SIZE, size - MAC_SIZE, header.iv, AesCbc(key.aes_key(16)),
                              mac_key=key.hmac_key, tag=tag, verify_mac=verify_mac, what=name)
    except BaseException:
        if owns:
            f.close()
        raise


def open_native_stream(file: str | os.PathLike[str] | IO[bytes], primary_key_b64: str) -> CbcRangeReader:
    """A native-format file (IV || CBC under the primary key), streamed;
    unauthenticated, as the format has no MAC (:class:`UnauthenticatedWarning`)."""
    key = decode_primary_key(primary_key_b64)
    f, owns, size, name = _opened(file)
    try:
        if size < 32 or size % 16:
            raise FormatError(f"{name}: not a BigDL native AES-CBC file ({size} bytes)")
        iv = f.read(16)
        return CbcRangeReader(f, owns, 16, size, iv, AesCbc(key), mac_key=None, tag=None, what=name)
    except BaseException:
        if owns:
            f.close()
        raise


def open_legacy_stream(file: str | os.PathLike[str] | IO[bytes], key: DataKey, version: str, *,
                       verify_mac: bool = True) -> CbcRangeReader:
    """A BigDL 2.1/2.2 file (0x80 || epoch || IV || CBC || HMAC), streamed and verified."""
    aes_bytes = LEGACY_AES_BYTES.get(version)
    if aes_bytes is None:
        raise ConfigurationError(f"unknown legacy version {version!r} (legacy-2.1 or legacy-2.2)")
    f, owns, size, name = _opened(file)
    try:
        head = f.read(LEGACY_HEAD)
        if size < LEGACY_HEAD + 16 + MAC_SIZE or head[0] != 0x80 or (size - LEGACY_HEAD - MAC_SIZE) % 16:
            raise FormatError(f"{name}: not a BigDL {version} file")
        key.warn_if_weak(name)
        f.seek(size - MAC_SIZE)
        tag = f.read(MAC_SIZE)
        return CbcRangeReader(f, owns, LEGACY_HEAD, size - MAC_SIZE, head[9:LEGACY_HEAD],
                              AesCbc(key.aes_key(aes_bytes)), mac_key=key.hmac_key, tag=tag,
                              verify_mac=verify_mac, what=name)
    except BaseException:
        if owns:
            f.close()
        raise


# ------------------------------------------------------------------ writing


@dataclass
class _Part:
    src: IO[bytes]
    left: int
    sink: _AtomicFileSink
    iv: bytes
    mac: Any
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)


def _fill_exact(f: IO[bytes], view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise OSError("a source file shrank while it was being encrypted")
        got += n


def encrypt_parts(jobs: Sequence[tuple[IO[bytes], int, str | os.PathLike[str]]], keys: KeySource, *,
                  chunk: int = CHUNK, width: int = WIDTH,
                  progress: Callable[[int], None] | None = None) -> str:
    """Encrypt ``(source, size, destination)`` streams into common-format
    part files under one new data key (as one BigDL write call; fresh IV
    each), ``width`` chains at a time through the multi-buffer CBC kernel.
    Each output appears atomically; a failing group publishes nothing.
    Returns the encryptedDataKey text (for ``.meta``)."""
    encrypted_key, key = keys.new_data_key()
    key.warn_if_weak("BigDL writer")
    chunk = max(16, chunk - chunk % 16)
    aes = AesCbc(key.aes_key(16))
    for lo in range(0, len(jobs), width):
        _encrypt_group(jobs[lo:lo + width], aes, key.hmac_key, encrypted_key, chunk, progress)
    return encrypted_key


def _encrypt_group(jobs: Sequence[tuple[IO[bytes], int, Any]], aes: AesCbc, hmac_key: bytes, edk: str,
                   chunk: int, progress: Callable[[int], None] | None) -> None:
    parts: list[_Part] = []
    try:
        for src, size, dst in jobs:
            iv = secrets.token_bytes(16)
            part = _Part(src, size, _AtomicFileSink(dst), iv, hmac.new(hmac_key, digestmod=hashlib.sha256))
            parts.append(part)
            if size:
                part.sink.write(memoryview(build_header(edk, iv)))
                part.inbuf = bytearray(min(size, chunk))
                part.outbuf = bytearray(AesCbc.encrypted_size(min(size, chunk)))
        active = [p for p in parts if p.left]
        while active:
            for final in (False, True):
                group = [p for p in active if (p.left <= chunk) == final]
                if not group:
                    continue
                views = []
                for p in group:
                    v = memoryview(p.inbuf)[:min(p.left, chunk)]
                    _fill_exact(p.src, v)
                    views.append(v)
                ns = aes_cbc_encrypt_many_into([(aes, p.iv, v) for p, v in zip(group, views)],
                                               [p.outbuf for p in group], padding=final)
                for p, v, n in zip(group, views, ns):
                    ct = memoryview(p.outbuf)[:n]
                    p.mac.update(ct)
                    p.sink.write(ct)
                    p.iv = bytes(ct[n - 16:n])
                    p.left -= len(v)
                    if final:
                        p.sink.write(memoryview(p.mac.digest()))
                    if progress is not None:
                        progress(len(v))
            active = [p for p in active if p.left]
        for p in parts:
            p.sink.publish()
    except BaseException:
        for p in parts:
            p.sink.abort()
        raise
