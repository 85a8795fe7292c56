"""Native Parquet Modular Encryption in Spark with sealio's keyring, through
the Java KmsClient (java/, compiled with javac against pyspark's jars).

Interop both ways with pyarrow: the pyarrow side uses a KmsClient written
here to the shared local-wrapping format (base64 of nonce(12) || AES-GCM
(master key, key, AAD = master key id) || tag), the format parquet-java's
local wrapping and sealio's PME interop use.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyspark", minversion="4.0")
pe = pytest.importorskip("pyarrow.parquet.encryption")

from cryptography.exceptions import InvalidTag  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

import sealio  # noqa: E402
from sealio.spark import native_pme_conf  # noqa: E402


class KeyringWrapClient(pe.KmsClient):  # type: ignore[misc]
    """Reads master keys from an unprotected sealio keyring file; wraps with
    the newest version, unwraps with whichever version authenticates."""

    def __init__(self, path: str) -> None:
        super().__init__()
        doc = json.loads(Path(path).read_text())
        self.keys = {name: [base64.b64decode(v["key"]) for v in sorted(e["versions"], key=lambda v: -v["version"])]
                     for name, e in doc["keys"].items()}
        self.wraps = 0

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        self.wraps += 1
        nonce = os.urandom(12)
        ct = AESGCM(self.keys[master_key_identifier][0]).encrypt(nonce, key_bytes, master_key_identifier.encode())
        return base64.b64encode(nonce + ct).decode()

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        raw = base64.b64decode(wrapped_key)
        for master in self.keys[master_key_identifier]:
            try:
                return AESGCM(master).decrypt(raw[:12], raw[12:], master_key_identifier.encode())
            except InvalidTag:
                continue
        raise ValueError("wrapped key did not authenticate")


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("pme")
    kr = sealio.LocalKeyring.create(d / "keyring.json")
    kr.generate("footer")
    kr.generate("cols")
    kr.rotate("cols")  # two versions: the newest wraps, both unwrap
    return str(d / "keyring.json")


class OldVersionWrapClient(KeyringWrapClient):
    """Wraps with the oldest version: a file written before a rotation."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.keys = {name: versions[::-1] for name, versions in self.keys.items()}


def factory(path: str, client: type = KeyringWrapClient) -> pe.CryptoFactory:
    return pe.CryptoFactory(lambda _config: client(path))


TABLE = pa.table({"id": pa.array(range(1000), pa.int64()), "age": pa.array([i % 50 for i in range(1000)], pa.int64()),
                  "name": [f"n{i}" for i in range(1000)]})


@pytest.mark.parametrize("client", [KeyringWrapClient, OldVersionWrapClient])
def test_pyarrow_written_pme_read_by_spark_native(spark, ring: str, tmp_path: Path, client: type) -> None:  # type: ignore[no-untyped-def]
    enc = pe.EncryptionConfiguration(footer_key="footer", column_keys={"cols": ["age"]},
                                     cache_lifetime=timedelta(minutes=5))
    props = factory(ring, client).file_encryption_properties(pe.KmsConnectionConfig(), enc)
    pq.write_table(TABLE, tmp_path / "t.parquet", encryption_properties=props)
    with pytest.raises(OSError):  # encrypted footer: unreadable without keys
        pq.read_table(tmp_path / "t.parquet")
    df = spark.read.options(**native_pme_conf(f"local://{ring}", prefix="")).parquet(str(tmp_path / "t.parquet"))
    assert df.count() == 1000
    assert df.filter("age = 7").selectExpr("sum(id)").first()[0] == sum(i for i in range(1000) if i % 50 == 7)


def test_spark_written_pme_read_by_pyarrow(spark, ring: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "spark_pme"
    conf = native_pme_conf(f"local://{ring}", prefix="")
    (spark.createDataFrame(TABLE.to_pandas()).coalesce(1).write.options(**conf)
     .option("parquet.encryption.footer.key", "footer").option("parquet.encryption.column.keys", "cols:age")
     .mode("overwrite").parquet(str(out)))
    files = sorted(out.glob("*.parquet"))
    assert files
    with pytest.raises(OSError):
        pq.read_table(files[0])
    dec = factory(ring).file_decryption_properties(pe.KmsConnectionConfig(), pe.DecryptionConfiguration())
    back = pa.concat_tables(pq.read_table(f, decryption_properties=dec) for f in files)
    assert back.sort_by("id").column("age").to_pylist() == TABLE.column("age").to_pylist()
    # and by Spark again (both sides of the Java client)
    assert spark.read.options(**conf).parquet(str(out)).filter("age < 10").count() == 200


def test_java_client_refuses_passphrase_keyring(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kr = sealio.LocalKeyring.create(tmp_path / "locked.json", passphrase="pw", scrypt_n=2)
    kr.generate("footer")
    df = spark.range(3)
    with pytest.raises(Exception, match="passphrase-protected"):
        (df.write.options(**native_pme_conf(f"local://{tmp_path / 'locked.json'}", prefix=""))
         .option("parquet.encryption.uniform.key", "footer")
         .mode("overwrite").parquet(str(tmp_path / "x")))
