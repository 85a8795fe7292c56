"""AwsKms against a real moto server: EncryptionContext binding, the key id
recorded in wrapped keys, configuration strings, failures and retries."""

from __future__ import annotations

import base64
import pickle
import time
import uuid

import pytest

import sealio
from sealio.errors import (IntegrityError, KeyDisabledError, KeyNotFoundError, KmsAuthError, KmsError,
                           KmsUnavailableError)
from sealio.kms import KmsRef, RetryPolicy, from_uri

pytest.importorskip("boto3")  # in the test extra; skipped only outside it

from sealio.kms.aws import AwsKms  # noqa: E402
from servers.kms_proxy import closed_port, faulty_proxy, silent_listener  # noqa: E402
from servers.moto import REGION, moto  # noqa: E402,F401 - session fixture

FAST = RetryPolicy(timeout=2.0, retries=2, backoff=0.05, max_backoff=0.2)


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for var in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "SEALIO_KMS"):
        monkeypatch.delenv(var, raising=False)
    KmsRef.forget()
    yield
    KmsRef.forget()


@pytest.fixture()
def alias(moto) -> str:
    name = f"alias/sealio-{uuid.uuid4().hex[:10]}"
    moto.new_key(name)
    return name


@pytest.fixture()
def aws(moto, alias) -> AwsKms:
    return AwsKms(alias, region=REGION, endpoint_url=moto.url, policy=FAST)


def test_wrap_unwrap_round_trip_records_the_key_id(moto, aws, alias):
    wrapped = aws.wrap_key(b"\x05" * 32, alias)
    prefix, key_id, blob = wrapped.split(":")
    assert prefix == "sealio-aws1"
    assert moto.kms().describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == key_id
    assert base64.b64decode(blob)
    assert aws.unwrap_key(wrapped, alias) == b"\x05" * 32


def test_the_master_key_id_is_bound_by_the_encryption_context(moto, aws, alias):
    wrapped = aws.wrap_key(b"\x01" * 32, alias)
    other = f"alias/sealio-{uuid.uuid4().hex[:10]}"
    moto.new_key(other)
    with pytest.raises((IntegrityError, KmsAuthError)):  # AWS: InvalidCiphertext; moto: AccessDenied
        aws.unwrap_key(wrapped, other)
    with pytest.raises(IntegrityError, match="not from sealio's AWS KMS client"):
        aws.unwrap_key("vault:v1:AAAA", alias)


def test_sealed_file_through_a_configuration_string(moto, alias, tmp_path):
    uri = f"aws-kms://{alias}?region={REGION}&endpoint={moto.url}&timeout=3&retries=1"
    with sealio.open(tmp_path / "f.bin", "wb", keys=uri) as f:
        f.write(b"payload" * 1000)
    KmsRef.forget()
    with sealio.open(tmp_path / "f.bin", "rb", keys=uri) as f:
        assert f.read() == b"payload" * 1000
    assert b"testing" not in pickle.dumps(KmsRef(uri))


def test_region_from_the_environment(moto, alias, monkeypatch):
    monkeypatch.setenv("AWS_REGION", REGION)
    client = from_uri(f"aws-kms://{alias}?endpoint={moto.url}")
    assert client.region == REGION and client.default == alias


def test_missing_region_is_a_clear_error():
    with pytest.raises(KmsError, match="needs a region"):
        from_uri("aws-kms://alias/x")


