"""VaultTransit against a real OpenBao dev server: wrapping, rotation and
min_decryption_version, configuration strings, failures, KEK caching."""

from __future__ import annotations

import pickle
import time
import uuid

import pytest

import sealio
from sealio import streams
from sealio.errors import (IntegrityError, KeyDisabledError, KeyNotFoundError, KmsAuthError, KmsError,
                           KmsUnavailableError)
from sealio.keys import KeyManager
from sealio.kms import KmsRef, RetryPolicy, from_uri

pytest.importorskip("hvac")  # in the test extra; skipped only outside it

from sealio.kms.vault import VaultTransit  # noqa: E402
from servers.kms_proxy import closed_port, faulty_proxy, silent_listener  # noqa: E402
from servers.openbao import openbao  # noqa: E402,F401 - session fixture

FAST = RetryPolicy(timeout=2.0, retries=2, backoff=0.05, max_backoff=0.2)


def _name() -> str:
    return f"k-{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def key(openbao) -> str:
    return openbao.new_key(_name())


@pytest.fixture()
def vault(openbao, key) -> VaultTransit:
    return VaultTransit(openbao.url, token=openbao.token, key=key, policy=FAST)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for var in ("VAULT_TOKEN", "BAO_TOKEN", "SEALIO_VAULT_TOKEN_FILE", "SEALIO_KMS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.vault-token of the user's
    KmsRef.forget()
    yield
    KmsRef.forget()


def test_wrap_unwrap_round_trip_records_the_version(vault, key):
    wrapped = vault.wrap_key(b"\x07" * 32, key)
    assert wrapped.startswith("vault:v1:")
    assert vault.unwrap_key(wrapped, key) == b"\x07" * 32


def test_the_key_name_is_bound_as_associated_data(openbao, vault, key):
    wrapped = vault.wrap_key(b"\x01" * 32, key)
    other = openbao.new_key(_name())
    with pytest.raises(IntegrityError):
        vault.unwrap_key(wrapped, other)
    with pytest.raises(IntegrityError):
        vault.unwrap_key(wrapped[:-6] + "AAAAAA", key)
    with pytest.raises(IntegrityError, match="not a Vault Transit ciphertext"):
        vault.unwrap_key("sealio-lk1:1:AAAA", key)


def test_sealed_file_through_a_configuration_string(openbao, key, tmp_path, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", openbao.token)
    uri = f"vault+{openbao.url}/transit/keys/{key}?timeout=3&retries=1"
    with sealio.open(tmp_path / "f.bin", "wb", keys=uri) as f:  # master key: the one the string names
        f.write(b"payload" * 1000)
    assert streams.inspect(tmp_path / "f.bin")["master_key_id"] == key
    KmsRef.forget()
    with sealio.open(tmp_path / "f.bin", "rb", keys=uri) as f:
        assert f.read() == b"payload" * 1000
    ref = KmsRef(uri)
    assert openbao.token.encode() not in pickle.dumps(ref)


def test_token_from_a_file(openbao, key, tmp_path, monkeypatch):
    token_file = tmp_path / "token"
    token_file.write_text(openbao.token + "\n")
    monkeypatch.setenv("SEALIO_VAULT_TOKEN_FILE", str(token_file))
    client = from_uri(f"vault+{openbao.url}/transit/keys/{key}")
    assert client.unwrap_key(client.wrap_key(b"x" * 32, key), key) == b"x" * 32
    monkeypatch.setenv("SEALIO_VAULT_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(KmsAuthError, match="does not exist"):
        from_uri(f"vault+{openbao.url}/transit/keys/{key}")


def test_no_token_is_an_authentication_error(openbao, key):
    with pytest.raises(KmsAuthError, match="no Vault token"):
        from_uri(f"vault+{openbao.url}/transit/keys/{key}")


def test_bad_token_is_an_authentication_error_and_not_retried(openbao, vault, key):
    wrapped = vault.wrap_key(b"k" * 32, key)
    with faulty_proxy(openbao.url) as proxy:
        bad = VaultTransit(proxy.url, token="not-a-token", policy=FAST)
        with pytest.raises(KmsAuthError, match="refused the token"):
            bad.unwrap_key(wrapped, key)
        assert proxy.forwarded == 1


@pytest.mark.parametrize("uri", [
    "vault+http://user:secret@127.0.0.1:8200/transit/keys/k",
    "vault+http://127.0.0.1:8200/transit/keys/k?token=s.abc",
    "vault+http://127.0.0.1:8200/transit/keys/k?X-Vault-Token=s.abc",
])
def test_credentials_in_the_string_are_refused(uri):
    with pytest.raises(KmsError, match="credentials are not accepted") as info:
        from_uri(uri)
    assert "secret" not in str(info.value) and "s.abc" not in str(info.value)


@pytest.mark.parametrize("uri", ["vault+ftp://h/transit/keys/k", "vault+http:///transit/keys/k",
                                 "vault+http://h:1/transit/keys/", "vault+http://h:1/transit/keys/k?x=1",
                                 "vault+http://h:1/transit/keys/k?timeout=-1"])
def test_malformed_strings_are_refused(uri, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", "t")
    with pytest.raises(KmsError):
        from_uri(uri)


def test_string_without_key_has_no_default(openbao, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", openbao.token)
    client = from_uri(f"vault+{openbao.url}/transit")
    assert client.default is None and client.mount == "transit"


def test_unknown_key_is_not_created(openbao, vault):
    name = _name()
    with pytest.raises(KeyNotFoundError, match=name):
        vault.wrap_key(b"k" * 32, name)
    with pytest.raises(KeyNotFoundError):
        vault.unwrap_key("vault:v1:" + "A" * 80, name)
    with pytest.raises(KeyNotFoundError):  # Vault would have upserted it on encrypt
        vault.key_info(name)


@pytest.mark.parametrize("mkid", ["../sys/seal", "a/b", "", ".hidden", "x" * 200, "k?x=1"])
def test_header_key_ids_cannot_leave_the_mount(openbao, mkid):
    with faulty_proxy(openbao.url) as proxy:
        client = VaultTransit(proxy.url, token=openbao.token, policy=FAST)
        with pytest.raises(KmsError, match="not a Vault Transit key name"):
            client.unwrap_key("vault:v1:" + "A" * 80, mkid)
        with pytest.raises(KmsError, match="not a Vault Transit key name"):
            client.wrap_key(b"k" * 32, mkid)
        assert proxy.forwarded == 0


def test_rotation_and_min_decryption_version(openbao, vault, key):
    transit = openbao.client().secrets.transit
    old = vault.wrap_key(b"o" * 32, key)
    transit.rotate_key(key)
    new = vault.wrap_key(b"n" * 32, key)
    assert old.startswith("vault:v1:") and new.startswith("vault:v2:")
    assert vault.unwrap_key(old, key) == b"o" * 32  # old versions unwrap until disabled
    transit.update_key_configuration(key, min_decryption_version=2)
    with pytest.raises(KeyDisabledError, match=r"version 1 .*disabled"):
        vault.unwrap_key(old, key)
    assert vault.unwrap_key(new, key) == b"n" * 32
    assert vault.key_info(key)["min_decryption_version"] == 2


def test_unreachable_server_fails_fast(key):
    policy = RetryPolicy(timeout=1.0, retries=2, backoff=0.05, max_backoff=0.1)
    client = VaultTransit(closed_port(), token="t", policy=policy)
    start = time.monotonic()
    with pytest.raises(KmsUnavailableError, match="cannot connect.*3 attempt"):
        client.unwrap_key("vault:v1:" + "A" * 80, key)
    assert time.monotonic() - start < policy.worst_case


def test_a_silent_server_times_out(key):
    policy = RetryPolicy(timeout=0.5, retries=1, backoff=0.05, max_backoff=0.1)
    with silent_listener() as url:
        client = VaultTransit(url, token="t", policy=policy)
        start = time.monotonic()
        with pytest.raises(KmsUnavailableError, match="did not answer within 0.5s"):
            client.unwrap_key("vault:v1:" + "A" * 80, key)
        elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < policy.worst_case + 0.5


def test_a_transient_503_is_retried(openbao, key):
    with faulty_proxy(openbao.url) as proxy:
        client = VaultTransit(proxy.url, token=openbao.token, policy=FAST)
        proxy.fail_next(1, 503)
        wrapped = client.wrap_key(b"r" * 32, key)  # read_key hits the 503, then succeeds
        assert proxy.refused == 1
        proxy.fail_next(2, 502)
        assert client.unwrap_key(wrapped, key) == b"r" * 32
        assert proxy.refused == 3
        proxy.reset_counts()
        proxy.fail_next(10, 503)
        with pytest.raises(KmsUnavailableError, match="gave up after 3 attempt"):
            client.unwrap_key(wrapped, key)
        assert proxy.refused == 3 and proxy.forwarded == 0


def test_kek_cache_ttl_and_clear(openbao, key, tmp_path):
    with faulty_proxy(openbao.url) as proxy:
        client = VaultTransit(proxy.url, token=openbao.token, key=key, policy=FAST)
        now = [0.0]
        mgr = KeyManager(client, kek_ttl=60, cache_ttl=60, clock=lambda: now[0])
        for i in range(5):
            with sealio.open(tmp_path / f"{i}.bin", "wb", keys=mgr) as f:
                f.write(b"%d" % i)
        assert sum("/encrypt/" in p for p in proxy.paths) == 1  # one KEK for five files
        reader = KeyManager(client, cache_ttl=60, clock=lambda: now[0])
        proxy.reset_counts()
        for i in range(5):
            with sealio.open(tmp_path / f"{i}.bin", "rb", keys=reader) as f:
                assert f.read() == b"%d" % i
        assert sum("/decrypt/" in p for p in proxy.paths) == 1
        now[0] = 61.0  # TTL passed: the KMS is asked again
        with sealio.open(tmp_path / "0.bin", "rb", keys=reader) as f:
            f.read()
        assert sum("/decrypt/" in p for p in proxy.paths) == 2
        # Revocation: a cached KEK keeps working until the TTL or clear().
        openbao.client().secrets.transit.rotate_key(key)
        openbao.client().secrets.transit.update_key_configuration(key, min_decryption_version=2)
        with sealio.open(tmp_path / "1.bin", "rb", keys=reader) as f:
            assert f.read() == b"1"
        reader.clear()
        with pytest.raises(KeyDisabledError):
            sealio.open(tmp_path / "1.bin", "rb", keys=reader)


def test_no_token_in_repr_or_pickle(openbao, vault):
    assert openbao.token not in repr(vault)
    with pytest.raises(TypeError, match="KmsRef"):
        pickle.dumps(vault)
