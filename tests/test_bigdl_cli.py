"""``sealio bigdl`` commands, run in-process through ``sealio.cli.main``."""

from __future__ import annotations

import base64
import json
import os
import time

import pytest

import bigdl_ref as ref
import sealio
from sealio.cli import main

PRIMARY = base64.b64encode(bytes(range(100, 116))).decode()
KEY = ["--primary-key-plaintext", PRIMARY]
pytestmark = pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")


@pytest.fixture
def bigdl_dir(tmp_path):
    """A directory as BigDL writes it: two parts under one data key, .meta."""
    dk = ref.plaintext_new_data_key()
    edk = ref.plaintext_wrap(PRIMARY, dk)
    d = tmp_path / "bigdl"
    d.mkdir()
    plains = {"part-00000-x-c000.csv.cbc": b"name,age,job\nann,30,Developer\n" * 1000,
              "part-00001-x-c000.csv.cbc": os.urandom(200_003)}
    for name, p in plains.items():
        (d / name).write_bytes(ref.common_encrypt(dk, edk, os.urandom(16), p))
    (d / ".meta").write_text(ref.meta_text(edk))
    (d / "_SUCCESS").write_bytes(b"")
    return d, plains


def test_decrypt_directory(tmp_path, bigdl_dir):
    d, plains = bigdl_dir
    assert main(["bigdl", "decrypt", "-q", *KEY, str(d), str(tmp_path / "out")]) == 0
    for name, p in plains.items():
        assert (tmp_path / "out" / name.removesuffix(".cbc")).read_bytes() == p
    assert main(["bigdl", "decrypt", "-q", *KEY, str(d), str(tmp_path / "out")]) == 2  # exists


def test_decrypt_tampered_fails_and_writes_nothing(tmp_path, bigdl_dir, capsys):
    d, _ = bigdl_dir
    victim = d / "part-00001-x-c000.csv.cbc"
    raw = bytearray(victim.read_bytes())
    raw[5000] ^= 0x20
    victim.write_bytes(raw)
    assert main(["bigdl", "decrypt", "-q", *KEY, str(d), str(tmp_path / "out")]) == 1
    assert "IntegrityError" in capsys.readouterr().err
    assert not (tmp_path / "out" / "part-00001-x-c000.csv").exists()
    assert (tmp_path / "out" / "part-00000-x-c000.csv").exists()
    with pytest.warns(sealio.errors.UnverifiedDataWarning):
        assert main(["bigdl", "decrypt", "-q", "--no-verify-mac", "--force", *KEY, str(victim),
                     str(tmp_path / "salvaged")]) == 0


def test_encrypt_then_reference_reads(tmp_path):
    src = tmp_path / "plain"
    src.mkdir()
    files = {"a.csv": b"x,y\n1,2\n", "b.csv": os.urandom(100_000), "empty.csv": b""}
    for k, v in files.items():
        (src / k).write_bytes(v)
    assert main(["bigdl", "encrypt", "-q", *KEY, str(src), str(tmp_path / "enc")]) == 0
    edk = json.loads((tmp_path / "enc/.meta").read_text())["encryptedDataKey"]
    dk = ref.plaintext_unwrap(PRIMARY, edk)
    for k, v in files.items():
        assert ref.common_decrypt(dk, (tmp_path / "enc" / (k + ".cbc")).read_bytes()) == v
    assert main(["bigdl", "decrypt", "-q", *KEY, str(tmp_path / "enc"), str(tmp_path / "back")]) == 0
    assert all((tmp_path / "back" / k).read_bytes() == v for k, v in files.items())


def test_migrate_to_sealed(tmp_path, bigdl_dir):
    d, plains = bigdl_dir
    ring = str(tmp_path / "ring.json")
    assert main(["keygen", "-q", "--keyring", ring, "m"]) == 0
    assert main(["bigdl", "migrate", "-q", *KEY, "--keyring", ring, "--master-key", "m",
                 str(d), str(tmp_path / "sealed")]) == 0
    kr = sealio.LocalKeyring(ring)
    for name, p in plains.items():
        with sealio.open(tmp_path / "sealed" / name.removesuffix(".cbc"), "rb", keys=kr) as f:
            assert f.read() == p


