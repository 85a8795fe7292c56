"""Parquet files BigDL wrote with Parquet Modular Encryption, and its key mapping.

BigDL configures parquet-mr's PropertiesDrivenCryptoFactory with the
test-only InMemoryKMS: master keys ``footerKey`` = data-key text[0:16] and
``key1`` = text[16:32] (UTF-8 bytes), ``column.keys = key1: <every
top-level column>``, ``footer.key = footerKey``; defaults otherwise
(encrypted footer, double wrapping, internal key material, 128-bit keys).
InMemoryKMS wraps as base64(nonce12 || AES-GCM(master, key, aad=UTF-8(id))
|| tag16). The data key's encrypted text is in the directory's ``.meta``.
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealio.bigdl.keys import KeySource
from sealio.bigdl.meta import read_meta, write_meta
from sealio.errors import FormatError, IntegrityError

__all__ = ["BigdlInMemoryKms", "master_keys", "read_bigdl_parquet", "write_bigdl_parquet"]

FOOTER_KEY, COLUMN_KEY = "footerKey", "key1"
ALGORITHMS = {"aes_gcm_v1": "AES_GCM_V1", "aes_gcm_ctr_v1": "AES_GCM_CTR_V1"}


def master_keys(data_key: str) -> dict[str, bytes]:
    """BigDL's ``parquet.encryption.key.list`` for a data-key string."""
    raw = data_key.encode("utf-8")
    keys = {FOOTER_KEY: raw[0:16], COLUMN_KEY: raw[16:32]}
    if any(len(k) != 16 for k in keys.values()):
        raise FormatError("this data key is too short for BigDL's Parquet keys (needs 32 characters)")
    return keys


class BigdlInMemoryKms(pe.KmsClient):
    """parquet-mr's InMemoryKMS wrapping, for pyarrow's CryptoFactory."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        super().__init__()
        self._keys = keys

    def _master(self, name: str) -> AESGCM:
        try:
            return AESGCM(self._keys[name])
        except KeyError:
            raise FormatError(f"BigDL Parquet files use master keys footerKey and key1, not {name!r}") from None

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        nonce = secrets.token_bytes(12)
        ct = self._master(master_key_identifier).encrypt(nonce, bytes(key_bytes), master_key_identifier.encode())
        return base64.b64encode(nonce + ct).decode()

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        try:
            blob = base64.b64decode(wrapped_key, validate=True)
            return self._master(master_key_identifier).decrypt(blob[:12], blob[12:],
                                                               master_key_identifier.encode())
        except (InvalidTag, ValueError):
            raise IntegrityError("a Parquet key does not unwrap under this BigDL data key") from None

    def __repr__(self) -> str:
        return "BigdlInMemoryKms(<redacted>)"


def _factory(data_key: str) -> pe.CryptoFactory:
    keys = master_keys(data_key)
    return pe.CryptoFactory(lambda _config: BigdlInMemoryKms(keys))


def decryption_properties(data_key: str) -> Any:
    return _factory(data_key).file_decryption_properties(pe.KmsConnectionConfig(), pe.DecryptionConfiguration())


def encryption_properties(data_key: str, columns: list[str], crypto_mode: str = "aes_gcm_v1") -> Any:
    try:
        algorithm = ALGORITHMS[crypto_mode.lower()]
    except KeyError:
        raise ValueError(f"Parquet crypto mode must be one of {', '.join(ALGORITHMS)}") from None
    config = pe.EncryptionConfiguration(
        footer_key=FOOTER_KEY, column_keys={COLUMN_KEY: list(columns)}, encryption_algorithm=algorithm,
        plaintext_footer=False, double_wrapping=True, internal_key_material=True, data_key_length_bits=128)
    return _factory(data_key).file_encryption_properties(pe.KmsConnectionConfig(), config)


def read_bigdl_parquet(directory: str | os.PathLike[str], keys: KeySource) -> pa.Table:
    """Every Parquet part of a BigDL directory (data key from ``.meta``);
    PME's AES-GCM authenticates each page and the footer."""
    d = Path(directory)
    edk = read_meta(d)
    if not edk:
        raise FormatError(f"{d}: no .meta with an encryptedDataKey")
    props = decryption_properties(keys.unwrap(edk))
    parts = sorted(p for p in d.iterdir() if p.suffix == ".parquet" and not p.name.startswith((".", "_")))
    if not parts:
        raise FormatError(f"{d}: no .parquet part files")
    tables = []
    for p in parts:
        try:
            tables.append(pq.read_table(p, decryption_properties=props))
        except (OSError, pa.ArrowException) as e:  # GCM tag, length or structure failures alike
            raise IntegrityError(f"{p}: Parquet decryption failed: tampered, truncated or the wrong key "
                                 f"({type(e).__name__})") from None
    return pa.concat_tables(tables)


def write_bigdl_parquet(table: pa.Table, directory: str | os.PathLike[str], keys: KeySource, *,
                        crypto_mode: str = "aes_gcm_v1") -> Path:
    """Write ``table`` as BigDL does: one new data key, ``.meta``, one part."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    data_key, edk = keys.new_data_key()
    path = d / f"part-00000-{uuid.uuid4()}-c000.parquet"
    pq.write_table(table, path, encryption_properties=encryption_properties(data_key, table.column_names,
                                                                            crypto_mode))
    write_meta(d, edk)
    return path
