"""KmsClient protocol, LocalKeyring, and envelope encryption with KEK caches."""

from __future__ import annotations

import io
import json
import os
import pickle
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

import sealio
from sealio.parquet import parquet_crypto_factory
from sealio.format import header as H
from sealio.keys import KeyManager, key_manager


class CountingKms:
    """An in-memory KMS that counts calls (wrapping is AES-GCM via a keyring-like scheme)."""

    def __init__(self) -> None:
        self.inner = _MemoryKms()
        self.wraps = self.unwraps = 0
        self.lock = threading.Lock()

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        with self.lock:
            self.wraps += 1
        return self.inner.wrap_key(key_bytes, master_key_identifier)

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        with self.lock:
            self.unwraps += 1
        return self.inner.unwrap_key(wrapped_key, master_key_identifier)


class _MemoryKms:
    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        token = os.urandom(12).hex()
        self.store[token] = bytes(key_bytes)
        return f"mem:{master_key_identifier}:{token}"

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        return self.store[wrapped_key.rsplit(":", 1)[1]]


@pytest.fixture()
def keyring(tmp_path: Path) -> sealio.LocalKeyring:
    kr = sealio.LocalKeyring.create(tmp_path / "keyring.json")
    kr.generate("main")
    return kr


# ---------------------------------------------------------------- keyring


def test_keyring_file_is_private_and_has_no_plaintext_leak(keyring: sealio.LocalKeyring) -> None:
    mode = stat.S_IMODE(keyring.path.stat().st_mode)
    assert mode == 0o600
    doc = json.loads(keyring.path.read_text())
    assert doc["format"] == "sealio-keyring" and doc["default"] == "main"
    assert keyring.default == "main" and keyring.names() == ["main"]


def test_wrap_unwrap_and_rotation(keyring: sealio.LocalKeyring) -> None:
    key = os.urandom(32)
    w1 = keyring.wrap_key(key, "main")
    assert w1.startswith("sealio-lk1:1:") and w1.isascii() and len(w1) <= H.WRAPPED_KEK_MAX
    assert keyring.unwrap_key(w1, "main") == key
    assert keyring.rotate("main") == 2
    w2 = keyring.wrap_key(key, "main")
    assert w2.startswith("sealio-lk1:2:")
    reloaded = sealio.LocalKeyring(keyring.path)  # rotation was persisted
    assert reloaded.versions("main") == [1, 2]
    assert reloaded.unwrap_key(w1, "main") == key  # old versions still unwrap
    assert reloaded.unwrap_key(w2, "main") == key


def test_unwrap_failures(keyring: sealio.LocalKeyring) -> None:
    keyring.generate("second")
    w = keyring.wrap_key(os.urandom(32), "main")
    with pytest.raises(sealio.IntegrityError):  # bound to the name
        keyring.unwrap_key(w, "second")
    with pytest.raises(sealio.KeyNotFoundError, match="nope"):
        keyring.unwrap_key(w, "nope")
    with pytest.raises(sealio.KeyNotFoundError, match="version 9"):
        keyring.unwrap_key(w.replace(":1:", ":9:"), "main")
    for bad in ("", "garbage", w[:-4], w.replace("sealio-lk1", "sealio-lk2"), w[:14] + "!" + w[15:],
                w.replace(":1:", ":01:")):
        with pytest.raises(sealio.IntegrityError):
            keyring.unwrap_key(bad, "main")


def test_names_and_duplicates(keyring: sealio.LocalKeyring) -> None:
    with pytest.raises(ValueError, match="already exists"):
        keyring.generate("main")
    for bad in ("", " x", "a b", "x" * 200, "-lead"):
        with pytest.raises(ValueError):
            keyring.generate(bad)
    with pytest.raises(sealio.KeyNotFoundError):
        keyring.rotate("missing")
    with pytest.raises(FileExistsError):
        sealio.LocalKeyring.create(keyring.path)
    with pytest.raises(sealio.KeyNotFoundError, match="does not exist"):
        sealio.LocalKeyring(keyring.path.with_name("missing.json"))


