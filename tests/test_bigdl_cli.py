"""`sealio bigdl ...` end to end, with files the reference wrote, and
SimpleQuery over BigDL-encrypted input."""

from __future__ import annotations

import base64
import os
import random
from pathlib import Path

import pyarrow.compute as pc
import pytest

import bigdl_ref as ref
import sealio
from sealio import bigdl
from sealio.cli import main

PRIMARY = base64.b64encode(bytes(range(16, 32))).decode()

pytestmark = pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")


def _people(n: int, seed: int = 7) -> tuple[bytes, int]:
    rnd = random.Random(seed)
    rows = [("name", "age", "job")]
    for _ in range(n):
        name = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(3, 7)))
        rows.append((name, str(rnd.randint(18, 60)), rnd.choice(["Developer", "Engineer", "Researcher"])))
    want = sum(1 for r in rows[1:] if r[2] == "Developer" and 20 <= int(r[1]) <= 40)
    return ("\n".join(",".join(r) for r in rows) + "\n").encode(), want


def _bigdl_dir(root: Path, parts: int = 3) -> tuple[Path, list[bytes], int]:
    d = root / "people.bigdl"
    d.mkdir()
    plains, want = [], 0
    for i in range(parts):
        plain, w = _people(400, seed=i)
        dk = base64.b64encode(os.urandom(16)).decode()
        blob = ref.common_encrypt(plain, ref.primary_wrap(PRIMARY, dk), dk)
        (d / f"part-0000{i}-uuid-c000.csv.cbc").write_bytes(blob)
        plains.append(plain)
        want += w
    (d / "_SUCCESS").write_bytes(b"")
    (d / ".meta").write_text('{\n  "encryptedDataKey" : "only-the-last-one"\n}\n')
    return d, plains, want


def test_simple_query_on_bigdl_encrypted_input(tmp_path: Path) -> None:
    d, _, want = _bigdl_dir(tmp_path)
    table = bigdl.read_csv_table(d, bigdl.Opener("common", keys=bigdl.PlaintextPrimaryKey(PRIMARY)))
    mask = pc.and_(pc.equal(table["job"], "Developer"),
                   pc.and_(pc.greater_equal(table["age"], 20), pc.less_equal(table["age"], 40)))
    assert table.filter(mask).num_rows == want > 0


def test_cli_decrypt_encrypt_round_trip(tmp_path: Path) -> None:
    d, plains, _ = _bigdl_dir(tmp_path)
    out = tmp_path / "plain"
    assert main(["bigdl", "decrypt", "-q", "--primary-key-plaintext", PRIMARY, str(d), str(out)]) == 0
    got = sorted(p.read_bytes() for p in out.iterdir())
    assert got == sorted(plains)
    again = tmp_path / "again"
    assert main(["bigdl", "encrypt", "-q", "--primary-key-plaintext", PRIMARY, str(out), str(again)]) == 0
    for blob_path in again.glob("*.cbc"):
        plain = ref.common_decrypt(blob_path.read_bytes(), lambda e: ref.primary_unwrap(PRIMARY, e))
        assert plain in plains
    assert bigdl.read_meta(again) is not None


