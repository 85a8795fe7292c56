"""BigDL's PME Parquet key mapping: files written with an independent
InMemoryKMS implementation (cryptography, in this test) are read by
sealio.bigdl.parquet, and the other way round."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealio import bigdl
from sealio.bigdl import parquet as bp
from sealio.errors import IntegrityError

SIMPLE = ("abcdef123456", "api-key", "abcdef1234565555")  # SimpleKMS: 32-character data keys
pytestmark = pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")


class _RefInMemoryKms(pe.KmsClient):
    """parquet-mr InMemoryKMS, written from the format notes."""

    def __init__(self, dk_text: str) -> None:
        super().__init__()
        t = dk_text.encode()
        self.keys = {"footerKey": t[0:16], "key1": t[16:32]}

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        n = os.urandom(12)
        return base64.b64encode(n + AESGCM(self.keys[master_key_identifier]).encrypt(
            n, key_bytes, master_key_identifier.encode())).decode()

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        raw = base64.b64decode(wrapped_key)
        return AESGCM(self.keys[master_key_identifier]).decrypt(raw[:12], raw[12:], master_key_identifier.encode())


def _bigdl_pme_dir(tmp_path: Path) -> tuple[Path, pa.Table, str]:
    encrypted, key = bigdl.SimpleKms(*SIMPLE).new_data_key()
    table = pa.table({"name": ["ann", "bo", "cy"], "age": [30, 41, 22], "job": ["Developer"] * 3})
    factory = pe.CryptoFactory(lambda _c: _RefInMemoryKms(key.text))
    cfg = pe.EncryptionConfiguration(footer_key="footerKey", column_keys={"key1": table.column_names},
                                     data_key_length_bits=128)
    d = tmp_path / "out.parquet"
    d.mkdir()
    pq.write_table(table, d / "part-00000.snappy.parquet",
                   encryption_properties=factory.file_encryption_properties(pe.KmsConnectionConfig(), cfg))
    bigdl.write_meta(d, encrypted)
    return d, table, key.text


def test_reads_bigdl_pme_parquet(tmp_path: Path) -> None:
    d, table, _ = _bigdl_pme_dir(tmp_path)
    assert bp.read_table(d, bigdl.SimpleKms(*SIMPLE)).equals(table)


@pytest.mark.parametrize("algorithm", bp.ALGORITHMS)
def test_written_files_read_by_the_reference_mapping(tmp_path: Path, algorithm: str) -> None:
    """Both of BigDL's Parquet crypto modes (aes_gcm_v1, aes_gcm_ctr_v1)."""
    key = bigdl.DataKeyText(base64.b64encode(os.urandom(32)).decode()).decrypt_data_key("")  # as eHSM
    table = pa.table({"x": [1, 2, 3]})
    pq.write_table(table, tmp_path / "f.parquet",
                   encryption_properties=bp.encryption_properties(key, ["x"], algorithm))
    ref = pe.CryptoFactory(lambda _c: _RefInMemoryKms(key.text))
    props = ref.file_decryption_properties(pe.KmsConnectionConfig(), pe.DecryptionConfiguration())
    assert pq.read_table(tmp_path / "f.parquet", decryption_properties=props).equals(table)
    meta = pq.ParquetFile(tmp_path / "f.parquet", decryption_properties=props).metadata
    assert meta.num_rows == 3
    with pytest.raises(ValueError, match="BigDL writes Parquet"):
        bp.encryption_properties(key, ["x"], "AES_CBC")


def test_wrong_primary_key_fails_closed(tmp_path: Path) -> None:
    d, _, _ = _bigdl_pme_dir(tmp_path)
    with pytest.raises((IntegrityError, OSError)):
        bp.read_table(d, bigdl.SimpleKms("abcdef123456", "api-key", "abcdef1234560000"))


def test_short_data_keys_are_refused() -> None:
    from sealio.errors import FormatError

    with pytest.raises(FormatError, match="24-character"):
        bp.master_keys(bigdl.DataKeyText("x" * 24).decrypt_data_key(""))


def test_ctr_mode_really_is_ctr(tmp_path: Path) -> None:
    """AES_GCM_CTR_V1 encrypts pages with CTR (no 16-byte tag per page), so
    the same table is smaller than under AES_GCM_V1."""
    key = bigdl.DataKeyText(base64.b64encode(os.urandom(32)).decode()).decrypt_data_key("")
    table = pa.table({"x": list(range(10_000))})
    sizes = {}
    for algorithm in bp.ALGORITHMS:
        path = tmp_path / f"{algorithm}.parquet"
        pq.write_table(table, path, encryption_properties=bp.encryption_properties(key, ["x"], algorithm),
                       data_page_size=1024)
        sizes[algorithm] = path.stat().st_size
    assert sizes["AES_GCM_CTR_V1"] < sizes["AES_GCM_V1"]


def test_cli_migrates_bigdl_parquet_to_sealed_parquet(tmp_path: Path) -> None:
    """A BigDL PME Parquet directory (written with the reference
    InMemoryKMS) becomes sealed plain Parquet; a wrong KMS key fails."""
    import sealio
    from sealio.cli import main

    d, table, _ = _bigdl_pme_dir(tmp_path)
    (tmp_path / "primaryKey").write_text(SIMPLE[2] + "\n")
    kr = tmp_path / "keys.json"
    assert main(["keygen", "--keyring", str(kr), "analytics"]) == 0
    out = tmp_path / "sealed"
    args = ["bigdl", "migrate", "-q", "--simple-app-id", SIMPLE[0], "--simple-api-key", SIMPLE[1],
            "--primary-key-path", str(tmp_path / "primaryKey"), "--keyring", str(kr), "--master-key", "analytics",
            str(d), str(out)]
    assert main(args) == 0
    with sealio.open(out / "part-00000.snappy.parquet", "rb", keys=sealio.LocalKeyring(kr)) as f:
        assert pq.read_table(f).equals(table)
    (tmp_path / "primaryKey").write_text(SIMPLE[0] + "0000\n")
    assert main(args[:-1] + [str(tmp_path / "sealed2")]) == 1
    assert not list((tmp_path / "sealed2").glob("*.parquet"))  # nothing half-written is published
