"""KMS configuration strings never carry or echo a credential, and any
string, however long or broken, is refused with a sealio error (issue 12,
items 5 and 6)."""

from __future__ import annotations

import pickle

import pytest

import sealio
from sealio.errors import KmsError, SealioError
from sealio.kms import KmsRef, from_uri

SECRET = "s3cr3t-Tok3n"

# Every place a credential could ride in a configuration string, for the
# built-in schemes, an unknown scheme and no scheme at all.
CARRYING = [
    f"local:///keys.json?passphrase={SECRET}",
    f"local:///keys.json?pw={SECRET}",
    f"local://user:{SECRET}@localhost/keys.json",
    f"local://{SECRET}@/keys.json",
    f"local:///keys.json#{SECRET}",
    f"nope://user:{SECRET}@host/x",
    f"nope://host/x?token={SECRET}",
    f"user:{SECRET}@vault.example:8200",
    SECRET,
    f"vault+http://user:{SECRET}@127.0.0.1:8200/transit/keys/k",
    f"vault+https://{SECRET}@vault.example/transit/keys/k",
    f"vault+http://127.0.0.1:8200/transit/keys/k?X-Vault-Token={SECRET}",
    f"vault+http://127.0.0.1:8200/transit/keys/k#{SECRET}",
    f"vault+http://[::1/transit/keys/k?token={SECRET}",           # urlsplit's ValueError
    f"vault+http://127.0.0.1:8200/transit/keys/k?passphrase={SECRET}",
    f"aws-kms://alias/k?region=eu-west-1&aws_secret_access_key={SECRET}",
    f"aws-kms://user:{SECRET}@alias/k?region=eu-west-1",
    f"aws-kms://alias/k?region=eu-west-1&apikey={SECRET}",
]


def _no_secret(exc: BaseException) -> None:
    for text in (str(exc), repr(exc), repr(exc.args)):
        assert SECRET not in text, text
    assert exc.__cause__ is None


@pytest.mark.parametrize("uri", CARRYING)
def test_kmsref_refuses_credentials_without_echoing_them(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", "env-token")
    with pytest.raises(SealioError) as info:
        KmsRef(uri)
    _no_secret(info.value)


@pytest.mark.parametrize("uri", CARRYING)
def test_from_uri_refuses_credentials_without_echoing_them(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", "env-token")
    with pytest.raises(SealioError) as info:
        from_uri(uri)
    _no_secret(info.value)


@pytest.mark.parametrize("uri", CARRYING)
def test_sealio_open_and_key_manager_refuse_them_too(uri: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sealio.keys import key_manager

    with pytest.raises(SealioError) as info:
        key_manager(uri)
    _no_secret(info.value)
    with pytest.raises(SealioError) as info:
        sealio.open(tmp_path / "f", "wb", keys=uri, master_key="k")
    _no_secret(info.value)


def test_refused_strings_never_reach_a_pickle_or_repr(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ring = sealio.LocalKeyring.create(tmp_path / "kr.json")
    ring.generate("k")
    ref = KmsRef(f"local://{ring.path}")  # a plain string is still fine
    assert pickle.loads(pickle.dumps(ref)) == ref and str(ring.path) in repr(ref)


@pytest.mark.parametrize("uri", [
    "local:///" + "a" * 300 + "/keys.json",          # OSError: File name too long before
    "local:///" + "d/" * 3000 + "keys.json",
    "local:///" + "x" * 100_000,
    "vault+http://127.0.0.1:1/" + "m/" * 50_000 + "keys/k",
    "nope://" + "h" * 100_000,
])
def test_very_long_strings_are_kms_errors(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", "t")
    for build in (from_uri, KmsRef):
        if build is KmsRef and len(uri) <= 2048:
            continue  # KmsRef builds its client lazily; only the string's length is its business
        with pytest.raises(KmsError) as info:
            build(uri)
        assert len(str(info.value)) < 600  # not echoed whole


@pytest.mark.parametrize("uri", ["local:///k.json\x00x", "local:///k.json\n", "vault+http://h\r\n:1/transit"])
def test_control_characters_are_refused(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", "t")
    with pytest.raises(KmsError):
        from_uri(uri)
