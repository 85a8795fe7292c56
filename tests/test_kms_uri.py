"""KMS configuration strings and the picklable KmsRef."""

from __future__ import annotations

import pickle

import pytest

import sealio
from sealio.errors import KmsError
from sealio.kms import KmsRef, from_uri


@pytest.fixture()
def keyring(tmp_path):
    kr = sealio.LocalKeyring.create(tmp_path / "kr.json")
    kr.generate("alpha")
    return kr


def test_local_uri_builds_a_keyring(keyring):
    client = from_uri(f"local://{keyring.path}")
    assert isinstance(client, sealio.LocalKeyring)
    wrapped = keyring.wrap_key(b"k" * 32, "alpha")
    assert client.unwrap_key(wrapped, "alpha") == b"k" * 32


def test_kmsref_pickles_only_the_string(keyring):
    ref = KmsRef(f"local://{keyring.path}")
    wrapped = ref.wrap_key(b"s" * 32, "alpha")
    blob = pickle.dumps(ref)
    assert b"s" * 32 not in blob and str(keyring.path).encode() in blob
    KmsRef.forget()
    again = pickle.loads(blob)
    assert again == ref and hash(again) == hash(ref)
    assert again.unwrap_key(wrapped, "alpha") == b"s" * 32
    assert ref.default == "alpha"


def test_sealed_file_with_a_uri_string(keyring, tmp_path):
    uri = f"local://{keyring.path}"
    with sealio.open(tmp_path / "f.bin", "wb", keys=uri) as f:
        f.write(b"hello world")
    with sealio.open(tmp_path / "f.bin", "rb", keys=uri) as f:
        assert f.read() == b"hello world"


@pytest.mark.parametrize("uri", ["", "keyring.json", "nope://x", "local://host/path", "local:///p?x=1"])
def test_bad_configuration_strings_are_refused(uri):
    with pytest.raises(KmsError):
        from_uri(uri)


def test_wrong_type_is_a_type_error():
    with pytest.raises(TypeError):
        KmsRef(b"local:///x")  # type: ignore[arg-type]


def test_missing_keyring_names_the_path(tmp_path):
    with pytest.raises(sealio.KeyNotFoundError, match="missing.json"):
        from_uri(f"local://{tmp_path}/missing.json")