def test_cli_decrypt_fails_closed_on_a_tampered_part(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d, _, _ = _bigdl_dir(tmp_path)
    victim = sorted(d.glob("*.cbc"))[1]
    blob = bytearray(victim.read_bytes())
    blob[500] ^= 0x40
    victim.write_bytes(bytes(blob))
    out = tmp_path / "plain"
    assert main(["bigdl", "decrypt", "-q", "--primary-key-plaintext", PRIMARY, str(d), str(out)]) == 1
    assert "HMAC mismatch" in capsys.readouterr().err
    assert not (out / victim.name).exists()  # no plaintext of the bad part
    assert len([p for p in out.iterdir() if not p.name.startswith(".")]) == 2


def test_cli_migrate_to_sealed_files(tmp_path: Path) -> None:
    d, plains, _ = _bigdl_dir(tmp_path)
    kr = tmp_path / "keys.json"
    assert main(["keygen", "-q", "--keyring", str(kr), "analytics"]) == 0
    dst = tmp_path / "sealed"
    assert main(["bigdl", "migrate", "-q", "--primary-key-plaintext", PRIMARY, "--keyring", str(kr),
                 "--master-key", "analytics", str(d), str(dst)]) == 0
    keys = sealio.LocalKeyring(kr)
    got = []
    for p in sorted(dst.iterdir()):
        with sealio.open(p, "rb", keys=keys) as f:
            got.append(f.read())
    assert sorted(got) == sorted(plains)
    assert main(["verify", "--keyring", str(kr), str(dst)]) == 0


def test_cli_simple_kms_and_usage_errors(tmp_path: Path) -> None:
    pk_file = tmp_path / "primaryKey"
    pk = bigdl.SimpleKms.create_primary_key("abcdef123456")
    pk_file.write_text(pk + "\n")
    plain = tmp_path / "in.csv"
    plain.write_bytes(b"name,age,job\nbo,22,Developer\n")
    enc = tmp_path / "in.csv.cbc"
    opts = ["--simple-app-id", "abcdef123456", "--simple-api-key", "k", "--primary-key-path", str(pk_file)]
    assert main(["bigdl", "encrypt", "-q", *opts, str(plain), str(enc)]) == 0
    assert ref.common_decrypt(enc.read_bytes(), lambda e: ref.simple_unwrap(pk, e)) == plain.read_bytes()
    assert main(["bigdl", "decrypt", "-q", *opts, str(enc), str(tmp_path / "out.csv")]) == 0
    assert (tmp_path / "out.csv").read_bytes() == plain.read_bytes()
    assert main(["bigdl", "decrypt", "-q", str(enc), str(tmp_path / "x")]) == 2  # no key source


def test_cli_inspect_needs_no_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d, _, _ = _bigdl_dir(tmp_path, parts=2)
    assert main(["bigdl", "inspect", "--json", str(d)]) == 0
    out = capsys.readouterr().out
    assert '"format": "common"' in out and '"meta_present": true' in out and PRIMARY not in out


def test_cli_native_and_legacy(tmp_path: Path) -> None:
    nat = tmp_path / "n.bin"
    nat.write_bytes(ref.native_encrypt(b"native", PRIMARY))
    with pytest.warns(sealio.errors.UnauthenticatedWarning):
        assert main(["bigdl", "decrypt", "-q", "--format", "native", "--primary-key-plaintext", PRIMARY,
                     str(nat), str(tmp_path / "n.txt")]) == 0
    assert (tmp_path / "n.txt").read_bytes() == b"native"
    dk = base64.b64encode(os.urandom(24)).decode()
    (tmp_path / "dataKey").write_text(dk)
    leg = tmp_path / "l.bin"
    leg.write_bytes(ref.legacy_encrypt(b"legacy", dk, 32))
    assert main(["bigdl", "decrypt", "-q", "--format", "legacy-2.1", "--data-key-file",
                 str(tmp_path / "dataKey"), str(leg), str(tmp_path / "l.txt")]) == 0
    assert (tmp_path / "l.txt").read_bytes() == b"legacy"
    assert main(["bigdl", "decrypt", "-q", "--format", "auto", "--primary-key-plaintext", PRIMARY,
                 str(leg), str(tmp_path / "l2.txt")]) == 1  # a legacy file: refuses to guess its key size
    assert not (tmp_path / "l2.txt").exists()


def test_cli_verify_reports_each_part_and_fails_on_tampering(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    d, _, _ = _bigdl_dir(tmp_path)
    assert main(["bigdl", "verify", "--primary-key-plaintext", PRIMARY, str(d)]) == 0
    out = capsys.readouterr().out
    assert out.count(": OK (") == len(bigdl.part_files(d)) and "ciphertext MAC" in out
    victim = sorted(d.glob("*.cbc"))[0]
    blob = bytearray(victim.read_bytes())
    blob[-1] ^= 0x01
    victim.write_bytes(bytes(blob))
    assert main(["bigdl", "verify", "--primary-key-plaintext", PRIMARY, str(d)]) == 1
    assert "HMAC mismatch" in capsys.readouterr().err


def test_cli_legacy_data_key_file_is_unwrapped_by_the_kms(tmp_path: Path) -> None:
    """BigDL 2.1/2.2 keep the SimpleKMS-*wrapped* data key in the dataKey
    file; the KMS options unwrap it (BigDL's retrieveDataKeyPlainText)."""
    import bigdl_xref as xref

    app_id = "abcdef123456"
    (tmp_path / "primaryKey").write_text(app_id + "2718\n")
    digits = "3141592653589793"
    wrapped = xref.simple_wrap(app_id + "2718", digits)
    (tmp_path / "dataKey").write_text(wrapped)
    dk_text = xref.simple_unwrap(app_id + "2718", wrapped)
    part = tmp_path / "part-00000.csv"
    part.write_bytes(xref.legacy_encrypt_stream(dk_text, 1_650_000_000, os.urandom(16), b"a,b\n1,2\n" * 40))
    args = ["bigdl", "decrypt", "-q", "--format", "legacy-2.2", "--simple-app-id", app_id, "--simple-api-key", "k",
            "--primary-key-path", str(tmp_path / "primaryKey"), "--data-key-file", str(tmp_path / "dataKey"),
            str(part), str(tmp_path / "out.csv")]
    with pytest.warns(UserWarning):  # weak SimpleKMS key; the stream writer's MAC leaves the padding out
        assert main(args) == 0
    assert (tmp_path / "out.csv").read_bytes() == b"a,b\n1,2\n" * 40


def test_cli_inspect_shows_legacy_headers_without_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import bigdl_xref as xref

    part = tmp_path / "legacy.csv"
    part.write_bytes(xref.legacy_encrypt_fernet("k" * 32, 1_650_000_000, os.urandom(16), b"x" * 40))
    assert main(["bigdl", "inspect", "--json", str(part)]) == 0
    (row,) = json.loads(capsys.readouterr().out)["files"]
    assert row["format"] == "legacy (2.1/2.2)" and row["written"].startswith("2022-04-15")
    assert row["ciphertext_bytes"] == 48


def test_cli_inspect_survives_an_impossible_legacy_timestamp(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import struct

    part = tmp_path / "odd.csv"
    part.write_bytes(b"\x80" + struct.pack(">q", 10**15) + os.urandom(16) + os.urandom(32) + os.urandom(32))
    assert main(["bigdl", "inspect", str(part)]) == 0
    assert "not a date" in capsys.readouterr().out


def test_cli_legacy_with_incomplete_kms_options_is_a_usage_error(tmp_path: Path) -> None:
    """Half a SimpleKMS configuration must not silently fall back to reading
    the dataKey file as plaintext key text."""
    (tmp_path / "dataKey").write_text("12345678901234567890123456789012")
    (tmp_path / "part").write_bytes(b"\x80" + bytes(8 + 16 + 32 + 32))
    assert main(["bigdl", "decrypt", "-q", "--format", "legacy-2.2", "--simple-app-id", "abcdef123456",
                 "--data-key-file", str(tmp_path / "dataKey"), str(tmp_path / "part"), str(tmp_path / "o")]) == 2
