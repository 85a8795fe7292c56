"""The Vault client against hostile servers and tenants (issue 12, items 2
and 6): no redirect to another origin receives the token or a KEK, every
attempt has a total deadline (a slow-drip server cannot hold a call), plain
http to a non-loopback host warns once, and fsspec filesystems holding
different Vault tokens are never shared. Real sockets and a real OpenBao."""

from __future__ import annotations

import uuid
import warnings

import fsspec
import pytest

import sealio
from sealio.errors import KmsAuthError, KmsError, KmsUnavailableError
from sealio.kms import KmsRef, RetryPolicy, from_uri

pytest.importorskip("hvac")  # in the test extra; skipped only outside it

from sealio.kms.vault import VaultTransit  # noqa: E402
from servers.hostile_http import recorder, redirector, slow_drip  # noqa: E402
from servers.kms_proxy import faulty_proxy  # noqa: E402
from servers.openbao import openbao  # noqa: E402,F401 - session fixture

TOKEN = "s.tenant-token-" + uuid.uuid4().hex
KEK = b"\x5a" * 32
ONE_TRY = RetryPolicy(timeout=2.0, retries=0)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    for var in ("VAULT_TOKEN", "BAO_TOKEN", "SEALIO_VAULT_TOKEN_FILE", "SEALIO_KMS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    KmsRef.forget()
    yield
    KmsRef.forget()


# --- redirects


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_is_not_followed(status: int) -> None:
    with recorder() as other, redirector(other.url, status) as front:
        client = VaultTransit(front.url, token=TOKEN, policy=ONE_TRY)
        with pytest.raises(KmsError, match="redirect") as info:
            client.wrap_key(KEK, "k")
        with pytest.raises(KmsError, match="redirect"):
            client.unwrap_key("vault:v1:" + "A" * 80, "k")
        assert front.requests  # the configured server was asked ...
        assert other.requests == []  # ... and nothing, no token, no KEK, went elsewhere
        assert TOKEN not in str(info.value)


def test_a_redirect_to_another_host_on_the_same_port_is_not_followed() -> None:
    with recorder() as other:
        port = other.url.rsplit(":", 1)[1]
        with redirector(f"http://localhost:{port}") as front:  # other host name, same port
            client = VaultTransit(front.url, token=TOKEN, policy=ONE_TRY)
            with pytest.raises(KmsError, match="redirect"):
                client.wrap_key(KEK, "k")
        assert other.requests == []


def test_a_redirect_within_the_same_origin_is_followed(openbao) -> None:  # type: ignore[no-untyped-def]
    key = openbao.new_key(f"k-{uuid.uuid4().hex[:10]}")
    with faulty_proxy(openbao.url) as proxy:
        client = VaultTransit(proxy.url, token=openbao.token, policy=ONE_TRY)
        proxy.redirect_next(2)
        wrapped = client.wrap_key(KEK, key)
        assert proxy.redirected == 2 and client.unwrap_key(wrapped, key) == KEK


# --- a total deadline per attempt


@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_a_slow_drip_server_cannot_hold_a_call(in_headers: bool) -> None:
    # One byte every 50 ms keeps each read far inside the 0.5 s timeout; the
    # whole answer would take 20 s, i.e. 20x the policy's worst case.
    policy = RetryPolicy(timeout=0.5, retries=1, backoff=0.05, max_backoff=0.05)
    with slow_drip(gap=0.05, total_bytes=400, in_headers=in_headers) as drip:
        client = VaultTransit(drip.url, token=TOKEN, policy=policy)
        with pytest.raises(KmsUnavailableError, match=r"within 0\.5s.*2 attempt"):
            client.unwrap_key("vault:v1:" + "A" * 80, "k")
        assert drip.requests == 2 and not drip.completed  # gave up before the server finished


def test_the_deadline_leaves_a_healthy_server_usable(openbao) -> None:  # type: ignore[no-untyped-def]
    key = openbao.new_key(f"k-{uuid.uuid4().hex[:10]}")
    client = VaultTransit(openbao.url, token=openbao.token, policy=RetryPolicy(timeout=5.0, retries=0))
    for _ in range(20):  # many calls on pooled connections, none cut short
        assert client.unwrap_key(client.wrap_key(KEK, key), key) == KEK


# --- plaintext http


def test_plain_http_to_a_remote_host_warns_once() -> None:
    from sealio.errors import InsecureTransportWarning

    host = f"vault-{uuid.uuid4().hex[:8]}.example"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        VaultTransit(f"http://{host}:8200", token=TOKEN)
        VaultTransit(f"http://{host}:8200", token=TOKEN)
    mine = [w for w in caught if issubclass(w.category, InsecureTransportWarning)]
    assert len(mine) == 1 and host in str(mine[0].message) and "\n" not in str(mine[0].message)
    assert TOKEN not in str(mine[0].message)


def test_plain_http_through_a_configuration_string_warns(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sealio.errors import InsecureTransportWarning

    monkeypatch.setenv("VAULT_TOKEN", TOKEN)
    host = f"vault-{uuid.uuid4().hex[:8]}.example"
    with pytest.warns(InsecureTransportWarning, match="plaintext"):
        from_uri(f"vault+http://{host}:8200/transit/keys/k")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8200", "http://127.9.8.7:1", "http://localhost:8200",
                                 "http://[::1]:8200", "https://vault.example:8200"])
