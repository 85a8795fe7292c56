"""BigDL PPML's "common" encrypted file format (BigDL >= 2.3, the default).

Layout (see docs/BIGDL.md): a 400-byte header ``BE32 L ‖ BE32 16 ‖
encryptedDataKey (L bytes, UTF-8) ‖ IV (16) ‖ 0x80 fill``, then one
AES-128-CBC/PKCS5 ciphertext of the whole plaintext, then
HMAC-SHA256(hmacKey, ciphertext). An empty plaintext is a 0-byte file.

Writers: :func:`encrypt_many` (whole plaintexts in memory),
:class:`CommonWriter` (one stream) and :func:`encrypt_parts` (several
streams at once through the multi-buffer CBC kernel, a chunk of each file
per call, in bounded memory, each output published atomically).

Unlike BigDL (whose check is inverted and over the plaintext), the reader
verifies the HMAC over the ciphertext *before* it releases any plaintext
(:class:`~sealio.bigdl._cbcfile.CbcFile`): a first streaming pass
authenticates, later reads re-check each chunk and decrypt it through the
C core. ``verify_mac=False`` is the explicit salvage opt-out.
"""

from __future__ import annotations

import hmac
import io
import os
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import IO, Any

from sealio.bigdl._cbcfile import CbcFile, opened
from sealio.bigdl._cbcwrite import encrypt_streams
from sealio.bigdl.keys import DataKey, KeySource
from sealio.errors import FormatError, IntegrityError
from sealio.hazmat import AesCbc, aes_cbc_encrypt_many

HEADER_SIZE = 400
IV_SIZE = 16
MAC_SIZE = 32
BLOCK = 16
FILL = 0x80
CHUNK = 4 << 20  # CommonWriter's streaming unit, a multiple of the block size
PART_CHUNK = 1 << 20  # encrypt_parts: bytes of each file per multi-buffer call
WIDTH = 8  # encrypt_parts: files encrypted side by side
_MAX_KEY_TEXT = HEADER_SIZE - 8 - IV_SIZE


@dataclass(frozen=True)
class Header:
    encrypted_data_key: str
    iv: bytes


def build_header(encrypted_data_key: str, iv: bytes) -> bytes:
    raw = encrypted_data_key.encode("utf-8")
    if len(raw) > _MAX_KEY_TEXT:
        raise FormatError(f"a BigDL encrypted data key longer than {_MAX_KEY_TEXT} bytes does not fit the header")
    head = struct.pack(">II", len(raw), IV_SIZE) + raw + iv
    return head + bytes([FILL]) * (HEADER_SIZE - len(head))


def parse_header(data: bytes, name: str = "file") -> Header:
    if len(data) < HEADER_SIZE:
        raise FormatError(f"{name}: shorter than BigDL's 400-byte header")
    key_len, iv_len = struct.unpack_from(">II", data)
    if iv_len != IV_SIZE or key_len > _MAX_KEY_TEXT:
        raise FormatError(f"{name}: not a BigDL common-format file (header lengths {key_len}/{iv_len})")
    try:
        key_text = data[8:8 + key_len].decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"{name}: BigDL header holds a data key that is not UTF-8 text") from None
    iv = bytes(data[8 + key_len:8 + key_len + IV_SIZE])
    return Header(key_text, iv)


