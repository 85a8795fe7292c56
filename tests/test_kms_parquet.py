"""The same KMS clients serve pyarrow's Parquet Modular Encryption (KmsClient protocol)."""

from __future__ import annotations

import datetime
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pe = pytest.importorskip("pyarrow.parquet.encryption")
pytest.importorskip("hvac")
pytest.importorskip("boto3")

from sealio.parquet import parquet_crypto_factory  # noqa: E402
from sealio.kms import KmsRef, RetryPolicy  # noqa: E402
from sealio.kms.aws import AwsKms  # noqa: E402
from sealio.kms.vault import VaultTransit  # noqa: E402
from servers.moto import REGION, moto  # noqa: E402,F401 - session fixture
from servers.openbao import openbao  # noqa: E402,F401 - session fixture

FAST = RetryPolicy(timeout=3.0, retries=1, backoff=0.05)


def _roundtrip(kms, footer_key: str, column_key: str, path) -> None:
    table = pa.table({"id": list(range(1000)), "secret": [f"s{i}" for i in range(1000)]})
    factory = parquet_crypto_factory(kms)
    config = pe.KmsConnectionConfig()
    enc = pe.EncryptionConfiguration(footer_key=footer_key, column_keys={column_key: ["secret"]},
                                     cache_lifetime=datetime.timedelta(minutes=5))
    with pq.ParquetWriter(path, table.schema,
                          encryption_properties=factory.file_encryption_properties(config, enc)) as w:
        w.write_table(table)
    with pytest.raises(OSError):  # encrypted footer: unreadable without the KMS
        pq.read_table(path)
    dec = factory.file_decryption_properties(config, pe.DecryptionConfiguration())
    assert pq.read_table(path, decryption_properties=dec).equals(table)


def test_vault_transit_as_a_parquet_kms_client(openbao, tmp_path):
    footer, column = openbao.new_key(f"pf-{uuid.uuid4().hex[:8]}"), openbao.new_key(f"pc-{uuid.uuid4().hex[:8]}")
    _roundtrip(VaultTransit(openbao.url, token=openbao.token, policy=FAST), footer, column, tmp_path / "v.parquet")


def test_aws_kms_as_a_parquet_kms_client(moto, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    footer, column = f"alias/pf-{uuid.uuid4().hex[:8]}", f"alias/pc-{uuid.uuid4().hex[:8]}"
    moto.new_key(footer)
    moto.new_key(column)
    _roundtrip(AwsKms(footer, region=REGION, endpoint_url=moto.url, policy=FAST), footer, column,
               tmp_path / "a.parquet")


def test_a_configuration_string_as_a_parquet_kms_client(openbao, tmp_path, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", openbao.token)
    key = openbao.new_key(f"pu-{uuid.uuid4().hex[:8]}")
    KmsRef.forget()
    _roundtrip(KmsRef(f"vault+{openbao.url}/transit/keys/{key}"), key, key, tmp_path / "u.parquet")