def test_migrate_refuses_tampered_part(tmp_path, bigdl_dir):
    d, _ = bigdl_dir
    victim = d / "part-00000-x-c000.csv.cbc"
    raw = bytearray(victim.read_bytes())
    raw[-1] ^= 1
    victim.write_bytes(raw)
    ring = str(tmp_path / "ring.json")
    main(["keygen", "-q", "--keyring", ring, "m"])
    assert main(["bigdl", "migrate", "-q", *KEY, "--keyring", ring, "--master-key", "m",
                 str(d), str(tmp_path / "sealed")]) == 1
    assert not (tmp_path / "sealed" / "part-00000-x-c000.csv").exists()
    assert [p.name for p in (tmp_path / "sealed").iterdir()] == ["part-00001-x-c000.csv"]


def test_simple_kms_from_environment(tmp_path, monkeypatch):
    pk = tmp_path / "primaryKey"
    pk.write_text("abcdefghijkl1234\n")
    monkeypatch.setenv("SEALIO_BIGDL_SIMPLE_APP_ID", "abcdefghijkl")
    monkeypatch.setenv("SEALIO_BIGDL_SIMPLE_API_KEY", "secretapikey")
    (tmp_path / "in.csv").write_bytes(b"a\n1\n")
    args = ["--primary-key-path", str(pk)]
    assert main(["bigdl", "encrypt", "-q", *args, str(tmp_path / "in.csv"), str(tmp_path / "enc")]) == 0
    edk = json.loads((tmp_path / "enc/.meta").read_text())["encryptedDataKey"]
    dk = ref.simple_unwrap("abcdefghijkl1234", edk)
    assert ref.common_decrypt(dk, (tmp_path / "enc/in.csv.cbc").read_bytes()) == b"a\n1\n"
    assert main(["bigdl", "decrypt", "-q", *args, str(tmp_path / "enc"), str(tmp_path / "o")]) == 0
    assert (tmp_path / "o/in.csv").read_bytes() == b"a\n1\n"


def test_legacy_needs_explicit_version_and_data_key(tmp_path, capsys):
    dk = ref.plaintext_new_data_key()
    (tmp_path / "dataKey").write_text(ref.plaintext_wrap(PRIMARY, dk))
    (tmp_path / "f").write_bytes(ref.legacy_encrypt(dk, "2.2", int(time.time()), os.urandom(16), b"hello"))
    assert main(["bigdl", "decrypt", "-q", *KEY, str(tmp_path / "f"), str(tmp_path / "o")]) == 2
    assert "legacy-2.1 or legacy-2.2" in capsys.readouterr().err
    assert main(["bigdl", "decrypt", "-q", *KEY, "--format", "legacy-2.2", "--data-key-path",
                 str(tmp_path / "dataKey"), str(tmp_path / "f"), str(tmp_path / "o")]) == 0
    assert (tmp_path / "o").read_bytes() == b"hello"


def test_inspect_json_no_key_material(bigdl_dir, capsys):
    d, _ = bigdl_dir
    assert main(["bigdl", "inspect", "--json", str(d)]) == 0
    out = capsys.readouterr().out
    info = json.loads(out)
    assert [i["format"] for i in info] == ["common", "common"]
    assert all(i["matches_meta"] for i in info)
    assert json.loads((d / ".meta").read_text())["encryptedDataKey"] not in out


def test_key_source_usage_errors(tmp_path, bigdl_dir, capsys):
    d, _ = bigdl_dir
    assert main(["bigdl", "decrypt", str(d), str(tmp_path / "o")]) == 2
    assert main(["bigdl", "decrypt", "--simple-app-id", "a", str(d), str(tmp_path / "o")]) == 2
    assert "exactly one key source" in capsys.readouterr().err
