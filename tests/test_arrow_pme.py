"""Parquet Modular Encryption with sealio's keys: round trips through
pyarrow, and the footer's key material checked by an independent unwrap
(parquet-java's local wrap format, docs/PME.md)."""

from __future__ import annotations

import base64
import json
import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import sealio
from sealio.arrow import parquet_crypto_factory, unwrap_locally, wrap_locally
from sealio.parquet.kms import _keyring_versions
from sealio.kms import KmsRef

TABLE = pa.table({"secret": [1, 2, 3], "public": ["a", "b", "c"]})


@pytest.fixture()
def keyring(tmp_path: Path) -> sealio.LocalKeyring:
    ring = sealio.LocalKeyring.create(tmp_path / "keyring.json")
    ring.generate("footer")
    ring.generate("col")
    return ring


def _write(path: Path, factory: object, *, double_wrapping: bool, plaintext_footer: bool = False) -> None:
    config = pe.EncryptionConfiguration(footer_key="footer", column_keys={"col": ["secret"]},
                                        double_wrapping=double_wrapping, plaintext_footer=plaintext_footer)
    props = factory.file_encryption_properties(pe.KmsConnectionConfig(), config)  # type: ignore[attr-defined]
    pq.write_table(TABLE, path, encryption_properties=props)


def _read(path: Path, factory: object, columns: list[str] | None = None) -> pa.Table:
    dprops = factory.file_decryption_properties(pe.KmsConnectionConfig(),  # type: ignore[attr-defined]
                                                pe.DecryptionConfiguration())
    return pq.read_table(path, decryption_properties=dprops, columns=columns)


def _key_materials(path: Path) -> list[dict[str, object]]:
    """The JSON key material documents pyarrow stores (footer and column metadata)."""
    data = path.read_bytes()
    out, start = [], 0
    while (i := data.find(b'{"keyMaterialType"', start)) >= 0:
        j = data.index(b"}", i)
        out.append(json.loads(data[i:j + 1]))
        start = j
    return out


@pytest.mark.parametrize("double_wrapping", [False, True])
def test_round_trip_with_a_keyring(keyring: sealio.LocalKeyring, tmp_path: Path, double_wrapping: bool) -> None:
    path = tmp_path / "pme.parquet"
    _write(path, parquet_crypto_factory(keyring), double_wrapping=double_wrapping)
    assert b"PARE" == path.read_bytes()[-4:]  # encrypted footer
    assert _read(path, parquet_crypto_factory(keyring)).equals(TABLE)
    with pytest.raises(OSError):  # no keys: nothing readable
        pq.read_table(path)


def test_key_material_is_parquet_java_local_wrap(keyring: sealio.LocalKeyring, tmp_path: Path) -> None:
    path = tmp_path / "single.parquet"  # plaintext footer: column key material is visible too
    _write(path, parquet_crypto_factory(keyring), double_wrapping=False, plaintext_footer=True)
    materials = _key_materials(path)
    assert {m["masterKeyID"] for m in materials} == {"footer", "col"}
    for m in materials:
        assert m["keyMaterialType"] == "PKMT1" and m["internalStorage"] is True
        assert m["doubleWrapping"] is False
        master = _keyring_versions(keyring, str(m["masterKeyID"]))[0]
        raw = base64.b64decode(str(m["wrappedDEK"]))
        dek = AESGCM(master).decrypt(raw[:12], raw[12:], str(m["masterKeyID"]).encode())
        assert len(dek) == 16  # pyarrow's default data key length


def test_double_wrapped_kek_is_local_wrap(keyring: sealio.LocalKeyring, tmp_path: Path) -> None:
    path = tmp_path / "double.parquet"
    _write(path, parquet_crypto_factory(keyring), double_wrapping=True, plaintext_footer=True)
    assert {m["masterKeyID"] for m in _key_materials(path)} == {"footer", "col"}
    for m in _key_materials(path):
        assert m["doubleWrapping"] is True
        master = _keyring_versions(keyring, str(m["masterKeyID"]))[0]
        raw = base64.b64decode(str(m["wrappedKEK"]))
        kek = AESGCM(master).decrypt(raw[:12], raw[12:], str(m["masterKeyID"]).encode())
        # the DEK is wrapped by the KEK with AAD = the KEK id (decoded from base64)
        raw_dek = base64.b64decode(str(m["wrappedDEK"]))
        kek_id = base64.b64decode(str(m["keyEncryptionKeyID"]))
        assert len(AESGCM(kek).decrypt(raw_dek[:12], raw_dek[12:], kek_id)) == 16


