"""BigDL's other CBC layouts: "native" (``nativeaescbc``) and the 2.1/2.2
legacy files.

- native: ``IV(16) ‖ AES-CBC-PKCS5(key = base64-decoded primary key)``, no
  header and **no MAC**: it cannot be authenticated, so reading it warns
  (:class:`~sealio.errors.UnauthenticatedWarning`); migrate it.
- legacy: ``0x80 ‖ BE64 epoch seconds ‖ IV(16) ‖ CBC ciphertext ‖
  HMAC-SHA256(text[0:16], ciphertext)``; 2.2 uses AES-128 with
  text[16:32], 2.1 AES-256 with text[16:48] (zero-padded). The data key
  comes from a separate ``dataKey`` file, not from the part file.

Both are read by :mod:`sealio.bigdl.streaming`; the functions here take
whole files in memory.
"""

from __future__ import annotations

import hmac
import io
import os
import struct
import time
from hashlib import sha256

from sealio.bigdl.keys import DataKey, decode_primary_key
from sealio.errors import ConfigurationError
from sealio.primitives import AesCbc

IV_SIZE, MAC_SIZE, BLOCK = 16, 32, 16
LEGACY_MAGIC = 0x80
LEGACY_HEAD = 1 + 8 + IV_SIZE
LEGACY_AES_BYTES = {"legacy-2.1": 32, "legacy-2.2": 16}


def decrypt_native(data: bytes, primary_key_b64: str, *, name: str = "file") -> bytes:
    """A whole native file in memory (through the same reader as streams)."""
    from sealio.bigdl.streaming import open_native_stream

    with open_native_stream(io.BytesIO(data), primary_key_b64, name=name) as r:
        return r.read()


def encrypt_native(plaintext: bytes, primary_key_b64: str) -> bytes:
    iv = os.urandom(IV_SIZE)
    return iv + AesCbc(decode_primary_key(primary_key_b64)).encrypt(iv, plaintext, True)


def decrypt_legacy(data: bytes, key: DataKey, version: str, *, name: str = "file",
                   verify_mac: bool = True) -> bytes:
    """A whole legacy file in memory (through the same reader as streams)."""
    from sealio.bigdl.streaming import open_legacy_stream

    with open_legacy_stream(io.BytesIO(data), key, version, verify_mac=verify_mac, name=name) as r:
        return r.read()


def encrypt_legacy(plaintext: bytes, key: DataKey, version: str, *, epoch: int | None = None) -> bytes:
    aes_bytes = LEGACY_AES_BYTES.get(version)
    if aes_bytes is None:
        raise ConfigurationError(f"unknown legacy version {version!r} (legacy-2.1 or legacy-2.2)")
    iv = os.urandom(IV_SIZE)
    ct = AesCbc(key.aes_key(aes_bytes)).encrypt(iv, plaintext, True)
    head = bytes([LEGACY_MAGIC]) + struct.pack(">q", int(time.time()) if epoch is None else epoch) + iv
    return head + ct + hmac.new(key.hmac_key, ct, sha256).digest()