def test_passphrase_keyring(tmp_path: Path) -> None:
    p = tmp_path / "pw.json"
    kr = sealio.LocalKeyring.create(p, "correct horse", scrypt_n=1 << 12)
    kr.generate("main")
    w = kr.wrap_key(b"k" * 32, "main")
    text = p.read_text()
    doc = json.loads(text)
    assert doc["kdf"]["name"] == "scrypt" and "keys" not in doc and "main" not in text
    assert sealio.LocalKeyring(p, "correct horse").unwrap_key(w, "main") == b"k" * 32
    with pytest.raises(sealio.IntegrityError, match="wrong passphrase"):
        sealio.LocalKeyring(p, "wrong")
    with pytest.raises(sealio.KmsError, match="passphrase"):
        sealio.LocalKeyring(p)
    assert sealio.LocalKeyring(p, b"correct horse").passphrase_protected


def test_default_scrypt_is_memory_hard() -> None:
    from sealio.keys import DEFAULT_SCRYPT_N

    assert DEFAULT_SCRYPT_N * 8 * 128 >= 64 << 20  # >= 64 MiB of memory per guess


def test_no_key_material_in_repr_or_pickle(keyring: sealio.LocalKeyring) -> None:
    master = keyring._keys["main"][1]
    mgr = KeyManager(keyring)
    dek_header, k_seg = mgr.seal_header("main", 12, None)
    kek = next(iter(mgr._writer_keks.values()))
    for obj in (keyring, mgr, kek):
        text = repr(obj)
        for secret in (master, kek.key, k_seg):
            assert secret.hex() not in text and repr(secret) not in text
    for obj in (keyring, mgr):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(obj)
    out = io.BytesIO()
    w = sealio.open(out, "wb", keys=keyring, master_key="main")
    with pytest.raises(TypeError):
        pickle.dumps(w)
    w.close()
    r = sealio.open(io.BytesIO(out.getvalue()), "rb", keys=keyring)
    with pytest.raises(TypeError):
        pickle.dumps(r)


def test_kms_errors_are_wrapped_without_key_bytes() -> None:
    class Broken:
        def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
            raise RuntimeError(f"cannot wrap {key_bytes!r}")  # a careless KMS

        def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
            raise ConnectionError("KMS unreachable")

    mgr = KeyManager(Broken())
    with pytest.raises(sealio.KmsError) as err:
        mgr.seal_header("m", 12, None)
    assert "RuntimeError" in str(err.value) and "cannot wrap" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_kms_bad_wrapped_output() -> None:
    class Weird:
        def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
            return "x" * 698

        def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
            return b""

    with pytest.raises(sealio.KmsError, match="665"):
        KeyManager(Weird()).seal_header("m", 12, None)
    with pytest.raises(TypeError):
        KeyManager(object())


# --------------------------------------------------------------- envelope


def _seal_many(keys: Any, n: int, master: str = "main") -> list[bytes]:
    files = []
    for i in range(n):
        out = io.BytesIO()
        with sealio.open(out, "wb", keys=keys, master_key=master, segment_size=4096) as w:
            w.write(b"row %d\n" % i)
        files.append(out.getvalue())
    return files


def test_ten_thousand_files_cost_o1_kms_calls() -> None:
    kms = CountingKms()
    files = _seal_many(kms, 10_000, master="m")
    assert kms.wraps == 1
    assert len({H.parse(f).kek_id for f in files}) == 1
    reader = CountingKms()
    reader.inner = kms.inner  # same KMS, a fresh process's caches
    for i, f in enumerate(files):
        with sealio.open(io.BytesIO(f), "rb", keys=reader) as r:
            assert r.read() == b"row %d\n" % i
    assert reader.unwraps == 1 and reader.wraps == 0


def test_kek_ttl_and_clear() -> None:
    now = [0.0]
    kms = CountingKms()
    mgr = KeyManager(kms, kek_ttl=10, cache_ttl=5, clock=lambda: now[0])
    a = _seal_many(mgr, 3)
    assert kms.wraps == 1
    now[0] = 11.0
    b = _seal_many(mgr, 1)
    assert kms.wraps == 2 and H.parse(a[0]).kek_id != H.parse(b[0]).kek_id
    reader = KeyManager(kms, cache_ttl=5, clock=lambda: now[0])
    for f in a:
        sealio.open(io.BytesIO(f), "rb", keys=reader).close()
    assert kms.unwraps == 1
    now[0] = 17.0  # reader cache expired
    sealio.open(io.BytesIO(a[0]), "rb", keys=reader).close()
    assert kms.unwraps == 2
    reader.clear()
    sealio.open(io.BytesIO(a[0]), "rb", keys=reader).close()
    assert kms.unwraps == 3
    mgr.clear()
    _seal_many(mgr, 1)
    assert kms.wraps == 3


