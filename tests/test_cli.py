"""The ``sealio`` command line: every command, trees, exit codes 0/1/2."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import sealio
import sealio.streams
from sealio.cli import main
from sealio.format import header as H


@pytest.fixture()
def ring(tmp_path: Path) -> Path:
    k = tmp_path / "k.json"
    assert main(["keygen", "--keyring", str(k), "-q", "main"]) == 0
    return k


def tree(root: Path) -> dict[str, bytes]:
    files = {
        "a.csv": b"id,name\n1,ada\n2,grace\n",
        "sub/b.bin": os.urandom(200_000),
        "sub/deeper/empty": b"",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in ([], ["keygen"], ["encrypt"], ["decrypt"], ["inspect"], ["verify"], ["rewrap"], ["demo"]):
        assert main([*cmd, "--help"]) == 0
        out = capsys.readouterr().out
        assert "usage: sealio" in out
    assert main([]) == 2
    assert main(["frobnicate"]) == 2


def test_console_script() -> None:
    exe = Path(sys.executable).with_name("sealio")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "sealio.cli"]
    done = subprocess.run([*cmd, "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "encrypt" in done.stdout
    done = subprocess.run([*cmd, "encrypt"], capture_output=True, text=True, check=False)
    assert done.returncode == 2


def test_keygen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    k = tmp_path / "cfg" / "k.json"
    assert main(["keygen", "--keyring", str(k), "main"]) == 0
    assert stat.S_IMODE(k.stat().st_mode) == 0o600
    assert main(["keygen", "--keyring", str(k), "main"]) == 2  # exists
    assert main(["keygen", "--keyring", str(k), "--rotate", "main"]) == 0
    assert sealio.LocalKeyring(k).versions("main") == [1, 2]
    assert main(["keygen", "--keyring", str(k), "--rotate", "nope"]) == 1
    assert main(["keygen", "--keyring", str(k), "bad name"]) == 2
    out = capsys.readouterr()
    assert "version 2" in out.out


def test_keyring_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    k = tmp_path / "env.json"
    monkeypatch.setenv("SEALIO_KEYRING", str(k))
    assert main(["keygen", "-q", "envkey"]) == 0
    src = tmp_path / "f.txt"
    src.write_text("hello")
    assert main(["encrypt", "-q", str(src), str(tmp_path / "f.sealed")]) == 0
    assert main(["decrypt", "-q", str(tmp_path / "f.sealed"), str(tmp_path / "f.out")]) == 0
    assert (tmp_path / "f.out").read_text() == "hello"


def test_file_roundtrip_and_inspect(ring: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "data.bin"
    src.write_bytes(os.urandom(300_000))
    enc = tmp_path / "data.sealed"
    assert main(["encrypt", "--keyring", str(ring), "--master-key", "main", "--segment-size", "16K",
                 str(src), str(enc)]) == 0
    assert main(["decrypt", "--keyring", str(ring), str(enc), str(tmp_path / "back.bin")]) == 0
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    capsys.readouterr()
    assert main(["inspect", "--json", str(enc)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format_version"] == 1 and info["segment_size"] == 16384
    assert info["header_size"] == 1024 and info["plaintext_size"] == 300_000
    assert info["segment_count"] == 19 and info["master_key_id"] == "main"
    assert info["algorithm"].startswith("AES-256-GCM")
    header = H.parse(enc.read_bytes())
    dumped = json.dumps(info)
    assert header.wrapped_kek not in dumped and header.wrapped_dek.hex() not in dumped
    assert main(["inspect", str(enc)]) == 0
    text = capsys.readouterr().out
    assert "segment size" in text and "300000" in text
    assert main(["inspect", str(src)]) == 1  # not sealed
    assert "NotSealedError" in capsys.readouterr().err


def test_tree_roundtrip_verify_and_tamper(ring: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    files = tree(tmp_path / "plain")
    k = ["--keyring", str(ring)]
    assert main(["encrypt", *k, str(tmp_path / "plain"), str(tmp_path / "sealed")]) == 0
    for rel in files:
        assert sealio.streams.is_sealed(tmp_path / "sealed" / rel)
    assert main(["verify", *k, str(tmp_path / "sealed")]) == 0
    assert main(["decrypt", *k, str(tmp_path / "sealed"), str(tmp_path / "out")]) == 0
    for rel, data in files.items():
        assert (tmp_path / "out" / rel).read_bytes() == data
    # destination exists: usage error unless --force
    assert main(["decrypt", *k, str(tmp_path / "sealed"), str(tmp_path / "out")]) == 2
    assert main(["decrypt", *k, "--force", str(tmp_path / "sealed"), str(tmp_path / "out")]) == 0
    # tamper one file: verify and decrypt exit 1, and no plaintext is published
    victim = tmp_path / "sealed" / "sub" / "b.bin"
    raw = bytearray(victim.read_bytes())
    raw[H.HEADER_SIZE + 70_000] ^= 1
    victim.write_bytes(raw)
    capsys.readouterr()
    assert main(["verify", *k, str(tmp_path / "sealed")]) == 1
    err = capsys.readouterr().err
    assert "b.bin" in err and "IntegrityError" in err
    assert main(["decrypt", *k, str(victim), str(tmp_path / "victim.out")]) == 1
    assert not (tmp_path / "victim.out").exists()
    assert not list(tmp_path.glob(".victim.out*"))


def test_bind_path(ring: Path, tmp_path: Path) -> None:
    tree(tmp_path / "plain")
    k = ["--keyring", str(ring)]
    assert main(["encrypt", *k, "--bind-path", "-q", str(tmp_path / "plain"), str(tmp_path / "s")]) == 0
    assert main(["verify", *k, "--bind-path", "-q", str(tmp_path / "s")]) == 0
    assert main(["verify", *k, "-q", str(tmp_path / "s" / "a.csv")]) == 1  # AAD missing
    # a file moved to another logical path no longer verifies
    (tmp_path / "s" / "sub" / "b.bin").rename(tmp_path / "s" / "sub" / "c.bin")
    assert main(["verify", *k, "--bind-path", "-q", str(tmp_path / "s")]) == 1
    assert main(["encrypt", *k, "--aad", "x", "--bind-path", str(tmp_path / "plain"), str(tmp_path / "t")]) == 2


def test_usage_errors(ring: Path, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    k = ["--keyring", str(ring)]
    assert main(["encrypt", *k, str(tmp_path / "missing"), str(tmp_path / "o")]) == 2
    assert main(["encrypt", "--keyring", str(tmp_path / "nokeyring.json"), str(src), str(tmp_path / "o")]) == 2
    assert main(["encrypt", *k, "--segment-size", "3000", str(src), str(tmp_path / "o")]) == 2
    assert main(["encrypt", *k, "--master-key", "unknown", str(src), str(tmp_path / "o")]) == 1
    assert not (tmp_path / "o").exists()
    assert main(["decrypt", *k, str(src), str(tmp_path / "o")]) == 1  # not sealed


def test_rewrap_rotation_and_new_master(ring: Path, tmp_path: Path) -> None:
    k = ["--keyring", str(ring)]
    src = tmp_path / "f"
    src.write_bytes(os.urandom(100_000))
    enc = tmp_path / "f.sealed"
    assert main(["encrypt", *k, "-q", str(src), str(enc)]) == 0
    before = enc.read_bytes()
    assert H.parse(before).wrapped_kek.startswith("sealio-lk1:1:")
    assert main(["keygen", *k, "-q", "--rotate", "main"]) == 0
    assert main(["rewrap", *k, "-q", str(enc)]) == 0
    after = enc.read_bytes()
    assert H.parse(after).wrapped_kek.startswith("sealio-lk1:2:")
    assert after[H.HEADER_SIZE:] == before[H.HEADER_SIZE:]  # segments untouched
    assert main(["keygen", *k, "-q", "second"]) == 0
    assert main(["rewrap", *k, "-q", "--master-key", "second", "--in-place", str(enc)]) == 0
    assert H.parse(enc.read_bytes()).master_key_id == "second"
    assert enc.read_bytes()[H.HEADER_SIZE:] == before[H.HEADER_SIZE:]
    assert main(["decrypt", *k, "-q", str(enc), str(tmp_path / "back")]) == 0
    assert (tmp_path / "back").read_bytes() == src.read_bytes()
    assert main(["rewrap", *k, "-q", "--master-key", "nope", str(enc)]) == 1
    assert main(["rewrap", *k, "-q", "--aad", "wrong", str(enc)]) == 1  # authenticates first


def test_passphrase_keyring_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    k = tmp_path / "pw.json"
    monkeypatch.setenv("SEALIO_PASSPHRASE", "s3cret")
    assert main(["keygen", "--keyring", str(k), "--passphrase", "--scrypt-n", "4096", "-q", "main"]) == 0
    src = tmp_path / "f"
    src.write_bytes(b"secret data")
    assert main(["encrypt", "--keyring", str(k), "-q", str(src), str(tmp_path / "e")]) == 0
    monkeypatch.setenv("SEALIO_PASSPHRASE", "wrong")
    assert main(["decrypt", "--keyring", str(k), "-q", str(tmp_path / "e"), str(tmp_path / "d")]) == 1
    monkeypatch.delenv("SEALIO_PASSPHRASE")
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # not a terminal: cannot prompt
    assert main(["decrypt", "--keyring", str(k), "-q", str(tmp_path / "e"), str(tmp_path / "d")]) == 2


def test_demo(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pyarrow")
    cwd = os.getcwd()
    assert main(["demo"]) == 0
    assert os.getcwd() == cwd
    out = capsys.readouterr().out
    for step in ("sealio keygen", "sealio encrypt", "sealio inspect", "sealio verify", "sealio decrypt",
                 "matches", "pyarrow read the sealed Parquet"):
        assert step in out


def test_commitment_shown_and_required_on_demand(ring: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """inspect names the format and its key commitment; verify/decrypt
    --require-commitment refuse a 1.0 file (written by the reference under
    the same keyring) and accept what sealio writes today."""
    import sealref

    old = tmp_path / "old.sealed"
    inputs = sealref.FileInputs(dek=os.urandom(32), kek=os.urandom(32), kek_id=os.urandom(16),
                                salt=os.urandom(32), nonce_prefix=os.urandom(7), dek_nonce=os.urandom(12),
                                master_key_id="main", minor=0)
    old.write_bytes(sealref.seal(b"old,file\n", inputs, sealio.LocalKeyring(ring)))
    (tmp_path / "new.csv").write_bytes(b"new,file\n")
    assert main(["encrypt", "--keyring", str(ring), "-q", str(tmp_path / "new.csv"), str(tmp_path / "new.sealed")]) == 0
    capsys.readouterr()
    assert main(["inspect", str(old), str(tmp_path / "new.sealed")]) == 0
    out = capsys.readouterr().out
    assert "format version   1.0 (no key commitment)" in out
    assert "format version   1.1 (key commitment)" in out
    assert main(["verify", "--keyring", str(ring), "-q", str(old)]) == 0
    assert main(["verify", "--keyring", str(ring), "-q", "--require-commitment", str(old)]) == 1
    assert "no key commitment" in capsys.readouterr().err
    assert main(["decrypt", "--keyring", str(ring), "-q", "--require-commitment", str(old),
                 str(tmp_path / "old.csv")]) == 1
    assert not (tmp_path / "old.csv").exists()
    assert main(["decrypt", "--keyring", str(ring), "-q", "--require-commitment",
                 str(tmp_path / "new.sealed"), str(tmp_path / "new.out")]) == 0
    assert (tmp_path / "new.out").read_bytes() == b"new,file\n"


def test_keygen_scrypt_cost_above_the_cap_is_a_usage_error(tmp_path: Path) -> None:
    env = dict(os.environ, SEALIO_PASSPHRASE="pw")
    r = subprocess.run([sys.executable, "-m", "sealio.cli", "keygen", "--keyring", str(tmp_path / "k.json"),
                        "--passphrase", "--scrypt-n", str(1 << 22), "main"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "scrypt" in r.stderr
    assert not (tmp_path / "k.json").exists()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"sealio {version('sealio')}"


def test_no_fsync_publishes_without_syncing(ring: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--no-fsync`` outputs appear by rename as usual but nothing is
    fsynced; the default fsyncs every output (and its directory)."""
    files = tree(tmp_path / "src")
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    k = ["--keyring", str(ring), "-q"]
    assert main(["encrypt", *k, "--no-fsync", str(tmp_path / "src"), str(tmp_path / "quick")]) == 0
    assert main(["decrypt", *k, "--no-fsync", str(tmp_path / "quick"), str(tmp_path / "back")]) == 0
    assert synced == []
    for rel, data in files.items():
        assert (tmp_path / "back" / rel).read_bytes() == data
    assert main(["encrypt", *k, str(tmp_path / "src"), str(tmp_path / "durable")]) == 0
    assert len(synced) >= 2 * len(files)
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".sealio-tmp")]


@pytest.mark.parametrize("verb", ["encrypt", "decrypt"])
def test_a_destination_that_appears_mid_write_is_not_replaced(verb: str, ring: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The existence check runs before any work; a file made under the
    destination name while the output is written survives (without
    --force), the run fails for that file, and no temporary is left."""
    import sealio.cli.files as files

    src = tmp_path / "plain.bin"
    src.write_bytes(os.urandom(3 << 20))
    if verb == "decrypt":
        assert main(["encrypt", "--keyring", str(ring), "-q", str(src), str(tmp_path / "in.sealed")]) == 0
        src = tmp_path / "in.sealed"
    dst = tmp_path / "out"

    class Planting(files.Progress):
        def __call__(self, n: int) -> None:
            if not dst.exists():
                dst.write_bytes(b"planted")
            super().__call__(n)

    monkeypatch.setattr(files, "Progress", Planting)
    assert main([verb, "--keyring", str(ring), "-q", str(src), str(dst)]) == 1
    assert dst.read_bytes() == b"planted"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".sealio-tmp")]
