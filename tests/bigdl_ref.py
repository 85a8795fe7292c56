"""An independent reference for BigDL PPML's encrypted files, written from
shared/reference/bigdl-format.md with `cryptography` only (never imports
sealio), to check sealio.bigdl against."""

from __future__ import annotations

import base64
import hmac
import os
import struct
from hashlib import sha256

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def _cbc(key: bytes, iv: bytes, data: bytes, encrypt: bool) -> bytes:
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    if encrypt:
        p = padding.PKCS7(128).padder()
        e = c.encryptor()
        return e.update(p.update(data) + p.finalize()) + e.finalize()
    d = c.decryptor()
    u = padding.PKCS7(128).unpadder()
    return u.update(d.update(data) + d.finalize()) + u.finalize()


def keys_of(data_key_text: str, aes_len: int = 16) -> tuple[bytes, bytes]:
    s = data_key_text.encode()
    hmac_key = (s[0:16] + bytes(16))[:16]
    aes_key = (s[16:16 + aes_len] + bytes(aes_len))[:aes_len]
    return hmac_key, aes_key


# -- key sources

def primary_wrap(primary_b64: str, dk_text: str) -> str:
    k = base64.b64decode(primary_b64)
    p = padding.PKCS7(128).padder()
    e = Cipher(algorithms.AES(k), modes.ECB()).encryptor()
    return base64.b64encode(e.update(p.update(dk_text.encode()) + p.finalize()) + e.finalize()).decode()


def primary_unwrap(primary_b64: str, encrypted: str) -> str:
    k = base64.b64decode(primary_b64)
    d = Cipher(algorithms.AES(k), modes.ECB()).decryptor()
    u = padding.PKCS7(128).unpadder()
    return (u.update(d.update(base64.b64decode(encrypted)) + d.finalize()) + u.finalize()).decode()


def simple_wrap(pk: str, digits: str) -> str:
    out = ""
    for i in range(16):
        out += str(ord("0") + ((ord(pk[i]) - ord("0")) + (ord(digits[i]) - ord("0"))) % 10)
    return out


def simple_unwrap(pk: str, ct: str) -> str:
    out = ""
    for i in range(16):
        v = (ord(ct[i]) - 48) - (ord(pk[i]) - 48) + 10
        jmod = v - 10 * int(v / 10)  # Java: truncating division
        out += str(48 + jmod)
    return out


# -- common format

def common_encrypt(plain: bytes, encrypted_dk: str, dk_text: str, iv: bytes | None = None) -> bytes:
    if not plain:
        return b""
    iv = iv or os.urandom(16)
    raw = encrypted_dk.encode()
    header = struct.pack(">II", len(raw), 16) + raw + iv
    header += b"\x80" * (400 - len(header))
    hk, ak = keys_of(dk_text)
    ct = _cbc(ak, iv, plain, True)
    return header + ct + hmac.new(hk, ct, sha256).digest()


def common_decrypt(blob: bytes, dk_text_for: callable) -> bytes:  # type: ignore[valid-type]
    if not blob:
        return b""
    n, ivlen = struct.unpack(">II", blob[:8])
    assert ivlen == 16
    encrypted_dk = blob[8:8 + n].decode()
    iv = blob[8 + n:24 + n]
    ct, tag = blob[400:-32], blob[-32:]
    hk, ak = keys_of(dk_text_for(encrypted_dk))
    if not hmac.compare_digest(hmac.new(hk, ct, sha256).digest(), tag):
        raise ValueError("bad mac")
    return _cbc(ak, iv, ct, False)


def legacy_encrypt(plain: bytes, dk_text: str, aes_len: int, epoch: int = 1_600_000_000) -> bytes:
    iv = os.urandom(16)
    hk, ak = keys_of(dk_text, aes_len)
    ct = _cbc(ak, iv, plain, True)
    return b"\x80" + struct.pack(">q", epoch) + iv + ct + hmac.new(hk, ct, sha256).digest()


def native_encrypt(plain: bytes, primary_b64: str) -> bytes:
    iv = os.urandom(16)
    return iv + _cbc(base64.b64decode(primary_b64), iv, plain, True)


def native_decrypt(blob: bytes, primary_b64: str) -> bytes:
    return _cbc(base64.b64decode(primary_b64), blob[:16], blob[16:], False)
