"""sealio for pyarrow: an encrypting ``pyarrow.fs`` filesystem for every
format (:func:`EncryptedFileSystem`, from :mod:`sealio.fs.arrow`) and
Parquet Modular Encryption with sealio's keys
(:func:`parquet_crypto_factory`, re-exported from :mod:`sealio.parquet`;
docs/PME.md)."""

from __future__ import annotations

from sealio.parquet import parquet_crypto_factory, parquet_kms_client, unwrap_locally, wrap_locally
from sealio.fs.arrow import EncryptedFileSystem, EncryptedFileSystemHandler

__all__ = [
    "EncryptedFileSystem",
    "EncryptedFileSystemHandler",
    "parquet_crypto_factory",
    "parquet_kms_client",
    "unwrap_locally",
    "wrap_locally",
]