def test_missing_credentials_are_an_authentication_error(moto, alias, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = AwsKms(alias, region=REGION, endpoint_url=moto.url, policy=FAST)
    with pytest.raises(KmsAuthError, match="no usable AWS credentials"):
        client.wrap_key(b"k" * 32, alias)


def test_rejected_credentials_are_an_authentication_error_and_not_retried(alias, tmp_path):
    from servers.moto import start_moto

    strict = start_moto(tmp_path, env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"})  # moto checks keys now
    try:
        with faulty_proxy(strict.url) as proxy:
            client = AwsKms(alias, region=REGION, endpoint_url=proxy.url, policy=FAST)
            with pytest.raises(KmsAuthError, match="refused the credentials"):
                client.wrap_key(b"k" * 32, alias)
            assert proxy.forwarded == 1
    finally:
        strict.server.stop()
    assert strict.server.proc.returncode is not None


@pytest.mark.parametrize("uri", [
    "aws-kms://AKIA:secret@alias/x?region=us-east-1",
    "aws-kms://alias/x?region=us-east-1&aws_secret_access_key=secret",
    "aws-kms://alias/x?region=us-east-1&session_token=secret",
])
def test_credentials_in_the_string_are_refused(uri):
    with pytest.raises(KmsError, match="credentials are not accepted") as info:
        from_uri(uri)
    assert "secret" not in str(info.value).replace("secret_access_key", "")


@pytest.mark.parametrize("uri", ["aws-kms://", "aws-kms://alias/x?region=us-east-1&bogus=1",
                                 "aws-kms://alias/x?region=us-east-1&endpoint=ftp://h",
                                 "aws-kms://../../x?region=us-east-1"])
def test_malformed_strings_are_refused(uri):
    with pytest.raises(KmsError):
        from_uri(uri)


def test_unknown_key(aws):
    with pytest.raises(KeyNotFoundError):
        aws.wrap_key(b"k" * 32, "alias/does-not-exist")
    with pytest.raises(KeyNotFoundError):
        aws.unwrap_key(f"sealio-aws1:{uuid.uuid4()}:AAAA", "alias/does-not-exist")


@pytest.mark.parametrize("mkid", ["arn:aws:kms:eu-west-1:999999999999:key/0b0e0b5e-1111-2222-3333-444455556666",
                                  "alias/../x?y", "https://evil.example/key", ""])
def test_header_key_ids_cannot_leave_the_account(moto, alias, mkid):
    with faulty_proxy(moto.url) as proxy:
        client = AwsKms(alias, region=REGION, endpoint_url=proxy.url, policy=FAST)
        with pytest.raises(KmsError, match="configured account and region"):
            client.unwrap_key(f"sealio-aws1:{uuid.uuid4()}:AAAA", mkid)
        with pytest.raises(KmsError, match="configured account and region"):
            client.wrap_key(b"k" * 32, mkid)
        assert proxy.forwarded == 0


def test_on_demand_rotation_keeps_old_material_usable(moto, aws, alias):
    old = aws.wrap_key(b"o" * 32, alias)
    key_id = moto.kms().describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    moto.kms().rotate_key_on_demand(KeyId=key_id)
    new = aws.wrap_key(b"n" * 32, alias)
    assert old.split(":")[1] == new.split(":")[1]  # same key id, new backing material
    assert aws.unwrap_key(old, alias) == b"o" * 32
    assert aws.unwrap_key(new, alias) == b"n" * 32


def test_a_disabled_key_is_a_clear_error(moto, aws, alias):
    wrapped = aws.wrap_key(b"d" * 32, alias)
    key_id = wrapped.split(":")[1]
    moto.kms().disable_key(KeyId=key_id)
    with pytest.raises(KeyDisabledError, match="is Disabled"):
        aws.unwrap_key(wrapped, alias)
    with pytest.raises(KeyDisabledError):
        aws.check_key(alias)


def test_unreachable_endpoint_fails_fast(alias):
    policy = RetryPolicy(timeout=1.0, retries=2, backoff=0.05, max_backoff=0.1)
    client = AwsKms(alias, region=REGION, endpoint_url=closed_port(), policy=policy)
    start = time.monotonic()
    with pytest.raises(KmsUnavailableError, match="cannot connect.*3 attempt"):
        client.wrap_key(b"k" * 32, alias)
    assert time.monotonic() - start < policy.worst_case


def test_a_silent_endpoint_times_out(alias):
    policy = RetryPolicy(timeout=0.5, retries=1, backoff=0.05, max_backoff=0.1)
    with silent_listener() as url:
        client = AwsKms(alias, region=REGION, endpoint_url=url, policy=policy)
        start = time.monotonic()
        with pytest.raises(KmsUnavailableError, match="did not answer within 0.5s"):
            client.wrap_key(b"k" * 32, alias)
        elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < policy.worst_case + 0.5


def test_transient_errors_are_retried(moto, alias):
    with faulty_proxy(moto.url) as proxy:
        client = AwsKms(alias, region=REGION, endpoint_url=proxy.url, policy=FAST)
        proxy.fail_next(1, 503)
        wrapped = client.wrap_key(b"r" * 32, alias)
        assert proxy.refused == 1 and proxy.forwarded == 1
        proxy.fail_next(2, 500)
        assert client.unwrap_key(wrapped, alias) == b"r" * 32
        proxy.reset_counts()
        proxy.fail_next(10, 503)
        with pytest.raises(KmsUnavailableError, match="gave up after 3 attempt"):
            client.wrap_key(b"r" * 32, alias)
        assert proxy.refused == 3 and proxy.forwarded == 0


def test_no_secrets_in_repr_or_pickle(aws):
    assert "testing" not in repr(aws)
    with pytest.raises(TypeError, match="KmsRef"):
        pickle.dumps(aws)
