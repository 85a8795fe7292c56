"""Spark data source options refuse anything that looks like a secret
(issue 12, item 6): options end up in query plans, event logs and the UI.
Pure option parsing: no Spark session is started."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealio.errors import ConfigurationError
from sealio.keys import LocalKeyring
from sealio.spark._options import parse_options

SECRET_NAMES = [
    # the ones the issue found missing
    "ehsmApiKey", "simpleApiKey", "primaryKeyPlaintext", "apiKey", "dataKey", "pk",
    # spelling variants and other secrets
    "api_key", "api-key", "APIKEY", "x.api.key", "ehsm_api_key", "simple.api.key", "primary_key_plaintext",
    "primaryKey", "data_key", "dataKeyPlaintext", "encryptedDataKey", "PK", "pk_b64", "primary.pk",
    "key", "keyBytes", "masterKeyBytes", "spark.sealio.masterKeyBytes", "aesKey", "hmacKey", "dek", "kek",
    "passphrase", "password", "passwd", "pwd", "secret", "secretAccessKey", "aws_secret_access_key",
    "accessKey", "token", "vault_token", "sessionToken", "authToken", "auth", "authorization",
    "credential", "credentials", "privateKey", "apiSecret", "clientSecret", "bearer", "cookie",
    "sealio.primaryKey", "bigdlPrimaryKey",
]

ALLOWED = {"keys": None, "kms": None, "keyring": None, "masterKey": "mk", "master_key": "mk",
           "bindPath": "true", "header": "true", "delimiter": ",", "sep": ",", "inferSchema": "false",
           "nullValue": "", "maxPartitionBytes": "1024", "batchRows": "10", "pushFilters": "false",
           "format": "csv"}


@pytest.fixture()
def keys(tmp_path: Path) -> str:
    path = tmp_path / "keys.json"
    LocalKeyring.create(path).generate("mk", make_default=True)
    return "local://" + str(path)


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_every_secret_looking_option_is_refused(keys: str, name: str) -> None:
    value = "c2VjcmV0LXZhbHVlLTEyMzQ1Ng=="
    with pytest.raises(ConfigurationError, match="secret") as e:
        parse_options({"path": "/tmp/x", "keys": keys, name: value})
    assert value not in str(e.value)


def test_the_real_options_are_accepted(keys: str, tmp_path: Path) -> None:
    for name, value in ALLOWED.items():
        if name in ("keys", "kms"):
            value = keys
        elif name == "keyring":
            opts = parse_options({"path": "/tmp/x", "keyring": keys[len("local://"):]})
            assert opts.keys == keys
            continue
        parse_options({"path": "/tmp/x", "keys": keys, name: value} if name not in ("keys", "kms")
                      else {"path": "/tmp/x", name: value})
    kf = tmp_path / "bigdl-keys.json"
    opts = parse_options({"path": "/tmp/x", "bigdl": "common", "bigdlKeyFile": str(kf)})
    assert opts.bigdl_key_file == str(kf)


@pytest.mark.parametrize("uri", [
    "vault+https://s.hvs-tok3n@vault.example:8200/transit/keys/orders",
    "vault+https://user:hunter2-pw@vault.example:8200/transit/keys/orders",
    "vault+https://vault.example:8200/transit/keys/orders?token=s.hvs-tok3n",
    "vault+https://vault.example:8200/transit/keys/orders?X-Vault-Token=s.hvs-tok3n",
    "aws-kms://alias/orders?region=eu-west-1&aws_secret_access_key=wJalrXUtnFEMI",
    "aws-kms://alias/orders?region=eu-west-1&sessionToken=FwoGZXIvYXdz",
    "local:///tmp/keys.json?passphrase=hunter2-pw",
    "local://me:hunter2-pw@/tmp/keys.json",
])
@pytest.mark.parametrize("option", ["keys", "kms"])
def test_kms_uris_carrying_credentials_are_refused_without_echo(uri: str, option: str) -> None:
    with pytest.raises(ConfigurationError) as e:
        parse_options({"path": "/tmp/x", option: uri})
    msg = str(e.value)
    for secret in ("s.hvs-tok3n", "hunter2-pw", "wJalrXUtnFEMI", "FwoGZXIvYXdz", "user:"):
        assert secret not in msg


def test_kms_uris_with_ordinary_options_are_accepted() -> None:
    for uri in ("vault+https://vault.example:8200/transit/keys/orders?timeout=5&namespace=team",
                "aws-kms://alias/orders?region=eu-west-1"):
        assert parse_options({"path": "/tmp/x", "keys": uri}).keys == uri


def test_commit_marker_is_never_written_through_a_planted_link(keys: str, tmp_path: Path) -> None:
    """``_SUCCESS`` used to be ``open(..., "wb")``: a link planted there truncated its target."""
    pytest.importorskip("pyspark", minversion="4.0")
    from pyspark.sql.types import LongType, StructField, StructType

    from sealio.spark._writer import SealedDataSourceWriter

    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    (out / "_SUCCESS").symlink_to(victim)
    w = SealedDataSourceWriter(parse_options({"path": str(out), "keys": keys, "format": "csv"}), "csv",
                     StructType([StructField("a", LongType())]), overwrite=False)
    w.commit([])
    assert victim.read_bytes() == b"precious"
    assert (out / "_SUCCESS").is_file() and not (out / "_SUCCESS").is_symlink()
