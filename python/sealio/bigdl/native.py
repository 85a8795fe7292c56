"""BigDL's "native" format (``nativeaescbc``): ``IV(16) ‖
AES-CBC-PKCS5(key = base64-decoded primary key)``, no header and **no
MAC**. It cannot be authenticated, so reading it warns
(:class:`~sealio.errors.UnauthenticatedWarning`); migrate it. A 0-byte
file is BigDL's empty partition and reads as empty; any other file shorter
than IV plus one block is refused.

Under a KMS, BigDL's writer uses the base64-decoded KMS data key instead of
the primary key and records the wrapped key in ``.meta``
(:func:`sealio.bigdl.config.native_write_key`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from typing import IO

from sealio.bigdl._cbcfile import CbcFile, opened
from sealio.bigdl._cbcwrite import encrypt_streams
from sealio.bigdl.keys import decode_primary_key
from sealio.errors import FormatError
from sealio.hazmat import AesCbc

IV_SIZE = 16
PART_CHUNK = 1 << 20  # encrypt_parts: bytes of each file per multi-buffer call
WIDTH = 8  # encrypt_parts: files encrypted side by side


def open_native_stream(file: str | os.PathLike[str] | IO[bytes], primary_key_b64: str, *,
                       name: str | None = None, owns: bool | None = None) -> CbcFile:
    """A native-format file (IV || CBC under the primary key), streamed;
    unauthenticated, as the format has no MAC (:class:`UnauthenticatedWarning`)."""
    key = decode_primary_key(primary_key_b64)
    f, owns, size, name = opened(file, name, owns)
    try:
        if size == 0:  # BigDL's empty partition
            return CbcFile.empty(f, owns, name)
        if size < 32 or size % 16:
            raise FormatError(f"{name}: not a BigDL native AES-CBC file ({size} bytes)")
        iv = f.read(16)
        return CbcFile(f, owns, 16, size, iv, AesCbc(key), mac_key=None, tag=None, what=name)
    except BaseException:
        if owns:
            f.close()
        raise


def decrypt_native(data: bytes, primary_key_b64: str, *, name: str = "file") -> bytes:
    """A whole native file in memory (through the same reader as streams)."""
    with open_native_stream(io.BytesIO(data), primary_key_b64, name=name) as r:
        return r.read()


def encrypt_native(plaintext: bytes, primary_key_b64: str) -> bytes:
    iv = os.urandom(IV_SIZE)
    return iv + AesCbc(decode_primary_key(primary_key_b64)).encrypt(iv, plaintext, True)


def encrypt_parts(jobs: Sequence[tuple[IO[bytes], int, str | os.PathLike[str]]], aes_key: bytes, *,
                  chunk: int = PART_CHUNK, width: int = WIDTH,
                  progress: Callable[[int], None] | None = None) -> None:
    """Encrypt ``(source, size, destination)`` streams into native part files
    (``IV ‖ CBC``, a fresh IV each) under ``aes_key``, ``width`` chains at a
    time through the multi-buffer CBC kernel. Each output appears
    atomically; an empty source gives a 0-byte file, as BigDL's Spark
    writer leaves an empty partition."""
    if len(aes_key) not in (16, 24, 32):
        raise ValueError("a native-format AES key is 16, 24 or 32 bytes")
    encrypt_streams(jobs, AesCbc(aes_key), header=lambda iv: iv, hmac_key=None, chunk=chunk, width=width,
                    progress=progress)
