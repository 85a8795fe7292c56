"""BigDL 2.1/2.2 ("legacy") files: ``0x80 ‖ BE64 epoch seconds ‖ IV(16) ‖
CBC ciphertext ‖ HMAC-SHA256(text[0:16], ciphertext)``; 2.2 uses AES-128
with text[16:32], 2.1 AES-256 with text[16:48] (zero-padded). The data key
comes from a separate ``dataKey`` file, not from the part file.

BigDL's legacy writers computed the MAC three ways (:data:`LEGACY_MACS`);
the reader accepts whichever the file carries (docs/BIGDL.md). A 0-byte
file is an empty partition, as in every BigDL format.
"""

from __future__ import annotations

import hmac
import io
import os
import struct
import time
from hashlib import sha256
from typing import IO

from sealio.bigdl._cbcfile import MAC_CIPHERTEXT, MAC_HEADER_CIPHERTEXT, MAC_UNPADDED, CbcFile, opened
from sealio.bigdl.keys import DataKey
from sealio.errors import ConfigurationError, FormatError
from sealio.hazmat import AesCbc

IV_SIZE, MAC_SIZE, BLOCK = 16, 32, 16
LEGACY_MAGIC = 0x80
LEGACY_HEAD = 1 + 8 + IV_SIZE
LEGACY_AES_BYTES = {"legacy-2.1": 32, "legacy-2.2": 16}
# BigDL's legacy writers: HMAC over the ciphertext; over header and ciphertext (FernetEncrypt);
# over the ciphertext without its padding bytes (the streaming writer)
LEGACY_MACS = (MAC_CIPHERTEXT, MAC_HEADER_CIPHERTEXT, MAC_UNPADDED)


def _aes_bytes(version: str) -> int:
    aes_bytes = LEGACY_AES_BYTES.get(version)
    if aes_bytes is None:
        raise ConfigurationError(f"unknown legacy version {version!r} (legacy-2.1 or legacy-2.2)")
    return aes_bytes


def open_legacy_stream(file: str | os.PathLike[str] | IO[bytes], key: DataKey, version: str, *,
                       verify_mac: bool = True, name: str | None = None,
                       owns: bool | None = None) -> CbcFile:
    """A BigDL 2.1/2.2 file (0x80 || epoch || IV || CBC || HMAC), verified
    under whichever of BigDL's legacy MAC constructions it carries."""
    aes_bytes = _aes_bytes(version)
    f, owns, size, name = opened(file, name, owns)
    try:
        if size == 0:  # an empty partition, as in every BigDL format
            return CbcFile.empty(f, owns, name)
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


def decrypt_legacy(data: bytes, key: DataKey, version: str, *, name: str = "file",
                   verify_mac: bool = True) -> bytes:
    """A whole legacy file in memory (through the same reader as streams)."""
    with open_legacy_stream(io.BytesIO(data), key, version, verify_mac=verify_mac, name=name) as r:
        return r.read()


def encrypt_legacy(plaintext: bytes, key: DataKey, version: str, *, epoch: int | None = None) -> bytes:
    aes_bytes = _aes_bytes(version)
    iv = os.urandom(IV_SIZE)
    ct = AesCbc(key.aes_key(aes_bytes)).encrypt(iv, plaintext, True)
    head = bytes([LEGACY_MAGIC]) + struct.pack(">q", int(time.time()) if epoch is None else epoch) + iv
    return head + ct + hmac.new(key.hmac_key, ct, sha256).digest()