def test_loopback_and_https_stay_silent(url: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        VaultTransit(url, token=TOKEN)


# --- tenants: two Vault tokens in one process


def _tenant_token(openbao, key: str, allowed: bool) -> str:  # type: ignore[no-untyped-def]
    """A token that may use Transit key ``key`` (allowed) or only another key."""
    client = openbao.client()
    target = key if allowed else f"other-{uuid.uuid4().hex[:8]}"
    name = f"p-{uuid.uuid4().hex[:10]}"
    client.sys.create_or_update_policy(name, f'''
        path "transit/encrypt/{target}" {{ capabilities = ["update"] }}
        path "transit/decrypt/{target}" {{ capabilities = ["update"] }}
        path "transit/keys/{target}" {{ capabilities = ["read"] }}
    ''')
    return client.auth.token.create(policies=[name], no_default_policy=True, ttl="10m")["auth"]["client_token"]


def test_filesystems_with_other_vault_tokens_are_never_shared(openbao, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pd = pytest.importorskip("pandas")
    key = openbao.new_key(f"k-{uuid.uuid4().hex[:10]}")
    token_a, token_b = _tenant_token(openbao, key, True), _tenant_token(openbao, key, False)
    vault_a = VaultTransit(openbao.url, token=token_a, key=key, policy=ONE_TRY)
    vault_b = VaultTransit(openbao.url, token=token_b, key=key, policy=ONE_TRY)
    assert repr(vault_a) == repr(vault_b)  # the token is (rightly) not in the repr
    fs_a = fsspec.filesystem("sealio", target_protocol="file", keys=vault_a)
    fs_b = fsspec.filesystem("sealio", target_protocol="file", keys=vault_b)
    assert fs_a is not fs_b
    url = f"sealio::file://{tmp_path}/a.bin"
    with fsspec.open(url, "wb", sealio={"keys": vault_a}) as f:
        f.write(b"tenant a")
    with pytest.raises(KmsAuthError):  # B's token may not decrypt under A's key: B never borrows A's token
        with fsspec.open(url, "rb", sealio={"keys": vault_b}) as f:
            f.read()
    with pytest.raises(KmsAuthError):
        with fsspec.open(f"sealio::file://{tmp_path}/b.bin", "wb", sealio={"keys": vault_b}) as f:
            f.write(b"tenant b")
    df = pd.DataFrame({"x": [1, 2, 3]})
    df.to_csv(f"sealio::file://{tmp_path}/t.csv", index=False, storage_options={"sealio": {"keys": vault_a}})
    with pytest.raises(KmsAuthError):
        pd.read_csv(f"sealio::file://{tmp_path}/t.csv", storage_options={"sealio": {"keys": vault_b}})
    with sealio.open(tmp_path / "a.bin", "rb", keys=vault_a) as f:
        assert f.read() == b"tenant a"
