"""sealio for pyarrow: Parquet Modular Encryption with sealio's keys
(:func:`parquet_crypto_factory`) and, for every format, an encrypting
``pyarrow.fs`` filesystem (:class:`EncryptedFileSystem`)."""

from __future__ import annotations

from sealio.arrow._pme import parquet_crypto_factory, parquet_kms_client, unwrap_locally, wrap_locally

__all__ = ["parquet_crypto_factory", "parquet_kms_client", "unwrap_locally", "wrap_locally"]
