"""The sealed Hadoop filesystem with AWS KMS keys (a real moto server on
127.0.0.1): the JVM's own SigV4 client agrees with botocore's signer, files
sealed by sealio's Python side under a KMS alias read in Spark through
``sealed://`` and the other way round, credentials from a file the conf
names (never from the conf), one Decrypt per KEK however many files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark", minversion="4.0")
pytest.importorskip("boto3")

import sealio  # noqa: E402
from sealio.kms import from_uri  # noqa: E402
from sealio.spark.native_fs import native_fs_conf, sealed_url  # noqa: E402
from servers.moto import REGION, moto  # noqa: E402,F401 - the fixture


@pytest.mark.parametrize("session_token", [None, "tok/en+="])
def test_sigv4_agrees_with_botocore(spark: Any, monkeypatch: pytest.MonkeyPatch, session_token: str | None) -> None:
    import datetime

    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    when = datetime.datetime(2026, 12, 4, 1, 2, 3)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when)
    body = '{"KeyId":"alias/x","Plaintext":"AAAA"}'
    req = AWSRequest(method="POST", url="http://127.0.0.1:4566/", data=body.encode(),
                     headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt"})
    botocore.auth.SigV4Auth(Credentials("AKIDEXAMPLE", "wJalr/EXAMPLEKEY", session_token), "kms",
                            REGION).add_auth(req)
    java = spark._jvm.io.sealio.hadoop.AwsKms.authorization(
        "AKIDEXAMPLE", "wJalr/EXAMPLEKEY", session_token, REGION, "20261204T010203Z", "127.0.0.1:4566",
        "TrentService.Encrypt", body)
    assert java == req.headers["Authorization"]


def test_aws_kms_keys_both_ways(spark: Any, moto: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    moto.new_key("alias/spark-native")
    keys = f"aws-kms://alias/spark-native?region={REGION}&endpoint={moto.url}"
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)  # the Python side's credentials
    creds = tmp_path / "credentials"
    creds.write_text("[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    creds.chmod(0o600)
    mgr = sealio.KeyManager(from_uri(keys))  # one KEK for every file, as one writer has
    data = tmp_path / "in"
    data.mkdir()
    for i in range(4):
        with sealio.open(data / f"part-{i}.csv", "wb", keys=mgr, master_key="alias/spark-native") as f:
            f.write(b"".join(f"{i * 50 + j},v\n".encode() for j in range(50)))
    opts = dict(native_fs_conf(keys, aws_credentials_file=creds, prefix=""),
                **{"fs.sealed.impl.disable.cache": "true"})
    cache = spark._jvm.io.sealio.hadoop.KekCache
    cache.clear()
    before = cache.unwrapCalls()
    df = spark.read.options(**opts).schema("id long, s string").csv(sealed_url(data))
    assert sorted(r.id for r in df.collect()) == list(range(200))
    assert cache.unwrapCalls() - before == 1  # one DescribeKey + Decrypt for four files

    jvm = spark._jvm
    conf = jvm.org.apache.hadoop.conf.Configuration(spark._jsc.hadoopConfiguration())
    for k, v in opts.items():
        conf.set(k, v)
    fs = jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI("sealed:///"), conf)
    out = fs.create(jvm.org.apache.hadoop.fs.Path(sealed_url(tmp_path / "java.bin")), True)
    out.write(b"written by the JVM under an AWS KMS key")
    out.close()
    with sealio.open(tmp_path / "java.bin", "rb", keys=keys) as f:
        assert f.read() == b"written by the JVM under an AWS KMS key"
    assert b"sealio-aws1:" in (tmp_path / "java.bin").read_bytes()[:1024]
