"""BigDL's "common" format (the default since 2.3) — read and write.

Layout: ``uint32 BE L`` | ``uint32 BE 16`` | ``L`` bytes encryptedDataKey
(UTF-8) | IV (16) | ``0x80`` fill up to offset 400 | one AES-128-CBC/PKCS5
ciphertext | HMAC-SHA256(hmac_key, ciphertext). An empty part is a 0-byte
file. There is no magic number: :func:`looks_common` checks the shape.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import struct
from dataclasses import dataclass
from typing import IO, Any

from sealio.bigdl.cbcstream import CbcRangeReader, open_source
from sealio.bigdl.keys import KeySource, split_data_key
from sealio.errors import FormatError, IntegrityError
from sealio.primitives import AesCbc
from sealio.streams import _AtomicFileSink

__all__ = ["CommonHeader", "CommonWriter", "HEADER_SIZE", "MAC_SIZE", "build_header", "looks_common",
           "open_common", "parse_header", "read_header"]

HEADER_SIZE = 400
MAC_SIZE = 32
IV_SIZE = 16
MAX_EDK = HEADER_SIZE - 8 - IV_SIZE  # BigDL overflows the header beyond this


@dataclass(frozen=True)
class CommonHeader:
    encrypted_data_key: str
    iv: bytes

    def __repr__(self) -> str:  # the wrapped key is weakly protected: not shown
        return f"CommonHeader(encrypted_data_key=<{len(self.encrypted_data_key)} chars>)"


def build_header(encrypted_data_key: str, iv: bytes) -> bytes:
    edk = encrypted_data_key.encode("utf-8")
    if len(edk) > MAX_EDK:
        raise ValueError(f"an encryptedDataKey longer than {MAX_EDK} bytes does not fit BigDL's header")
    if len(iv) != IV_SIZE:
        raise ValueError("the IV must be 16 bytes")
    head = struct.pack(">II", len(edk), IV_SIZE) + edk + iv
    return head + b"\x80" * (HEADER_SIZE - len(head))


def parse_header(head: bytes) -> CommonHeader:
    if len(head) < HEADER_SIZE:
        raise FormatError("not a BigDL common-format file: shorter than its 400-byte header")
    length, iv_len = struct.unpack_from(">II", head)
    if iv_len != IV_SIZE or length > MAX_EDK:
        raise FormatError("not a BigDL common-format file: bad header lengths")
    try:
        edk = bytes(head[8:8 + length]).decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("not a BigDL common-format file: the encryptedDataKey is not UTF-8") from None
    return CommonHeader(edk, bytes(head[8 + length:8 + length + IV_SIZE]))


def looks_common(head: bytes, size: int) -> bool:
    """Whether the first bytes and the size have the common format's shape."""
    if size == 0:
        return True
    if size < HEADER_SIZE + 16 + MAC_SIZE or (size - HEADER_SIZE - MAC_SIZE) % 16 or len(head) < HEADER_SIZE:
        return False
    length, iv_len = struct.unpack_from(">II", head)
    if iv_len != IV_SIZE or length > MAX_EDK:
        return False
    return all(b == 0x80 for b in head[8 + length + IV_SIZE:HEADER_SIZE])


def read_header(file: str | os.PathLike[str] | IO[bytes]) -> CommonHeader | None:
    """The header of a part file (None for an empty part)."""
    f, owns = open_source(file)
    try:
        f.seek(0)
        head = f.read(HEADER_SIZE)
        return parse_header(head) if head else None
    finally:
        if owns:
            f.close()


def open_common(file: str | os.PathLike[str] | IO[bytes], keys: KeySource, *,
                verify_mac: bool = True, data_key: str | None = None) -> CbcRangeReader:
    """A readable binary stream of a common-format part file's plaintext.

    The data key is unwrapped from the file's own header (``data_key``
    overrides, e.g. from ``.meta``). The HMAC is verified before the first
    byte is returned (:class:`IntegrityError` otherwise) unless
    ``verify_mac=False``.
    """
    f, owns = open_source(file)
    try:
        size = f.seek(0, os.SEEK_END)
        f.seek(0)
        name = str(getattr(f, "name", "BigDL part file"))
        if size == 0:
            return CbcRangeReader(f, owns, 0, 0, bytes(16), AesCbc(bytes(16)), mac_key=None, tag=None,
                                  verify_mac=False, what=name)
        head = f.read(HEADER_SIZE)
        header = parse_header(head)
        if size < HEADER_SIZE + 16 + MAC_SIZE:
            raise IntegrityError(f"{name}: truncated (too short for a BigDL common-format file)")
        f.seek(size - MAC_SIZE)
        tag = f.read(MAC_SIZE)
        hmac_key, aes_key = split_data_key(data_key if data_key is not None else keys.unwrap(header.encrypted_data_key))
        return CbcRangeReader(f, owns, HEADER_SIZE, size - MAC_SIZE, header.iv, AesCbc(aes_key),
                              mac_key=hmac_key, tag=tag, verify_mac=verify_mac, what=name)
    except BaseException:
        if owns:
            f.close()
        raise


class CommonWriter:
    """Writes one common-format part file, streaming; published atomically
    on :meth:`close` (a file left empty becomes a 0-byte part, as in BigDL).

    Use as a context manager: an exception aborts and removes the output.
    """

    def __init__(self, path: str | os.PathLike[str], data_key: str, encrypted_data_key: str, *,
                 iv: bytes | None = None) -> None:
        hmac_key, aes_key = split_data_key(data_key)
        self._iv = bytes(iv) if iv is not None else secrets.token_bytes(IV_SIZE)
        self._header = build_header(encrypted_data_key, self._iv)
        self._aes = AesCbc(aes_key)
        self._mac = hmac.new(hmac_key, digestmod=hashlib.sha256)
        self._sink = _AtomicFileSink(path)
        self._tail = bytearray()
        self._out = bytearray()
        self._started = False
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if not self._started and len(view):
            self._sink.write(memoryview(self._header))
            self._started = True
        buf = self._tail + view if self._tail else view
        whole = len(buf) - len(buf) % 16
        if whole:
            self._encrypt(memoryview(buf)[:whole], padding=False)
        self._tail = bytearray(buf[whole:])
        return len(view)

    def _encrypt(self, plain: memoryview, padding: bool) -> None:
        need = AesCbc.encrypted_size(len(plain), padding)
        if len(self._out) < need:
            self._out = bytearray(need)
        n = self._aes.encrypt_into(self._iv, plain, self._out, padding)
        ct = memoryview(self._out)[:n]
        self._mac.update(ct)
        self._sink.write(ct)
        self._iv = bytes(ct[n - 16:n])

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._started:
                self._encrypt(memoryview(self._tail), padding=True)
                self._sink.write(memoryview(self._mac.digest()))
            self._sink.publish()
        except BaseException:
            self._sink.abort()
            raise
        finally:
            self.closed = True

    def abort(self) -> None:
        if not self.closed:
            self._sink.abort()
            self.closed = True

    def __enter__(self) -> CommonWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self) -> str:
        return "<CommonWriter>"

    def __reduce__(self) -> Any:
        raise TypeError("a BigDL writer holds key material and cannot be pickled")