def encrypted_size(plain_len: int) -> int:
    return 0 if plain_len == 0 else HEADER_SIZE + BLOCK * (plain_len // BLOCK + 1) + MAC_SIZE


class CommonReader(CbcFile):
    """Plaintext of one common-format file (key from its own header, or
    ``default_key`` when the header has none), seekable, authenticated
    before the first byte is returned (unless ``verify_mac=False``), in
    bounded memory (see :class:`CbcFile`)."""

    def __init__(self, f: IO[bytes], keys: KeySource, *, name: str = "file",
                 verify_mac: bool = True, owns: bool = False, default_key: str | None = None) -> None:
        try:
            size = f.seek(0, os.SEEK_END)
            if size == 0:  # BigDL writes an empty partition as a 0-byte file
                super().__init__(f, owns, 0, 0, bytes(IV_SIZE), AesCbc(bytes(16)), mac_key=None, tag=None,
                                 what=name)
                return
            if size < HEADER_SIZE + BLOCK + MAC_SIZE or (size - HEADER_SIZE - MAC_SIZE) % BLOCK:
                raise IntegrityError(f"{name}: truncated or not a BigDL common-format file ({size} bytes)")
            f.seek(0)
            header = parse_header(f.read(HEADER_SIZE), name)
            edk = header.encrypted_data_key or default_key
            if not edk:  # BigDL's Python generate_encrypted_file writes L = 0
                raise FormatError(f"{name}: the header carries no data key; give the directory's .meta "
                                  "(its encryptedDataKey) or --data-key-file")
            key = keys.decrypt_data_key(edk)
            key.warn_if_weak(name)
            f.seek(size - MAC_SIZE)
            tag = f.read(MAC_SIZE)
        except BaseException:
            if owns:
                f.close()
            raise
        super().__init__(f, owns, HEADER_SIZE, size - MAC_SIZE, header.iv, AesCbc(key.aes_key(16)),
                         mac_key=key.hmac_key, tag=tag, verify_mac=verify_mac, what=name)


def open_common(path: str | os.PathLike[str], keys: KeySource, *, verify_mac: bool = True) -> io.BufferedReader:
    """A common-format file as a buffered, seekable, authenticated stream."""
    f = open(path, "rb")  # noqa: SIM115 (owned by the reader)
    return io.BufferedReader(CommonReader(f, keys, name=os.fspath(path), verify_mac=verify_mac, owns=True),
                             buffer_size=1 << 20)


def open_common_stream(file: str | os.PathLike[str] | IO[bytes], keys: KeySource, *,
                       verify_mac: bool = True, name: str | None = None,
                       owns: bool | None = None, default_key: str | None = None) -> CbcFile:
    """A common-format part (key from its own header, else ``default_key``),
    verified, seekable."""
    f, owns, _, name = opened(file, name, owns)
    return CommonReader(f, keys, name=name, verify_mac=verify_mac, owns=owns, default_key=default_key)


def _tail_mac(key: DataKey, ct: bytes | bytearray | memoryview) -> bytes:
    return hmac.new(key.hmac_key, ct, sha256).digest()


def encrypt_bytes(plaintext: bytes, keys: KeySource) -> bytes:
    """One common-format file for ``plaintext``."""
    return encrypt_many([plaintext], keys)[0]


def encrypt_many(plaintexts: Sequence[Any], keys: KeySource) -> list[bytes]:
    """Several part files at once (one data key for the batch, as one BigDL
    write call uses): their CBC chains run interleaved in the C core's
    multi-buffer kernel instead of one serial chain after another."""
    encrypted_key, key = keys.new_data_key()
    key.warn_if_weak("BigDL writer")
    cbc = AesCbc(key.aes_key(16))
    jobs = [(cbc, os.urandom(IV_SIZE), p) for p in plaintexts]
    cts = aes_cbc_encrypt_many([j for j in jobs if len(memoryview(j[2]).cast("B"))])
    out, it = [], iter(cts)
    for _, iv, p in jobs:
        if not len(memoryview(p).cast("B")):
            out.append(b"")
            continue
        ct = next(it)
        out.append(build_header(encrypted_key, iv) + bytes(ct) + _tail_mac(key, ct))
    return out


class CommonWriter(io.RawIOBase):
    """Streaming common-format writer (constant memory); nothing is written
    for an empty plaintext, as in BigDL.

    ``write`` and ``close`` are serialised: the CBC chain's next IV is the
    last ciphertext block, so two unsynchronised writers would encrypt two
    chunks under one IV and interleave a corrupt chain.
    """

    def __init__(self, f: IO[bytes], keys: KeySource) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._f = f
        encrypted_key, key = keys.new_data_key()
        key.warn_if_weak("BigDL writer")
        self._key, self._encrypted_key = key, encrypted_key
        self._cbc = AesCbc(key.aes_key(16))
        self._iv = os.urandom(IV_SIZE)
        self._mac = hmac.new(key.hmac_key, digestmod=sha256)
        self._pending = bytearray()
        self._started = False

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = memoryview(b).cast("B")
        with self._lock:
            if self.closed:
                raise ValueError("write to closed BigDL writer")
            self._pending += data
            full = (len(self._pending) - 1) // BLOCK * BLOCK  # keep >= 1 byte for the padded tail
            if full >= CHUNK:
                self._emit(bytes(self._pending[:full]), padding=False)
                del self._pending[:full]
        return len(data)

    def _emit(self, plain: bytes, *, padding: bool) -> None:
        if not self._started:
            self._f.write(build_header(self._encrypted_key, self._iv))
            self._started = True
        ct = self._cbc.encrypt(self._iv, plain, padding)
        self._iv = ct[-BLOCK:]
        self._mac.update(ct)
        self._f.write(ct)

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            try:
                if self._pending or self._started:
                    self._emit(bytes(self._pending), padding=True)
                    self._f.write(self._mac.digest())
            finally:
                super().close()


# ------------------------------------------------------------ many streams


def encrypt_parts(jobs: Sequence[tuple[IO[bytes], int, str | os.PathLike[str]]], keys: KeySource, *,
                  chunk: int = PART_CHUNK, width: int = WIDTH,
                  progress: Callable[[int], None] | None = None) -> str:
    """Encrypt ``(source, size, destination)`` streams into common-format
    part files under one new data key (as one BigDL write call; fresh IV
    each), ``width`` chains at a time through the multi-buffer CBC kernel.
    Each output appears atomically; a failing group publishes nothing; an
    empty source gives a 0-byte file. Returns the encryptedDataKey text
    (for ``.meta``)."""
    encrypted_key, key = keys.new_data_key()
    key.warn_if_weak("BigDL writer")
    encrypt_streams(jobs, AesCbc(key.aes_key(16)), header=lambda iv: build_header(encrypted_key, iv),
                    hmac_key=key.hmac_key, chunk=chunk, width=width, progress=progress)
    return encrypted_key
