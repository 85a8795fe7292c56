"""``sealio bigdl`` where it must match BigDL's own tools: ``encrypt``
writes the native format as well as the common one, and the ``.meta``
BigDL's readers open (``DIR/.meta`` of the path they read, so a single
file's goes beside it); ``inspect --format``; plaintext outputs drop
``.cbc`` and migrated outputs get the names ``sealio encrypt`` gives
sealed files; exit status 2 for usage errors, 1 for integrity failures.
Every BigDL byte is checked with the independent references."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import bigdl_ref as ref
import bigdl_spark_layout as layout
import bigdl_xref as xref
import pytest
import sealio
from sealio import bigdl
from sealio.cli import main

PRIMARY = layout.PRIMARY
APP_ID = "abcdef123456"
pytestmark = pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning",
                                        "ignore::sealio.errors.UnauthenticatedWarning")
PK = ["--primary-key-plaintext", PRIMARY]


def _plain_tree(root: Path) -> dict[str, bytes]:
    files = {"part-00000.csv": b"name,age,job\nann,30,Developer\n" * 50, "part-00001.csv": b"",
             "sub/part-00002.csv": os.urandom(70_000)}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def _simple_kms(tmp_path: Path) -> tuple[list[str], str]:
    pk = bigdl.SimpleKms.create_primary_key(APP_ID)
    (tmp_path / "primaryKey").write_text(pk + "\n")
    return ["--simple-app-id", APP_ID, "--simple-api-key", "k", "--primary-key-path", str(tmp_path / "primaryKey")], pk


# ------------------------------------------------------------ encrypt --format native


def test_encrypt_native_with_a_plaintext_primary_key(tmp_path: Path) -> None:
    src = tmp_path / "plain"
    files = _plain_tree(src)
    enc = tmp_path / "enc"
    assert main(["bigdl", "encrypt", "-q", "--format", "native", *PK, str(src), str(enc)]) == 0
    for name, data in files.items():
        blob = (enc / f"{name}.cbc").read_bytes()
        assert blob == b"" if not data else ref.native_decrypt(blob, PRIMARY) == data  # IV || CBC, no header
    assert (enc / ".meta").read_text() == xref.meta_text("")  # BigDL's writer records no key for native
    back = tmp_path / "back"
    assert main(["bigdl", "decrypt", "-q", "--format", "native", *PK, str(enc), str(back)]) == 0
    assert {str(p.relative_to(back)): p.read_bytes() for p in back.rglob("*") if p.is_file()} == files


def test_encrypt_native_under_simple_kms_records_the_wrapped_key(tmp_path: Path) -> None:
    opts, pk = _simple_kms(tmp_path)
    src = tmp_path / "plain"
    files = _plain_tree(src)
    enc = tmp_path / "enc"
    assert main(["bigdl", "encrypt", "-q", "--format", "native", *opts, str(src), str(enc)]) == 0
    edk = bigdl.read_meta(enc)
    assert edk
    dk_text = xref.simple_unwrap(pk, edk)  # 32 digits, base64-decoded into an AES-192 key, as BigDL does
    assert ref.native_decrypt((enc / "part-00000.csv.cbc").read_bytes(), dk_text) == files["part-00000.csv"]
    back = tmp_path / "back"
    assert main(["bigdl", "decrypt", "-q", "--format", "native", *opts, str(enc), str(back)]) == 0
    assert (back / "sub" / "part-00002.csv").read_bytes() == files["sub/part-00002.csv"]


def test_encrypt_refuses_formats_it_does_not_write(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"x")
    for fmt in ("auto", "legacy-2.1", "legacy-2.2"):
        assert main(["bigdl", "encrypt", "-q", "--format", fmt, *PK, str(tmp_path / "a.csv"),
                     str(tmp_path / "a.cbc")]) == 2
    assert not (tmp_path / "a.cbc").exists()


# ------------------------------------------------------------ .meta for single files


@pytest.mark.parametrize("fmt", ["common", "native"])
def test_encrypt_one_file_writes_the_meta_beside_it(tmp_path: Path, fmt: str) -> None:
    """BigDL reads ``DIR/.meta`` for whatever path it is given, and a file
    has no children: a single file's ``.meta`` belongs to its directory."""
    (tmp_path / "people.csv").write_bytes(b"name,age,job\nbo,22,Developer\n")
    out = tmp_path / "input" / "people.csv.cbc"
    assert main(["bigdl", "encrypt", "-q", "--format", fmt, *PK, str(tmp_path / "people.csv"), str(out)]) == 0
    meta = bigdl.read_meta(out.parent)
    if fmt == "common":
        header_key = xref.common_header(out.read_bytes())[0]
        assert meta == header_key and ref.primary_unwrap(PRIMARY, meta)
    else:
        assert meta == ""
    into = tmp_path / "existing"
    into.mkdir()
    assert main(["bigdl", "encrypt", "-q", "--format", fmt, *PK, str(tmp_path / "people.csv"), str(into)]) == 0
    assert (into / "people.csv.cbc").is_file() and bigdl.read_meta(into) is not None


