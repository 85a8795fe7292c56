"""A second independent reference for BigDL PPML's files and keys (cross-check).

Written from the layout notes of BigDL 2.4.0 (common, native and legacy
formats; plaintext primary key, SimpleKeyManagementService) with
``cryptography`` and the standard library only: it never imports sealio,
so a mistake would have to be made twice to go unnoticed. Whole files in
memory, deliberately plain. Written separately from ``bigdl_ref.py`` (by
another author, from the same notes), so the two references and sealio
have to agree three ways. Unlike BigDL itself, :func:`common_decrypt`
checks the HMAC (over the ciphertext) and raises :class:`RefError`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

COMMON_HEADER = 400


class RefError(Exception):
    pass


# ------------------------------------------------------------------ ciphers


def _pkcs5_pad(data: bytes) -> bytes:
    p = padding.PKCS7(128).padder()
    return p.update(data) + p.finalize()


def _pkcs5_unpad(data: bytes) -> bytes:
    u = padding.PKCS7(128).unpadder()
    try:
        return u.update(data) + u.finalize()
    except ValueError as e:
        raise RefError("bad padding") from e


def cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return e.update(_pkcs5_pad(plaintext)) + e.finalize()


def cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    if not ciphertext or len(ciphertext) % 16:
        raise RefError("ciphertext is not whole blocks")
    d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return _pkcs5_unpad(d.update(ciphertext) + d.finalize())


def _ecb(key: bytes, data: bytes, encrypt: bool) -> bytes:
    c = Cipher(algorithms.AES(key), modes.ECB())
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


def _copy_of_range(b: bytes, lo: int, hi: int) -> bytes:
    """Java Arrays.copyOfRange: zero-padded when the source is short."""
    part = b[lo:hi]
    return part + b"\x00" * (hi - lo - len(part))


def split_data_key(data_key: str, aes_len: int = 16) -> tuple[bytes, bytes]:
    """(hmac key, aes key) from the data-key *string*: its ASCII bytes."""
    secret = data_key.encode("ascii")
    return _copy_of_range(secret, 0, 16), _copy_of_range(secret, 16, 16 + aes_len)


# ----------------------------------------------------------- key sources


def plaintext_wrap(primary_b64: str, data_key: str) -> str:
    pk = base64.b64decode(primary_b64)
    return base64.b64encode(_ecb(pk, _pkcs5_pad(data_key.encode("utf-8")), True)).decode()


def plaintext_unwrap(primary_b64: str, encrypted: str) -> str:
    pk = base64.b64decode(primary_b64)
    return _pkcs5_unpad(_ecb(pk, base64.b64decode(encrypted), False)).decode("utf-8")


def plaintext_new_data_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def _java_mod(a: int, b: int) -> int:
    r = abs(a) % b
    return -r if a < 0 else r


def simple_wrap(primary: str, data_key: str) -> str:
    """Scala: ct += '0' + ((pk(i)-'0') + (d(i)-'0')) % 10, Char+Int is an Int
    so its decimal text is appended."""
    return "".join(str(48 + _java_mod((ord(primary[i]) - 48) + (ord(data_key[i]) - 48), 10))
                   for i in range(16))


def simple_unwrap(primary: str, encrypted: str) -> str:
    return "".join(str(48 + _java_mod((ord(encrypted[i]) - 48) - (ord(primary[i]) - 48) + 10, 10))
                   for i in range(16))


# ------------------------------------------------------------------ formats


def common_encrypt(data_key: str, encrypted_data_key: str, iv: bytes, plaintext: bytes) -> bytes:
    if not plaintext:
        return b""
    hmac_key, aes_key = split_data_key(data_key)
    edk = encrypted_data_key.encode("utf-8")
    header = struct.pack(">II", len(edk), 16) + edk + iv
    header += b"\x80" * (COMMON_HEADER - len(header))
    ct = cbc_encrypt(aes_key, iv, plaintext)
    return header + ct + hmac.new(hmac_key, ct, hashlib.sha256).digest()


def common_header(blob: bytes) -> tuple[str, bytes]:
    length, ivlen = struct.unpack(">II", blob[:8])
    if ivlen != 16 or length > COMMON_HEADER - 24:
        raise RefError("bad header")
    return blob[8:8 + length].decode("utf-8"), blob[8 + length:24 + length]


def common_decrypt(data_key: str, blob: bytes) -> bytes:
    if not blob:
        return b""
    if len(blob) < COMMON_HEADER + 48:
        raise RefError("truncated")
    _, iv = common_header(blob)
    hmac_key, aes_key = split_data_key(data_key)
    ct, tag = blob[COMMON_HEADER:-32], blob[-32:]
    if not hmac.compare_digest(hmac.new(hmac_key, ct, hashlib.sha256).digest(), tag):
        raise RefError("hmac mismatch")
    return cbc_decrypt(aes_key, iv, ct)


def native_encrypt(primary_b64: str, iv: bytes, plaintext: bytes) -> bytes:
    return iv + cbc_encrypt(base64.b64decode(primary_b64), iv, plaintext)


def legacy_encrypt(data_key: str, version: str, epoch: int, iv: bytes, plaintext: bytes) -> bytes:
    hmac_key, aes_key = split_data_key(data_key, 32 if version == "2.1" else 16)
    ct = cbc_encrypt(aes_key, iv, plaintext)
    return b"\x80" + struct.pack(">q", epoch) + iv + ct + hmac.new(hmac_key, ct, hashlib.sha256).digest()


def legacy_encrypt_fernet(data_key: str, epoch: int, iv: bytes, plaintext: bytes) -> bytes:
    """FernetEncrypt.encryptContent: AES-128 (text[16:32]); the HMAC covers
    version, timestamp, IV and ciphertext, as in Fernet tokens."""
    hmac_key, aes_key = split_data_key(data_key, 16)
    body = b"\x80" + struct.pack(">q", epoch) + iv + cbc_encrypt(aes_key, iv, plaintext)
    return body + hmac.new(hmac_key, body, hashlib.sha256).digest()


def legacy_encrypt_stream(data_key: str, epoch: int, iv: bytes, plaintext: bytes, piece: int = 8192) -> bytes:
    """The 25-byte-header BigDLEncrypt writer fed in ``piece``-byte writes:
    update() hashes each piece's ciphertext, doFinal() hashes only the
    first ``len(last piece)`` bytes of the final ciphertext, so the MAC
    leaves out the padding bytes."""
    hmac_key, aes_key = split_data_key(data_key, 16)
    ct = cbc_encrypt(aes_key, iv, plaintext)
    mac = hmac.new(hmac_key, digestmod=hashlib.sha256)
    full = (len(plaintext) - 1) // piece * piece if plaintext else 0
    mac.update(ct[:full])  # each update: as many ciphertext bytes as plaintext bytes (pieces are 16-aligned)
    mac.update(ct[full:len(plaintext)])  # doFinal: cipherText.slice(0, len)
    return b"\x80" + struct.pack(">q", epoch) + iv + ct + mac.digest()


def legacy_decrypt(data_key: str, version: str, blob: bytes) -> bytes:
    hmac_key, aes_key = split_data_key(data_key, 32 if version == "2.1" else 16)
    iv, ct, tag = blob[9:25], blob[25:-32], blob[-32:]
    if not hmac.compare_digest(hmac.new(hmac_key, ct, hashlib.sha256).digest(), tag):
        raise RefError("hmac mismatch")
    return cbc_decrypt(aes_key, iv, ct)


def meta_text(encrypted_data_key: str) -> str:
    """Jackson's pretty print of the per-directory .meta file."""
    return '{\n  "encryptedDataKey" : "' + encrypted_data_key + '"\n}\n'


def inmemory_kms_wrap(master: bytes, key: bytes, master_id: str, nonce: bytes) -> str:
    """parquet-mr InMemoryKMS: base64(nonce || AES-GCM(master, key, aad=id) || tag)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return base64.b64encode(nonce + AESGCM(master).encrypt(nonce, key, master_id.encode())).decode()


def inmemory_kms_unwrap(master: bytes, wrapped: str, master_id: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    blob = base64.b64decode(wrapped)
    return AESGCM(master).decrypt(blob[:12], blob[12:], master_id.encode())


def parquet_master_keys(data_key: str) -> dict[str, bytes]:
    """BigDL's key.list: footerKey = text[0:16], key1 = text[16:32]."""
    raw = data_key.encode("utf-8")
    return {"footerKey": raw[0:16], "key1": raw[16:32]}
