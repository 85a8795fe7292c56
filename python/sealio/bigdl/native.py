"""BigDL's "native" format (``nativeaescbc``): ``IV(16) ‖
AES-CBC-PKCS5(key = base64-decoded primary key)``, no header and **no
MAC**. It cannot be authenticated, so reading it warns
(:class:`~sealio.errors.UnauthenticatedWarning`); migrate it.
"""

from __future__ import annotations

import io
import os
from typing import IO

from sealio.bigdl._cbcfile import CbcFile, opened
from sealio.bigdl.keys import decode_primary_key
from sealio.errors import FormatError
from sealio.hazmat import AesCbc

IV_SIZE = 16


def open_native_stream(file: str | os.PathLike[str] | IO[bytes], primary_key_b64: str, *,
                       name: str | None = None, owns: bool | None = None) -> CbcFile:
    """A native-format file (IV || CBC under the primary key), streamed;
    unauthenticated, as the format has no MAC (:class:`UnauthenticatedWarning`)."""
    key = decode_primary_key(primary_key_b64)
    f, owns, size, name = opened(file, name, owns)
    try:
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
