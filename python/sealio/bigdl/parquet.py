"""Parquet files BigDL PPML wrote with Parquet Modular Encryption.

BigDL configures parquet-mr's ``PropertiesDrivenCryptoFactory`` with its
test-only ``InMemoryKMS``: master key ``footerKey`` = the UTF-8 bytes of
data-key text[0:16], ``key1`` (all top-level columns) = text[16:32]; keys
are wrapped as base64(nonce ‖ AES-GCM(master key, key, AAD = master key
id) ‖ tag). The data key is the directory's ``.meta`` encryptedDataKey,
unwrapped by a BigDL key source. pyarrow's own PME reader does the rest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sealio.bigdl.dataset import part_files, read_meta
from sealio.bigdl.keys import DataKey, KeySource
from sealio.errors import FormatError, IntegrityError
from sealio.parquet import unwrap_locally, wrap_locally

FOOTER_KEY_ID, COLUMN_KEY_ID = "footerKey", "key1"


def master_keys(key: DataKey) -> dict[str, bytes]:
    text = key.text.encode("utf-8")
    if len(text) < 32:
        raise FormatError(f"a {len(text)}-character data key cannot be BigDL's Parquet key list "
                          "(text[16:32] must be a 16-byte AES key)")
    return {FOOTER_KEY_ID: text[0:16], COLUMN_KEY_ID: text[16:32]}


def _kms_client(keys: dict[str, bytes]) -> Any:
    import pyarrow.parquet.encryption as pe

    class BigdlInMemoryKms(pe.KmsClient):  # type: ignore[misc]
        """parquet-mr's InMemoryKMS wrapping with BigDL's two master keys."""

        def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
            return wrap_locally(_master(keys, master_key_identifier), key_bytes, master_key_identifier)

        def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
            try:
                return unwrap_locally(_master(keys, master_key_identifier), wrapped_key,
                                      master_key_identifier)
            except IntegrityError:
                raise IntegrityError(f"BigDL Parquet key under {master_key_identifier!r} did not "
                                     "authenticate (wrong data key or tampered footer)") from None

    return BigdlInMemoryKms()


def _master(keys: dict[str, bytes], name: str) -> bytes:
    try:
        return keys[name]
    except KeyError:
        raise FormatError(f"BigDL Parquet files use master keys {sorted(keys)}, not {name!r}") from None


def crypto_factory(key: DataKey) -> Any:
    import pyarrow.parquet.encryption as pe

    keys = master_keys(key)
    return pe.CryptoFactory(lambda _config: _kms_client(keys))


def decryption_properties(key: DataKey) -> Any:
    import pyarrow.parquet.encryption as pe

    return crypto_factory(key).file_decryption_properties(pe.KmsConnectionConfig(), pe.DecryptionConfiguration())


ALGORITHMS = ("AES_GCM_V1", "AES_GCM_CTR_V1")  # BigDL's crypto modes aes_gcm_v1 and aes_gcm_ctr_v1


def encryption_properties(key: DataKey, columns: list[str], algorithm: str = "AES_GCM_V1") -> Any:
    """As BigDL writes: encrypted footer, double wrapping, 128-bit keys,
    every top-level column under ``key1``; ``algorithm`` as its crypto mode
    (``AES_GCM_CTR_V1`` leaves page data unauthenticated, as in parquet-mr)."""
    import pyarrow.parquet.encryption as pe

    if algorithm not in ALGORITHMS:
        raise ValueError(f"BigDL writes Parquet with {' or '.join(ALGORITHMS)}, not {algorithm!r}")
    config = pe.EncryptionConfiguration(footer_key=FOOTER_KEY_ID, column_keys={COLUMN_KEY_ID: columns},
                                        encryption_algorithm=algorithm, data_key_length_bits=128)
    return crypto_factory(key).file_encryption_properties(pe.KmsConnectionConfig(), config)


def read_table(path: str | os.PathLike[str], keys: KeySource) -> Any:
    """A BigDL PME Parquet output directory (data key from its ``.meta``) as a table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    encrypted = read_meta(path)
    if encrypted is None:
        raise FormatError(f"{path}: no .meta with an encryptedDataKey next to the Parquet files")
    key = keys.decrypt_data_key(encrypted)
    key.warn_if_weak(os.fspath(path))
    props = decryption_properties(key)
    parts = [p for p in part_files(path) if Path(p).stat().st_size]
    return pa.concat_tables([pq.read_table(p, decryption_properties=props) for p in parts])


PME_MAGIC = b"PARE"  # Parquet with an encrypted footer, as BigDL writes it


def is_pme(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a Parquet file with an encrypted footer."""
    with open(path, "rb") as f:
        if f.seek(0, os.SEEK_END) < 8:
            return False
        f.seek(-4, os.SEEK_END)
        return f.read(4) == PME_MAGIC


def migrate_file(path: str | os.PathLike[str], sink: Any, key: DataKey) -> int:
    """Decrypt one BigDL PME Parquet file with pyarrow's own PME reader and
    write it, row group by row group (bounded memory), as plain Parquet
    into ``sink`` (a sealed file). Returns the rows written. Any decryption
    failure (wrong key, tampered module) is an :class:`IntegrityError`."""
    import pyarrow.parquet as pq

    rows = 0
    try:
        pf = pq.ParquetFile(path, decryption_properties=decryption_properties(key))
        with pq.ParquetWriter(sink, pf.schema_arrow) as writer:
            for i in range(pf.num_row_groups):
                group = pf.read_row_group(i)
                writer.write_table(group)
                rows += group.num_rows
    except OSError as e:
        raise IntegrityError(f"{os.fspath(path)}: BigDL Parquet did not decrypt: {e}") from None
    return rows