def test_independently_wrapped_keys_are_read(keyring: sealio.LocalKeyring) -> None:
    """A wrap made with plain AES-GCM (as a JVM client does) unwraps, and vice versa."""
    from sealio.arrow import parquet_kms_client

    kms = parquet_kms_client(keyring)
    master = _keyring_versions(keyring, "col")[0]
    dek = bytes(range(16))
    nonce = bytes(12)
    foreign = base64.b64encode(nonce + AESGCM(master).encrypt(nonce, dek, b"col")).decode()
    assert kms.unwrap_key(foreign, "col") == dek
    assert unwrap_locally(master, kms.wrap_key(dek, "col"), "col") == dek
    assert unwrap_locally(master, wrap_locally(master, dek, "col"), "col") == dek


def test_wrong_id_or_tampering_fails_closed(keyring: sealio.LocalKeyring) -> None:
    from sealio.arrow import parquet_kms_client

    kms = parquet_kms_client(keyring)
    wrapped = kms.wrap_key(b"k" * 16, "col")
    master = _keyring_versions(keyring, "col")[0]
    with pytest.raises(sealio.IntegrityError):  # AAD binds the id
        unwrap_locally(master, wrapped, "footer")
    raw = bytearray(base64.b64decode(wrapped))
    raw[20] ^= 1
    with pytest.raises(sealio.IntegrityError):
        kms.unwrap_key(base64.b64encode(bytes(raw)).decode(), "col")
    with pytest.raises(sealio.IntegrityError):
        kms.unwrap_key("not base64!", "col")
    with pytest.raises(sealio.KeyNotFoundError):
        kms.wrap_key(b"k" * 16, "missing")


def test_rotation_keeps_old_files_readable(keyring: sealio.LocalKeyring, tmp_path: Path) -> None:
    old = tmp_path / "old.parquet"
    _write(old, parquet_crypto_factory(keyring), double_wrapping=False)
    keyring.rotate("footer")
    keyring.rotate("col")
    new = tmp_path / "new.parquet"
    _write(new, parquet_crypto_factory(keyring), double_wrapping=False)
    assert _read(old, parquet_crypto_factory(keyring)).equals(TABLE)
    assert _read(new, parquet_crypto_factory(keyring), ["secret"]).equals(TABLE.select(["secret"]))


def test_configuration_string_and_pickling(keyring: sealio.LocalKeyring, tmp_path: Path) -> None:
    uri = f"local://{keyring.path}"
    path = tmp_path / "uri.parquet"
    _write(path, parquet_crypto_factory(uri), double_wrapping=False)
    ref = pickle.loads(pickle.dumps(KmsRef(uri)))
    assert _read(path, parquet_crypto_factory(ref)).equals(TABLE)
    assert _read(path, parquet_crypto_factory(sealio.KeyManager(keyring))).equals(TABLE)
    with pytest.raises(TypeError):
        from sealio.parquet import ParquetLocalWrap
        pickle.dumps(ParquetLocalWrap(keyring))


def test_files_from_the_retired_keyring_adapter_still_read(keyring: sealio.LocalKeyring, tmp_path: Path) -> None:
    """``sealio.keys.pyarrow_kms_client`` (retired) stored the keyring's own
    versioned wrap, which parquet-java cannot read; those files still open
    through the one adapter (migrate on read), and new files use the local
    wrap."""

    class RetiredAdapter(pe.KmsClient):  # what the old adapter did: delegate to the keyring
        def __init__(self) -> None:
            super().__init__()

        def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
            return keyring.wrap_key(key_bytes, master_key_identifier)

        def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
            return keyring.unwrap_key(wrapped_key, master_key_identifier)

    old = tmp_path / "old.parquet"
    _write(old, pe.CryptoFactory(lambda _c: RetiredAdapter()), double_wrapping=False)
    assert all(str(m["wrappedDEK"]).startswith(keyring.WRAP_PREFIX + ":") for m in _key_materials(old))
    assert _read(old, parquet_crypto_factory(keyring)).equals(TABLE)
    keyring.rotate("footer")
    keyring.rotate("col")
    assert _read(old, parquet_crypto_factory(keyring)).equals(TABLE)

    tampered = tmp_path / "tampered.parquet"
    data = old.read_bytes()
    material = _key_materials(old)[0]["wrappedDEK"]
    wrapped = str(material).rsplit(":", 1)
    raw = bytearray(base64.b64decode(wrapped[1]))
    raw[-1] ^= 1
    forged = f"{wrapped[0]}:{base64.b64encode(bytes(raw)).decode()}"
    assert len(forged) == len(str(material))
    tampered.write_bytes(data.replace(str(material).encode(), forged.encode()))
    with pytest.raises((sealio.IntegrityError, OSError), match="authenticate"):
        _read(tampered, parquet_crypto_factory(keyring))
