"""Readers for each of BigDL's CBC formats and a streaming multi-buffer writer.

Every BigDL format is "some header, one AES-CBC/PKCS5 ciphertext, maybe an
HMAC-SHA256 of the ciphertext"; the ``open_*_stream`` functions parse the
header and hand the ciphertext to :class:`~sealio.bigdl._cbcfile.CbcFile`,
which authenticates it in a first pass (no plaintext leaves before the MAC
matches) and then serves seekable reads, re-checking each chunk against
the state saved in that pass. :func:`encrypt_parts` writes several common-format
part files from streams with the multi-buffer CBC kernel, a chunk of each
file per call, in bounded memory, each output published atomically.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from sealio.bigdl._cbcfile import MAC_CIPHERTEXT, MAC_HEADER_CIPHERTEXT, MAC_UNPADDED, CbcFile, read_exact
from sealio.bigdl.common import MAC_SIZE, CommonReader, build_header
from sealio.bigdl.keys import DataKey, KeySource, decode_primary_key
from sealio.bigdl.legacy import LEGACY_AES_BYTES, LEGACY_HEAD, LEGACY_MAGIC
from sealio.errors import ConfigurationError, FormatError
from sealio.primitives import AesCbc, aes_cbc_encrypt_many_into
from sealio.streams import _AtomicFileSink

__all__ = ["CbcFile", "encrypt_parts", "open_common_stream", "open_legacy_stream",
           "open_native_stream"]

CHUNK = 1 << 20
WIDTH = 8
# BigDL's legacy writers: HMAC over the ciphertext; over header and ciphertext (FernetEncrypt);
# over the ciphertext without its padding bytes (the streaming writer)
LEGACY_MACS = (MAC_CIPHERTEXT, MAC_HEADER_CIPHERTEXT, MAC_UNPADDED)


def open_source(file: str | os.PathLike[str] | IO[bytes]) -> tuple[IO[bytes], bool]:
    """(binary file object, whether we opened it). The ``open_*_stream``
    functions close a file they opened; ``owns=True`` hands them a file
    object to close as well."""
    if isinstance(file, (str, os.PathLike)):
        return open(file, "rb"), True  # noqa: SIM115 - closed by the reader
    return file, False


def _opened(file: Any, name: str | None, owns: bool | None) -> tuple[IO[bytes], bool, int, str]:
    f, opened = open_source(file)
    owns = opened if owns is None else owns
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    if name is None:
        name = str(getattr(f, "name", file if isinstance(file, (str, os.PathLike)) else "file"))
    return f, owns, size, name


def open_common_stream(file: str | os.PathLike[str] | IO[bytes], keys: KeySource, *,
                       verify_mac: bool = True, name: str | None = None,
                       owns: bool | None = None, default_key: str | None = None) -> CbcFile:
    """A common-format part (key from its own header, else ``default_key``),
    verified, seekable."""
    f, owns, _, name = _opened(file, name, owns)
    return CommonReader(f, keys, name=name, verify_mac=verify_mac, owns=owns, default_key=default_key)


def open_native_stream(file: str | os.PathLike[str] | IO[bytes], primary_key_b64: str, *,
                       name: str | None = None, owns: bool | None = None) -> CbcFile:
    """A native-format file (IV || CBC under the primary key), streamed;
    unauthenticated, as the format has no MAC (:class:`UnauthenticatedWarning`)."""
    key = decode_primary_key(primary_key_b64)
    f, owns, size, name = _opened(file, name, owns)
    try:
        if size < 32 or size % 16:
            raise FormatError(f"{name}: not a BigDL native AES-CBC file ({size} bytes)")
        iv = f.read(16)
        return CbcFile(f, owns, 16, size, iv, AesCbc(key), mac_key=None, tag=None, what=name)
    except BaseException:
        if owns:
            f.close()
        raise


def open_legacy_stream(file: str | os.PathLike[str] | IO[bytes], key: DataKey, version: str, *,
                       verify_mac: bool = True, name: str | None = None,
                       owns: bool | None = None) -> CbcFile:
    """A BigDL 2.1/2.2 file (0x80 || epoch || IV || CBC || HMAC), verified
    under whichever of BigDL's legacy MAC constructions it carries."""
    aes_bytes = LEGACY_AES_BYTES.get(version)
    if aes_bytes is None:
        raise ConfigurationError(f"unknown legacy version {version!r} (legacy-2.1 or legacy-2.2)")
    f, owns, size, name = _opened(file, name, owns)
    try:
        head = f.read(LEGACY_HEAD)
        if size < LEGACY_HEAD + 16 + MAC_SIZE or head[0] != LEGACY_MAGIC or (size - LEGACY_HEAD - MAC_SIZE) % 16:
            raise FormatError(f"{name}: not a BigDL {version} file")
        key.warn_if_weak(name)
        f.seek(size - MAC_SIZE)
        tag = f.read(MAC_SIZE)
        return CbcFile(f, owns, LEGACY_HEAD, size - MAC_SIZE, head[9:LEGACY_HEAD],
                       AesCbc(key.aes_key(aes_bytes)), mac_key=key.hmac_key, tag=tag,
                       verify_mac=verify_mac, macs=LEGACY_MACS, header=head, what=name)
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


def _source_shrank() -> OSError:
    return OSError("a source file shrank while it was being encrypted")


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
                    read_exact(p.src, v, _source_shrank)
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
