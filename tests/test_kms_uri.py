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


# --- backends registered lazily (sealio.kms.vault, sealio.kms.aws)


def test_importing_sealio_kms_does_not_import_hvac_or_boto3():
    import subprocess
    import sys

    code = ("import sys, sealio, sealio.kms; from sealio.kms import schemes; "
            "assert {'vault+http', 'vault+https', 'aws-kms'} <= set(schemes()); "
            "print(sorted(m for m in ('hvac', 'boto3', 'botocore') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("uri,extra", [("vault+http://127.0.0.1:1/transit/keys/k", "vault"),
                                       ("aws-kms://alias/k?region=us-east-1", "aws")])
def test_a_missing_client_library_names_the_extra(uri, extra, monkeypatch):
    import sys

    for mod in ("hvac", "boto3", "sealio.kms.vault", "sealio.kms.aws"):
        monkeypatch.setitem(sys.modules, mod, None)  # import of these now raises ImportError
    with pytest.raises(KmsError, match=rf"pip install 'sealio\[{extra}\]'"):
        from_uri(uri)


def test_retry_policy_bounds_and_backoff():
    from sealio.errors import IntegrityError, KmsUnavailableError
    from sealio.kms._retry import RetryPolicy, Transient, call

    policy = RetryPolicy(timeout=1.0, retries=3, backoff=0.1, max_backoff=0.25)
    assert policy.worst_case == pytest.approx(4 * 1.0 + 0.1 + 0.2 + 0.25)
    sleeps: list[float] = []
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("down")
        return "ok"

    assert call(policy, "op", flaky, lambda e: Transient(str(e)), sleep=sleeps.append) == "ok"
    assert len(sleeps) == 2 and 0.05 <= sleeps[0] <= 0.1 and 0.1 <= sleeps[1] <= 0.2

    def down() -> str:
        attempts.append(1)
        raise ConnectionError("down")

    attempts.clear()
    with pytest.raises(KmsUnavailableError, match=r"op: down \(gave up after 4 attempt"):
        call(policy, "op", down, lambda e: Transient(str(e)), sleep=lambda s: None)
    assert len(attempts) == 4
    attempts.clear()
    with pytest.raises(IntegrityError):  # final errors are not retried
        call(policy, "op", down, lambda e: IntegrityError("bad"), sleep=lambda s: pytest.fail("retried"))
    assert len(attempts) == 1
    for bad in ({"timeout": 0}, {"retries": -1}, {"backoff": -1}):
        with pytest.raises(ValueError):
            RetryPolicy(**bad)


@pytest.mark.parametrize("query", ["timeout=inf", "timeout=nan", "timeout=1e400", "timeout=601",
                                   "timeout=1&retries=99999999999999999999", "retries=x"])
def test_unbounded_timeouts_are_refused(query, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", "t")
    with pytest.raises(KmsError, match="timeout"):
        from_uri(f"vault+http://127.0.0.1:1/transit/keys/k?{query}")
