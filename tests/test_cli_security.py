"""The CLI against a hostile environment (issue 12, item 6 and 5): planted
symlinks and FIFOs, a kill mid-write, secrets on argv, hostile ``.meta``
and keyrings, undecodable bytes on argv and in file names, core dumps.

Each case runs the real command line, most in a subprocess so a hang is a
failure (``timeout``) and a traceback is visible on stderr.
"""

from __future__ import annotations

import base64
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import bigdl_ref as ref
from sealio import bigdl
from sealio.bigdl.dataset import parse_meta
from sealio.errors import ConfigurationError, FormatError
from sealio.keys import LocalKeyring

PRIMARY = base64.b64encode(bytes(range(16, 32))).decode()
TIMEOUT = 120  # generous: a hang is what fails, never a slow machine

pytestmark = [pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning"),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX file semantics")]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEALIO_BIGDL", "SEALIO_EHSM"))}
    env.pop("SEALIO_KMS", None)
    env.update(extra)
    return env


def sealio_cli(*args: str | bytes | os.PathLike[str], env: dict[str, str] | None = None,
               cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """``sealio ARGS`` in a fresh interpreter; bytes arguments pass through undecoded."""
    argv = [os.fsencode(a) if isinstance(a, os.PathLike) else a for a in args]
    return subprocess.run([sys.executable, "-m", "sealio.cli", *argv], capture_output=True,
                          env=env or _env(), cwd=cwd, timeout=TIMEOUT, check=False)


def _no_traceback(done: subprocess.CompletedProcess[bytes]) -> str:
    err = done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    return err


@pytest.fixture()
def ring(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    LocalKeyring.create(path).generate("mk", make_default=True)
    return path


def _bigdl_file(path: Path, plain: bytes) -> None:
    dk = base64.b64encode(os.urandom(16)).decode()
    path.write_bytes(ref.common_encrypt(plain, ref.primary_wrap(PRIMARY, dk), dk))


# ------------------------------------------------------ 1. temporary files


def test_bigdl_decrypt_never_follows_a_symlink_at_the_old_temp_name(tmp_path: Path) -> None:
    plain = b"name,age\nada,36\n" * 100
    _bigdl_file(tmp_path / "in.csv.cbc", plain)
    out = tmp_path / "out"
    out.mkdir()
    stolen = tmp_path / "attacker-owned.txt"
    (out / ".people.csv.sealio-tmp").symlink_to(stolen)
    done = sealio_cli("bigdl", "decrypt", "-q", tmp_path / "in.csv.cbc", out / "people.csv",
                      env=_env(SEALIO_BIGDL_PRIMARY_KEY=PRIMARY))
    _no_traceback(done)
    assert done.returncode == 0
    assert not stolen.exists()  # nothing written through the planted link
    assert (out / "people.csv").read_bytes() == plain


_STALL = textwrap.dedent("""
    import os, sys, time
    os.umask(0o022)
    import sealio.cli.bigdl as cb
    class Stall(cb.Progress):  # the first chunk is written; then wait to be killed
        def __call__(self, n):
            sys.stdout.write("written\\n"); sys.stdout.flush(); time.sleep(600)
    cb.Progress = Stall
    from sealio.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_bigdl_decrypt_killed_midway_leaves_no_readable_plaintext(tmp_path: Path) -> None:
    plain = b"secret-row," * 50_000
    _bigdl_file(tmp_path / "in.cbc", plain)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", _STALL, "bigdl", "decrypt", "-q", str(tmp_path / "in.cbc"),
                             str(out / "plain.csv")], stdout=subprocess.PIPE, env=_env(SEALIO_BIGDL_PRIMARY_KEY=PRIMARY))
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"written\n"
        leftovers = [p for p in out.iterdir()]
        assert leftovers and any(p.stat().st_size for p in leftovers)  # plaintext was being written
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(TIMEOUT)
    assert not (out / "plain.csv").exists()
    for p in out.iterdir():
        st = p.lstat()
        assert stat.S_ISREG(st.st_mode) and st.st_mode & 0o077 == 0, (p.name, oct(st.st_mode))


def test_bigdl_meta_is_written_atomically_never_through_a_symlink(tmp_path: Path) -> None:
    src = tmp_path / "plain"
    src.mkdir()
    (src / "part-0.csv").write_bytes(b"a,b\n1,2\n")
    dst = tmp_path / "enc"
    dst.mkdir()
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("untouched")
    (dst / ".meta").symlink_to(elsewhere)
    done = sealio_cli("bigdl", "encrypt", "-q", src, dst, env=_env(SEALIO_BIGDL_PRIMARY_KEY=PRIMARY))
    _no_traceback(done)
    assert done.returncode == 0
    assert elsewhere.read_text() == "untouched"
    assert not (dst / ".meta").is_symlink() and bigdl.read_meta(dst)


# ------------------------------------------------------------- 2. trees


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"inside")
    (src / "sub" / "b.txt").write_bytes(b"inside too")
    outside = tmp_path / "outside"
    (outside / "d").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(b"outside SRC")
    (outside / "d" / "c.txt").write_bytes(b"outside SRC, in a directory")
    return src, outside


def test_encrypt_does_not_follow_symlinks_out_of_src_and_says_so(tmp_path: Path, ring: Path) -> None:
    src, outside = _tree(tmp_path)
    (src / "link.txt").symlink_to(outside / "secret.txt")
    (src / "linkdir").symlink_to(outside / "d")
    done = sealio_cli("encrypt", "--keyring", ring, src, tmp_path / "sealed")
    err = _no_traceback(done)
    assert done.returncode == 0, err
    sealed = tmp_path / "sealed"
    assert sorted(p.relative_to(sealed).as_posix() for p in sealed.rglob("*") if p.is_file()) == \
        ["a.txt", "sub/b.txt"]
    lines = [ln for ln in err.splitlines() if "skipped" in ln]
    assert len(lines) == 2 and any("link.txt" in ln for ln in lines) and any("linkdir" in ln for ln in lines)
    assert all("symbolic link" in ln for ln in lines)

    followed = sealio_cli("encrypt", "--keyring", ring, "--follow-symlinks", src, tmp_path / "all")
    _no_traceback(followed)
    assert followed.returncode == 0
    assert sorted(p.relative_to(tmp_path / "all").as_posix() for p in (tmp_path / "all").rglob("*")
                  if p.is_file()) == ["a.txt", "link.txt", "linkdir/c.txt", "sub/b.txt"]


def test_a_fifo_in_a_tree_never_blocks_any_command(tmp_path: Path, ring: Path) -> None:
    src, _ = _tree(tmp_path)
    os.mkfifo(src / "pipe")
    done = sealio_cli("encrypt", "--keyring", ring, src, tmp_path / "sealed")  # used to hang here
    err = _no_traceback(done)
    assert done.returncode == 0, err
    assert [ln for ln in err.splitlines() if "skipped" in ln and "pipe" in ln and "FIFO" in ln]
    assert not (tmp_path / "sealed" / "pipe").exists()
    os.mkfifo(tmp_path / "sealed" / "pipe2")
    for cmd in (["verify", "--keyring", ring], ["inspect"], ["rewrap", "--keyring", ring]):
        done = sealio_cli(*cmd, tmp_path / "sealed")
        assert done.returncode == 0 and b"pipe2" in done.stderr, _no_traceback(done)
    done = sealio_cli("decrypt", "--keyring", ring, tmp_path / "sealed", tmp_path / "plain")
    assert done.returncode == 0 and b"pipe2" in done.stderr, _no_traceback(done)


def test_a_fifo_named_directly_is_refused_without_blocking(tmp_path: Path, ring: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    done = sealio_cli("encrypt", "--keyring", ring, tmp_path / "pipe", tmp_path / "out")
    err = _no_traceback(done)
    assert done.returncode != 0 and "FIFO" in err and not (tmp_path / "out").exists()


def test_source_opener_refuses_a_fifo_swapped_in_after_the_check(tmp_path: Path) -> None:
    """The last line of defence, without the lstat: open never blocks, fstat refuses."""
    os.mkfifo(tmp_path / "pipe")
    code = ("import sys; from sealio.cli import open_source_file\n"
            "try:\n  open_source_file(sys.argv[1])\nexcept OSError as e:\n  print('refused', e.errno)\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "pipe")], capture_output=True,
                          timeout=TIMEOUT, check=False)
    assert done.stdout.startswith(b"refused"), done.stderr


def test_decrypt_never_writes_through_a_symlinked_directory_in_dst(tmp_path: Path, ring: Path) -> None:
    src, outside = _tree(tmp_path)
    assert sealio_cli("encrypt", "--keyring", ring, src, tmp_path / "sealed").returncode == 0
    restored = tmp_path / "restored"
    restored.mkdir()
    (restored / "sub").symlink_to(outside)
    done = sealio_cli("decrypt", "--keyring", ring, tmp_path / "sealed", restored)
    err = _no_traceback(done)
    assert done.returncode == 1
    assert not (outside / "b.txt").exists() and (restored / "a.txt").read_bytes() == b"inside"
    assert "sub" in err and "symbolic link" in err
    followed = sealio_cli("decrypt", "--keyring", ring, "--follow-symlinks", "--force", tmp_path / "sealed",
                          restored)
    assert followed.returncode == 0 and (outside / "b.txt").read_bytes() == b"inside too"


# ----------------------------------------------------- 3. secrets on argv


def test_bigdl_secrets_from_the_environment_and_files_and_argv_warns(tmp_path: Path) -> None:
    plain = b"x,y\n1,2\n"
    _bigdl_file(tmp_path / "in.cbc", plain)
    done = sealio_cli("bigdl", "decrypt", "-q", tmp_path / "in.cbc", tmp_path / "env.csv",
                      env=_env(SEALIO_BIGDL_PRIMARY_KEY=PRIMARY))
    assert done.returncode == 0 and b"/proc" not in done.stderr, _no_traceback(done)
    pk_file = tmp_path / "pk"
    pk_file.write_text(PRIMARY + "\n")
    done = sealio_cli("bigdl", "decrypt", "-q", "--primary-key-file", pk_file, tmp_path / "in.cbc",
                      tmp_path / "file.csv")
    assert done.returncode == 0 and b"/proc" not in done.stderr, _no_traceback(done)
    done = subprocess.run([sys.executable, "-m", "sealio.cli", "bigdl", "decrypt", "-q", "--primary-key-file", "-",
                           str(tmp_path / "in.cbc"), str(tmp_path / "stdin.csv")], input=PRIMARY.encode(),
                          capture_output=True, env=_env(), timeout=TIMEOUT, check=False)
    assert done.returncode == 0, _no_traceback(done)
    done = sealio_cli("bigdl", "decrypt", "-q", "--primary-key-plaintext", PRIMARY, tmp_path / "in.cbc",
                      tmp_path / "argv.csv")
    err = _no_traceback(done)
    assert done.returncode == 0
    warn = [ln for ln in err.splitlines() if "--primary-key-plaintext" in ln]
    assert len(warn) == 1 and "warning" in warn[0] and "/proc" in warn[0] and PRIMARY not in err
    for name in ("env.csv", "file.csv", "stdin.csv", "argv.csv"):
        assert (tmp_path / name).read_bytes() == plain


def test_simple_kms_api_key_from_a_file_or_the_environment_argv_warns(tmp_path: Path) -> None:
    pk_file = tmp_path / "primaryKey"
    pk_file.write_text(bigdl.SimpleKms.create_primary_key("abcdef123456") + "\n")
    (tmp_path / "in.csv").write_bytes(b"a\n1\n")
    api = "api-key-Zq81"
    (tmp_path / "api").write_text(api + "\n")
    base = ["--simple-app-id", "abcdef123456", "--primary-key-path", str(pk_file)]
    done = sealio_cli("bigdl", "encrypt", "-q", *base, "--simple-api-key-file", tmp_path / "api",
                      tmp_path / "in.csv", tmp_path / "a.cbc")
    assert done.returncode == 0 and b"/proc" not in done.stderr, _no_traceback(done)
    done = sealio_cli("bigdl", "decrypt", "-q", *base, tmp_path / "a.cbc", tmp_path / "a.csv",
                      env=_env(SEALIO_BIGDL_API_KEY=api))
    assert done.returncode == 0 and (tmp_path / "a.csv").read_bytes() == b"a\n1\n", _no_traceback(done)
    done = sealio_cli("bigdl", "decrypt", "-q", *base, "--simple-api-key", api, tmp_path / "a.cbc",
                      tmp_path / "b.csv")
    err = _no_traceback(done)
    assert done.returncode == 0 and "--simple-api-key" in err and "warning" in err and api not in err


def test_ehsm_api_key_on_argv_warns_without_echoing_it(tmp_path: Path) -> None:
    (tmp_path / "keyid").write_text("key-id")
    (tmp_path / "in.csv").write_bytes(b"a\n")
    api = "ehsm-api-key-7Hq2"
    done = sealio_cli("bigdl", "encrypt", "-q", "--ehsm-url", "https://127.0.0.1:1", "--ehsm-app-id", "app",
                      "--ehsm-api-key", api, "--primary-key-path", tmp_path / "keyid", tmp_path / "in.csv",
                      tmp_path / "out.cbc")
    err = _no_traceback(done)
    assert done.returncode == 1  # nothing listens there: a KMS error, one line
    assert "--ehsm-api-key" in err and "warning" in err and api not in err
    (tmp_path / "api").write_text(api)
    done = sealio_cli("bigdl", "encrypt", "-q", "--ehsm-url", "https://127.0.0.1:1", "--ehsm-app-id", "app",
                      "--ehsm-api-key-file", tmp_path / "api", "--primary-key-path", tmp_path / "keyid",
                      tmp_path / "in.csv", tmp_path / "out.cbc")
    err = _no_traceback(done)
    assert done.returncode == 1 and "/proc" not in err and api not in err


def test_a_bad_secret_is_never_echoed(tmp_path: Path) -> None:
    _bigdl_file(tmp_path / "in.cbc", b"x")
    bad = "not*base64*but-a-secret"
    done = sealio_cli("bigdl", "decrypt", "-q", tmp_path / "in.cbc", tmp_path / "o",
                      env=_env(SEALIO_BIGDL_PRIMARY_KEY=bad))
    err = _no_traceback(done)
    assert done.returncode == 2 and bad not in err
    (tmp_path / "pk").write_text(bad)
    done = sealio_cli("bigdl", "decrypt", "-q", "--primary-key-file", tmp_path / "pk", tmp_path / "in.cbc",
                      tmp_path / "o")
    err = _no_traceback(done)
    assert done.returncode == 2 and bad not in err
    done = sealio_cli("bigdl", "decrypt", "-q", "--primary-key-file", tmp_path / "missing", tmp_path / "in.cbc",
                      tmp_path / "o")
    assert done.returncode == 2 and "missing" in _no_traceback(done)


# ------------------------------------------------ 5. no escaping exceptions


DEEP = "[" * 200_000 + "]" * 200_000
HUGE_INT = '{"encryptedDataKey": "k", "n": ' + "7" * 5000 + "}"


@pytest.mark.parametrize("text", [DEEP, '{"a":' * 100_000 + "1" + "}" * 100_000, HUGE_INT])
def test_hostile_meta_is_a_format_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(FormatError):
        parse_meta(text.encode())
    (tmp_path / ".meta").write_text(text)
    with pytest.raises(FormatError):
        bigdl.read_meta(tmp_path)


def test_hostile_bigdl_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    for i, text in enumerate((DEEP, '{"primary_key_plaintext": ' + "1" * 5000 + "}")):
        (tmp_path / f"k{i}").write_text(text)
        with pytest.raises(ConfigurationError):
            bigdl.load_key_file(tmp_path / f"k{i}")


@pytest.mark.parametrize("text", [DEEP, HUGE_INT])
def test_cli_hostile_meta_no_traceback(tmp_path: Path, text: str) -> None:
    d = tmp_path / "people.bigdl"
    d.mkdir()
    _bigdl_file(d / "part-00000.csv.cbc", b"a\n1\n")
    (d / ".meta").write_text(text)
    done = sealio_cli("bigdl", "inspect", d)
    err = _no_traceback(done)
    assert done.returncode == 1 and len(err.strip().splitlines()) == 1 and "FormatError" in err
    done = sealio_cli("bigdl", "decrypt", "-q", d, tmp_path / "out", env=_env(SEALIO_BIGDL_PRIMARY_KEY=PRIMARY))
    _no_traceback(done)
    assert done.returncode == 0 and (tmp_path / "out" / "part-00000.csv").read_bytes() == b"a\n1\n"


@pytest.mark.parametrize("doc", ['{"keys": []}', '{"version": 1e400, "keys": {}}', "5", DEEP,
                                 '{"keys": {"k": {"key": 5}}}', b"\xff\xfe{"])
def test_cli_malformed_keyring_is_one_line_no_traceback(tmp_path: Path, doc: str | bytes) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(doc if isinstance(doc, bytes) else doc.encode())
    bad.chmod(0o600)
    (tmp_path / "f").write_bytes(b"x")
    for cmd in (["verify", "--keyring", bad, tmp_path / "f"],
                ["encrypt", "--keyring", bad, "--master-key", "k", tmp_path / "f", tmp_path / "o"]):
        done = sealio_cli(*cmd)
        err = _no_traceback(done)
        assert done.returncode == 1 and len(err.strip().splitlines()) == 1, err


def test_cli_non_utf8_aad_is_a_usage_error(tmp_path: Path, ring: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    done = sealio_cli("encrypt", "--keyring", ring, "--aad", b"tenant-\xff", tmp_path / "f", tmp_path / "o")
    err = _no_traceback(done)
    assert done.returncode == 2 and "--aad" in err and not (tmp_path / "o").exists()
    assert sealio_cli("encrypt", "--keyring", ring, "--aad", "tenant-ü", tmp_path / "f",
                      tmp_path / "o").returncode == 0
    done = sealio_cli("verify", "--keyring", ring, "--aad", b"tenant-\xff", tmp_path / "o")
    assert done.returncode == 2, _no_traceback(done)


def test_cli_bind_path_with_a_non_utf8_name_reports_that_file_and_goes_on(tmp_path: Path, ring: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.txt").write_bytes(b"good")
    bad_name = os.fsdecode(b"bad-\xff.txt")
    (src / bad_name).write_bytes(b"bad")
    (src / "z-last.txt").write_bytes(b"last")
    done = sealio_cli("encrypt", "--keyring", ring, "--bind-path", src, tmp_path / "sealed")
    err = _no_traceback(done)
    assert done.returncode == 1
    assert (tmp_path / "sealed" / "good.txt").exists() and (tmp_path / "sealed" / "z-last.txt").exists()
    assert not (tmp_path / "sealed" / bad_name).exists()
    assert "bad-" in err and "UTF-8" in err
    done = sealio_cli("verify", "--keyring", ring, "--bind-path", tmp_path / "sealed")
    assert done.returncode == 0, _no_traceback(done)
    done = sealio_cli("encrypt", "--keyring", ring, src, tmp_path / "plain-names")  # no binding: all fine
    assert done.returncode == 0, _no_traceback(done)
    done = sealio_cli("verify", "--keyring", ring, "--bind-path", tmp_path / "plain-names")
    err = _no_traceback(done)
    assert done.returncode == 1 and "bad-" in err


# ------------------------------------------------------------ 6. core dumps


def test_cli_marks_itself_non_dumpable_before_loading_keys(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import ctypes, sys
        libc = ctypes.CDLL(None, use_errno=True)
        before = libc.prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE
        import sealio.keys
        seen = []
        real = sealio.keys.LocalKeyring.__init__
        def spy(self, *a, **k):
            seen.append(libc.prctl(3, 0, 0, 0, 0))
            return real(self, *a, **k)
        sealio.keys.LocalKeyring.__init__ = spy
        from sealio.cli import main
        rc = main(["verify", "--keyring", sys.argv[1], sys.argv[2]])
        print(before, seen, libc.prctl(3, 0, 0, 0, 0), rc)
    """)
    ring = tmp_path / "keys.json"
    LocalKeyring.create(ring).generate("mk", make_default=True)
    (tmp_path / "f").write_bytes(b"not sealed")
    done = subprocess.run([sys.executable, "-c", code, str(ring), str(tmp_path / "f")], capture_output=True,
                          text=True, timeout=TIMEOUT, check=False)
    assert done.stdout.split() == ["1", "[0]", "0", "1"], done.stdout + done.stderr


def test_non_dumpable_helper_reports_what_it_did() -> None:
    code = ("import ctypes; from sealio.cli import disable_core_dumps\n"
            "print(disable_core_dumps(), ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)
    assert done.stdout.split() == ["True", "0"], done.stderr