def test_writer_kek_is_readable_from_cache_without_kms() -> None:
    kms = CountingKms()
    mgr = KeyManager(kms)
    (f,) = _seal_many(mgr, 1)
    sealio.open(io.BytesIO(f), "rb", keys=mgr).close()
    assert kms.unwraps == 0


def test_key_manager_shared_per_client() -> None:
    kms = CountingKms()
    assert key_manager(kms) is key_manager(kms)
    mgr = KeyManager(kms)
    assert key_manager(mgr) is mgr


def test_concurrent_writers_share_one_kek() -> None:
    kms = CountingKms()
    mgr = KeyManager(kms)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            _seal_many(mgr, 50)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and kms.wraps == 1


def test_rewrap_header_changes_only_the_key_slot(keyring: sealio.LocalKeyring) -> None:
    keyring.generate("second")
    out = io.BytesIO()
    with sealio.open(out, "wb", keys=keyring, master_key="main", aad=b"p", segment_size=4096) as w:
        w.write(os.urandom(10000))
    data = out.getvalue()
    mgr = KeyManager(keyring)
    new = mgr.rewrap_header(data[:1024], b"p", new_master_key="second")
    h0, h1 = H.parse(data), H.parse(new)
    assert h1.master_key_id == "second" and h1.kek_id != h0.kek_id
    assert (h1.salt, h1.nonce_prefix, h1.segment_log2) == (h0.salt, h0.nonce_prefix, h0.segment_log2)
    assert new[:H.OFF_KEK_ID] == data[:H.OFF_KEK_ID]
    with sealio.open(io.BytesIO(new + data[1024:]), "rb", keys=keyring, aad=b"p") as r:
        assert r.read() == sealio.open(io.BytesIO(data), "rb", keys=keyring, aad=b"p").read()
    with pytest.raises(sealio.IntegrityError):  # rewrap authenticates first
        mgr.rewrap_header(data[:1024], b"wrong aad", new_master_key="second")


# ---------------------------------------------------------------- pyarrow


def test_pyarrow_kms_client_works_with_sealio() -> None:
    pe = pytest.importorskip("pyarrow.parquet.encryption")

    class ArrowKms(pe.KmsClient):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.inner = _MemoryKms()

        def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
            return self.inner.wrap_key(key_bytes, master_key_identifier)

        def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
            return self.inner.unwrap_key(wrapped_key, master_key_identifier)

    kms = ArrowKms()
    assert isinstance(kms, sealio.KmsClient)
    out = io.BytesIO()
    with sealio.open(out, "wb", keys=kms, master_key="footer_key") as w:
        w.write(b"hello arrow")
    with sealio.open(io.BytesIO(out.getvalue()), "rb", keys=kms) as r:
        assert r.read() == b"hello arrow"


def test_local_keyring_works_with_pyarrow_modular_encryption(keyring: sealio.LocalKeyring,
                                                              tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pe = pytest.importorskip("pyarrow.parquet.encryption")
    keyring.generate("col")
    assert isinstance(keyring, sealio.KmsClient)
    factory = parquet_crypto_factory(keyring)
    config = pe.EncryptionConfiguration(footer_key="main", column_keys={"col": ["secret"]},
                                        double_wrapping=True)
    conn = pe.KmsConnectionConfig()
    table = pa.table({"secret": [1, 2, 3], "public": ["a", "b", "c"]})
    path = str(tmp_path / "pme.parquet")
    props = factory.file_encryption_properties(conn, config)
    with pq.ParquetWriter(path, table.schema, encryption_properties=props) as writer:
        writer.write_table(table)
    dprops = factory.file_decryption_properties(conn, pe.DecryptionConfiguration())
    assert pq.ParquetFile(path, decryption_properties=dprops).read().equals(table)
