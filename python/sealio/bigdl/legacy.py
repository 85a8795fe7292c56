"""BigDL's other CBC layouts: "native" (``nativeaescbc``) and the 2.1/2.2
legacy files.

- native: ``IV(16) ‖ AES-CBC-PKCS5(key = base64-decoded primary key)``, no
  header and **no MAC**: it cannot be authenticated, so reading it warns
  (:class:`~sealio.errors.UnauthenticatedWarning`); migrate it.
- legacy: ``0x80 ‖ BE64 epoch seconds ‖ IV(16) ‖ CBC ciphertext ‖
  HMAC-SHA256(text[0:16], ciphertext)``; 2.2 uses AES-128 with
  text[16:32], 2.1 AES-256 with text[16:48] (zero-padded). The data key
  comes from a separate ``dataKey`` file, not from the part file.

Both are small-file formats in practice; they are read whole.
"""

from __future__ import annotations

import hmac
import os
import struct
import time
import warnings
from hashlib import sha256

from sealio.bigdl.keys import DataKey, decode_primary_key
from sealio.errors import ConfigurationError, FormatError, IntegrityError, UnauthenticatedWarning
from sealio.primitives import AesCbc

IV_SIZE, MAC_SIZE, BLOCK = 16, 32, 16
LEGACY_MAGIC = 0x80
LEGACY_HEAD = 1 + 8 + IV_SIZE
LEGACY_AES_BYTES = {"legacy-2.1": 32, "legacy-2.2": 16}


def decrypt_native(data: bytes, primary_key_b64: str, *, name: str = "file") -> bytes:
    if len(data) < IV_SIZE + BLOCK or (len(data) - IV_SIZE) % BLOCK:
        raise FormatError(f"{name}: not a BigDL native AES-CBC file ({len(data)} bytes)")
    warnings.warn(f"{name}: BigDL native AES-CBC files carry no MAC; the plaintext is unauthenticated",
                  UnauthenticatedWarning, stacklevel=2)
    return AesCbc(decode_primary_key(primary_key_b64)).decrypt(data[:IV_SIZE], data[IV_SIZE:], True)


def encrypt_native(plaintext: bytes, primary_key_b64: str) -> bytes:
    iv = os.urandom(IV_SIZE)
    return iv + AesCbc(decode_primary_key(primary_key_b64)).encrypt(iv, plaintext, True)


def decrypt_legacy(data: bytes, key: DataKey, version: str, *, name: str = "file",
                   verify_mac: bool = True) -> bytes:
    aes_bytes = LEGACY_AES_BYTES.get(version)
    if aes_bytes is None:
        raise ConfigurationError(f"unknown legacy version {version!r} (legacy-2.1 or legacy-2.2)")
    if len(data) < LEGACY_HEAD + BLOCK + MAC_SIZE or data[0] != LEGACY_MAGIC or \
            (len(data) - LEGACY_HEAD - MAC_SIZE) % BLOCK:
        raise FormatError(f"{name}: not a BigDL {version} file")
    key.warn_if_weak(name)
    iv, ct, tag = data[9:LEGACY_HEAD], data[LEGACY_HEAD:-MAC_SIZE], data[-MAC_SIZE:]
    if verify_mac:
        if not hmac.compare_digest(hmac.new(key.hmac_key, ct, sha256).digest(), tag):
            raise IntegrityError(f"{name}: BigDL HMAC mismatch (modified, truncated, or wrong key)")
    else:
        warnings.warn(f"{name}: HMAC not verified (verify_mac=False)", UnauthenticatedWarning, stacklevel=2)
    return AesCbc(key.aes_key(aes_bytes)).decrypt(iv, ct, True)


def encrypt_legacy(plaintext: bytes, key: DataKey, version: str, *, epoch: int | None = None) -> bytes:
    aes_bytes = LEGACY_AES_BYTES.get(version)
    if aes_bytes is None:
        raise ConfigurationError(f"unknown legacy version {version!r} (legacy-2.1 or legacy-2.2)")
    iv = os.urandom(IV_SIZE)
    ct = AesCbc(key.aes_key(aes_bytes)).encrypt(iv, plaintext, True)
    head = bytes([LEGACY_MAGIC]) + struct.pack(">q", int(time.time()) if epoch is None else epoch) + iv
    return head + ct + hmac.new(key.hmac_key, ct, sha256).digest()
