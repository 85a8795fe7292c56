"""`sealio ... --kms URI` with each backend, and the rotation story end to end:
rotate the master key, re-wrap part of a dataset without touching segments,
disable the old version; re-wrapped files read, the others fail clearly."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from sealio import cli
from sealio.format import header as H
from sealio.kms import KmsRef

pytest.importorskip("hvac")
pytest.importorskip("boto3")

from servers.moto import REGION, moto  # noqa: E402,F401 - session fixture
from servers.openbao import openbao  # noqa: E402,F401 - session fixture

FILES = {"a.csv": b"id,v\n" + b"1,2\n" * 5000, "sub/b.bin": bytes(range(256)) * 700, "c.txt": b"not re-wrapped"}


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    for var in ("SEALIO_KMS", "SEALIO_KEYRING", "VAULT_TOKEN", "BAO_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    KmsRef.forget()


def _dataset(root: Path) -> Path:
    for rel, data in FILES.items():
        (root / "data" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "data" / rel).write_bytes(data)
    return root / "data"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def _wrapped_kek(path: Path) -> str:
    return H.parse(path.read_bytes()[:H.HEADER_SIZE]).wrapped_kek


def _rotation_story(capsys, tmp_path: Path, uri: str, rotate, disable_old, old_marker, new_marker) -> None:
    data = _dataset(tmp_path)
    sealed = tmp_path / "sealed"
    assert _run(capsys, "encrypt", "--kms", uri, "-q", str(data), str(sealed))[0] == 0
    assert all(old_marker(_wrapped_kek(sealed / rel)) for rel in FILES)
    before = {rel: (sealed / rel).read_bytes() for rel in FILES}

    rotate()
    rc, out, err = _run(capsys, "rewrap", "--kms", uri, str(sealed / "a.csv"))
    assert rc == 0, err
    rc, out, err = _run(capsys, "rewrap", "--kms", uri, str(sealed / "sub"))
    assert rc == 0, err
    for rel in ("a.csv", "sub/b.bin"):
        after = (sealed / rel).read_bytes()
        assert after[H.HEADER_SIZE:] == before[rel][H.HEADER_SIZE:]  # segments untouched
        assert new_marker(_wrapped_kek(sealed / rel))
    assert (sealed / "c.txt").read_bytes() == before["c.txt"]

    disable_old()
    rc, out, err = _run(capsys, "verify", "--kms", uri, str(sealed))
    assert rc == 1
    assert "a.csv: OK" in out and "b.bin: OK" in out and "verified 2 of 3" in out
    assert "c.txt: KeyDisabledError" in err and "disabled" in err and "rewrap" in err
    restored = tmp_path / "restored"
    rc, _, err = _run(capsys, "decrypt", "--kms", uri, "-q", str(sealed / "sub"), str(restored))
    assert rc == 0, err
    assert (restored / "b.bin").read_bytes() == FILES["sub/b.bin"]


def test_vault_rotation_rewrap_and_min_decryption_version(openbao, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", openbao.token)
    key = openbao.new_key(f"cli-{uuid.uuid4().hex[:8]}")
    transit = openbao.client().secrets.transit
    _rotation_story(capsys, tmp_path, f"vault+{openbao.url}/transit/keys/{key}",
                    rotate=lambda: transit.rotate_key(key),
                    disable_old=lambda: transit.update_key_configuration(key, min_decryption_version=2),
                    old_marker=lambda w: w.startswith("vault:v1:"),
                    new_marker=lambda w: w.startswith("vault:v2:"))


def test_aws_new_key_behind_the_alias_rewrap_and_disable(moto, tmp_path, capsys):
    alias = f"alias/cli-{uuid.uuid4().hex[:8]}"
    old_key = moto.new_key(alias)
    kms = moto.kms()
    new_key = kms.create_key()["KeyMetadata"]["KeyId"]
    _rotation_story(capsys, tmp_path, f"aws-kms://{alias}?region={REGION}&endpoint={moto.url}",
                    rotate=lambda: kms.update_alias(AliasName=alias, TargetKeyId=new_key),
                    disable_old=lambda: kms.disable_key(KeyId=old_key),
                    old_marker=lambda w: w.split(":")[1] == old_key,
                    new_marker=lambda w: w.split(":")[1] == new_key)


def test_sealio_kms_environment_variable(openbao, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", openbao.token)
    key = openbao.new_key(f"env-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("SEALIO_KMS", f"vault+{openbao.url}/transit/keys/{key}")
    (tmp_path / "p.txt").write_bytes(b"hello")
    assert _run(capsys, "encrypt", "-q", str(tmp_path / "p.txt"), str(tmp_path / "p.sealed"))[0] == 0
    rc, out, _ = _run(capsys, "inspect", "--json", str(tmp_path / "p.sealed"))
    assert f'"master_key_id": "{key}"' in out
    assert _run(capsys, "verify", str(tmp_path / "p.sealed"))[0] == 0


def test_kms_errors_and_usage(openbao, tmp_path, capsys, monkeypatch):
    (tmp_path / "p.txt").write_bytes(b"hello")
    uri = f"vault+{openbao.url}/transit/keys/missing-{uuid.uuid4().hex[:8]}"
    rc, _, err = _run(capsys, "encrypt", "--kms", uri, str(tmp_path / "p.txt"), str(tmp_path / "o"))
    assert rc == 1 and "KmsAuthError" in err and "no Vault token" in err
    monkeypatch.setenv("VAULT_TOKEN", openbao.token)
    rc, _, err = _run(capsys, "encrypt", "--kms", uri, str(tmp_path / "p.txt"), str(tmp_path / "o"))
    assert rc == 1 and "KeyNotFoundError" in err and not (tmp_path / "o").exists()
    rc, _, err = _run(capsys, "verify", "--kms", uri, "--keyring", "k.json", str(tmp_path / "p.txt"))
    assert rc == 2 and "either --kms or --keyring" in err
    rc, _, err = _run(capsys, "verify", "--kms", "vault+http://u:pw@127.0.0.1:1/transit", str(tmp_path / "p.txt"))
    assert rc == 1 and "credentials are not accepted" in err and "pw" not in err


def test_local_keyring_through_kms_option(tmp_path, capsys):
    kr = tmp_path / "kr.json"
    assert _run(capsys, "keygen", "-q", "--keyring", str(kr), "alpha")[0] == 0
    (tmp_path / "p.txt").write_bytes(b"hello")
    uri = f"local://{kr}"
    assert _run(capsys, "encrypt", "-q", "--kms", uri, str(tmp_path / "p.txt"), str(tmp_path / "s"))[0] == 0
    assert _run(capsys, "verify", "--keyring", str(kr), str(tmp_path / "s"))[0] == 0
