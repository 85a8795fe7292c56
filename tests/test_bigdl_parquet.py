"""BigDL's Parquet PME key mapping, checked against the independent reference."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe
import pytest

import bigdl_ref as ref
from sealio import IntegrityError
from sealio.bigdl import SimpleKms
from sealio.bigdl.parquet import read_bigdl_parquet, write_bigdl_parquet
from sealio.errors import FormatError

pytestmark = pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")
PK = "abcdefghijkl0042"


class RefKms(pe.KmsClient):
    """A pyarrow KMS client built only from the reference functions."""

    def __init__(self, data_key: str) -> None:
        super().__init__()
        self.keys = ref.parquet_master_keys(data_key)

    def wrap_key(self, key_bytes, master_key_identifier):
        return ref.inmemory_kms_wrap(self.keys[master_key_identifier], key_bytes, master_key_identifier,
                                     os.urandom(12))

    def unwrap_key(self, wrapped_key, master_key_identifier):
        return ref.inmemory_kms_unwrap(self.keys[master_key_identifier], wrapped_key, master_key_identifier)


TABLE = pa.table({"name": ["ann", "bob"], "age": [30, 41], "job": ["Developer", "Engineer"]})


@pytest.mark.parametrize("mode", ["aes_gcm_v1", "aes_gcm_ctr_v1"])
def test_written_by_sealio_read_with_reference_kms(tmp_path, mode):
    keys = SimpleKms("app", "key", PK)
    path = write_bigdl_parquet(TABLE, tmp_path, keys, crypto_mode=mode)
    dk = ref.simple_unwrap(PK, (tmp_path / ".meta").read_text().split('"')[3])
    factory = pe.CryptoFactory(lambda _c: RefKms(dk))
    props = factory.file_decryption_properties(pe.KmsConnectionConfig(), pe.DecryptionConfiguration())
    assert pq.read_table(path, decryption_properties=props).equals(TABLE)
    with pytest.raises(OSError):  # the footer is encrypted
        pq.read_table(path)
    assert read_bigdl_parquet(tmp_path, keys).equals(TABLE)


def test_written_with_reference_kms_read_by_sealio(tmp_path):
    keys = SimpleKms("app", "key", PK)
    dk, edk = keys.new_data_key()
    factory = pe.CryptoFactory(lambda _c: RefKms(dk))
    config = pe.EncryptionConfiguration(footer_key="footerKey", column_keys={"key1": TABLE.column_names})
    props = factory.file_encryption_properties(pe.KmsConnectionConfig(), config)
    pq.write_table(TABLE, tmp_path / "part-00000-x-c000.parquet", encryption_properties=props)
    (tmp_path / ".meta").write_text(ref.meta_text(edk))
    assert read_bigdl_parquet(tmp_path, keys).equals(TABLE)


def test_wrong_key_and_short_data_key(tmp_path):
    path = write_bigdl_parquet(TABLE, tmp_path, SimpleKms("app", "key", PK))
    with pytest.raises(IntegrityError):
        read_bigdl_parquet(tmp_path, SimpleKms("app", "key", "abcdefghijkl9999"))
    good = path.read_bytes()
    for at in range(4, len(good) - 4, max(1, len(good) // 40)):
        raw = bytearray(good)
        raw[at] ^= 1
        path.write_bytes(raw)
        with pytest.raises(IntegrityError):  # PME's GCM tags: every byte is covered
            read_bigdl_parquet(tmp_path, SimpleKms("app", "key", PK))
    from sealio.bigdl import PlaintextPrimaryKey

    with pytest.raises(FormatError):  # 24-character data keys cannot make BigDL's key1
        write_bigdl_parquet(TABLE, tmp_path / "x", PlaintextPrimaryKey("AAAAAAAAAAAAAAAAAAAAAA=="))
