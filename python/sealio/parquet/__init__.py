"""Parquet Modular Encryption (PME) with sealio's keys: one KMS-client
adapter for pyarrow's ``CryptoFactory`` over every sealio KMS, with
parquet-java's local wrap format for keyrings (docs/PME.md)."""

from __future__ import annotations

from sealio.parquet.kms import (
    ParquetLocalWrap,
    parquet_crypto_factory,
    parquet_kms_client,
    unwrap_locally,
    wrap_locally,
)

__all__ = ["ParquetLocalWrap", "parquet_crypto_factory", "parquet_kms_client", "unwrap_locally", "wrap_locally"]