def test_encrypt_says_when_it_replaces_another_keys_meta(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.csv").write_bytes(b"a\n")
    out = tmp_path / "d"
    assert main(["bigdl", "encrypt", "-q", *PK, str(tmp_path / "a.csv"), str(out / "a.csv.cbc")]) == 0
    assert "replaced" not in capsys.readouterr().err
    assert main(["bigdl", "encrypt", "-q", *PK, str(tmp_path / "a.csv"), str(out / "b.csv.cbc")]) == 0
    err = capsys.readouterr().err
    assert "replaced" in err and ".meta" in err and PRIMARY not in err
    assert bigdl.read_meta(out) == xref.common_header((out / "b.csv.cbc").read_bytes())[0]


def test_encrypt_writes_meta_for_an_output_of_empty_partitions_only(tmp_path: Path) -> None:
    src = tmp_path / "plain"
    src.mkdir()
    (src / "part-00000.csv").write_bytes(b"")
    assert main(["bigdl", "encrypt", "-q", *PK, str(src), str(tmp_path / "enc")]) == 0
    assert (tmp_path / "enc" / "part-00000.csv.cbc").read_bytes() == b""
    assert bigdl.read_meta(tmp_path / "enc")  # BigDL opens .meta before it reads any part


# ------------------------------------------------------------ inspect --format


def test_inspect_format_reports_and_forces_the_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nat = layout.write_spark_output(tmp_path / "native", layout.people_partitions(3, empty=(2,)), "native")
    com = layout.write_spark_output(tmp_path / "common", layout.people_partitions(2, empty=()), "common")
    assert main(["bigdl", "inspect", str(nat.path)]) == 1  # auto cannot recognise native files
    assert "--format native" in capsys.readouterr().err
    assert main(["bigdl", "inspect", "--json", "--format", "native", str(nat.path)]) == 0
    rows = json.loads(capsys.readouterr().out)["files"]
    assert [r["format"] for r in rows] == ["native"] * 3 and [bool(r.get("empty")) for r in rows] == [0, 0, 1]
    first = next(iter(nat.parts))
    assert rows[0]["ciphertext_bytes"] == first.stat().st_size - 16 and rows[0]["detected"] is None
    part = str(next(iter(com.parts)))
    assert main(["bigdl", "inspect", "--json", part]) == 0
    (row,) = json.loads(capsys.readouterr().out)["files"]
    assert row["format"] == row["detected"] == "common"
    assert main(["bigdl", "inspect", "--format", "native", part]) == 0  # forced: read as native, and said
    assert "BigDL native" in (out := capsys.readouterr().out) and "looks common" in out
    for fmt in ("legacy-2.1", "legacy-2.2"):
        assert main(["bigdl", "inspect", "--format", fmt, part]) == 1  # a layout that format cannot have
        assert "FormatError" in capsys.readouterr().err
    assert main(["bigdl", "inspect", "--format", "bogus", part]) == 2


def test_inspect_format_legacy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    leg = layout.write_spark_output(tmp_path / "legacy", [b"a,b\n1,2\n"], "legacy-2.2")
    part = str(next(iter(leg.parts)))
    assert main(["bigdl", "inspect", "--json", "--format", "legacy-2.2", part]) == 0
    (row,) = json.loads(capsys.readouterr().out)["files"]
    assert row["format"] == "legacy-2.2" and row["detected"] == "legacy (2.1/2.2)"
    assert row["written"].startswith("2022-04-15")
    assert main(["bigdl", "inspect", "--format", "common", part]) == 1


# ------------------------------------------------------------ output names


def test_plaintext_outputs_drop_cbc(tmp_path: Path) -> None:
    out = layout.write_spark_output(tmp_path / "people.bigdl", layout.people_partitions(), "common")
    assert main(["bigdl", "decrypt", "-q", *PK, str(out.path), str(tmp_path / "plain")]) == 0
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == \
        sorted(p.name.removesuffix(".cbc") for p in out.parts)
    part = next(iter(out.parts))
    into = tmp_path / "into"
    into.mkdir()
    assert main(["bigdl", "decrypt", "-q", *PK, str(part), str(into)]) == 0  # a file into a directory
    assert (into / part.name.removesuffix(".cbc")).read_bytes() == out.parts[part]
    assert main(["bigdl", "decrypt", "-q", *PK, str(part), str(tmp_path / "named.txt")]) == 0  # DST as named
    assert (tmp_path / "named.txt").read_bytes() == out.parts[part]


def test_two_parts_that_would_share_a_name_are_a_usage_error(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    for name in ("a.csv", "a.csv.cbc"):
        dk = base64.b64encode(os.urandom(16)).decode()
        (d / name).write_bytes(ref.common_encrypt(b"x\n", ref.primary_wrap(PRIMARY, dk), dk))
    assert main(["bigdl", "decrypt", "-q", *PK, str(d), str(tmp_path / "plain")]) == 2
    assert not (tmp_path / "plain").exists() or not any((tmp_path / "plain").iterdir())


def test_migrated_outputs_get_the_names_sealio_encrypt_gives(tmp_path: Path) -> None:
    src = tmp_path / "plain"
    files = _plain_tree(src)
    enc = tmp_path / "enc"
    assert main(["bigdl", "encrypt", "-q", *PK, str(src), str(enc)]) == 0
    ring = tmp_path / "keys.json"
    assert main(["keygen", "-q", "--keyring", str(ring), "mk"]) == 0
    sealed, reference = tmp_path / "sealed", tmp_path / "reference"
    assert main(["bigdl", "migrate", "-q", *PK, "--keyring", str(ring), "--master-key", "mk", str(enc),
                 str(sealed)]) == 0
    assert main(["encrypt", "-q", "--keyring", str(ring), "--master-key", "mk", str(src), str(reference)]) == 0

    def names(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    assert names(sealed) == names(reference) == sorted(files)
    keys = sealio.LocalKeyring(ring)
    for name, data in files.items():
        with sealio.open(sealed / name, "rb", keys=keys) as f:
            assert f.read() == data
    one = tmp_path / "one"
    one.mkdir()
    assert main(["bigdl", "migrate", "-q", *PK, "--keyring", str(ring), "--master-key", "mk",
                 str(enc / "part-00000.csv.cbc"), str(one)]) == 0
    assert names(one) == ["part-00000.csv"]


# ------------------------------------------------------------ exit status


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"a\n")
    missing = str(tmp_path / "missing")
    ring = tmp_path / "keys.json"
    assert main(["keygen", "-q", "--keyring", str(ring), "mk"]) == 0
    for argv in (["decrypt", *PK, missing, str(tmp_path / "o")],
                 ["encrypt", *PK, missing, str(tmp_path / "o")],
                 ["migrate", *PK, "--keyring", str(ring), "--master-key", "mk", missing, str(tmp_path / "o")],
                 ["verify", *PK, missing],
                 ["inspect", missing],
                 ["decrypt", str(tmp_path / "a.csv"), str(tmp_path / "o")],  # no key source
                 ["decrypt", "--format", "legacy-2.2", "--data-key-file", missing, str(tmp_path / "a.csv"),
                  str(tmp_path / "o")],
                 ["decrypt", "--simple-app-id", APP_ID, "--simple-api-key", "k", "--primary-key-path", missing,
                  str(tmp_path / "a.csv"), str(tmp_path / "o")],
                 ["encrypt", "--format", "native", "--simple-app-id", APP_ID, "--simple-api-key", "k",
                  "--primary-key-path", missing, str(tmp_path / "a.csv"), str(tmp_path / "o")],
                 ["decrypt", "--format", "nope", *PK, str(tmp_path / "a.csv"), str(tmp_path / "o")]):
        assert main(["bigdl", *argv]) == 2, argv
    assert not (tmp_path / "o").exists()


def test_integrity_failures_exit_1(tmp_path: Path) -> None:
    out = layout.write_spark_output(tmp_path / "people.bigdl", layout.people_partitions(), "common")
    part = next(p for p, plain in out.parts.items() if plain)
    blob = bytearray(part.read_bytes())
    blob[420] ^= 1
    part.write_bytes(bytes(blob))
    ring = tmp_path / "keys.json"
    assert main(["keygen", "-q", "--keyring", str(ring), "mk"]) == 0
    assert main(["bigdl", "verify", "-q", *PK, str(out.path)]) == 1
    assert main(["bigdl", "decrypt", "-q", *PK, str(out.path), str(tmp_path / "plain")]) == 1
    assert not (tmp_path / "plain" / part.name.removesuffix(".cbc")).exists()
    assert main(["bigdl", "migrate", "-q", *PK, "--keyring", str(ring), "--master-key", "mk", str(out.path),
                 str(tmp_path / "sealed")]) == 1
    wrong = base64.b64encode(bytes(16)).decode()
    assert main(["bigdl", "verify", "-q", "--primary-key-plaintext", wrong, str(out.path)]) == 1
