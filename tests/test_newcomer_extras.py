"""Issue 15 leftovers on the newcomer path: no PySpark pandas-3 notice at
session start, one-sentence install hints for missing extras, the lazy
re-exports of ``sealio.spark``."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

QUIET_START = """
import warnings
from sealio.spark import local_session
before = list(warnings.filters)
spark = local_session("sealio-quiet-start", cores=1)
spark.stop()
assert warnings.filters == before, "local_session left a warnings filter behind"
"""


def test_local_session_starts_without_the_pandas3_notice() -> None:
    """PySpark's pandas >= 3 notice (printed by a bare SparkSession start,
    whose pyspark.testing.utils import swallows it as an exception under
    ``-W error``, hence the stderr check) is hidden only while the context
    starts, and no filter stays behind."""
    pytest.importorskip("pyspark", minversion="4.0")
    proc = subprocess.run([sys.executable, "-W", "default", "-c", QUIET_START],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "does not yet fully support pandas" not in proc.stderr


NO_PYSPARK = """
import sys
sys.modules["pyspark"] = None  # as if the spark extra were not installed
import sealio.spark
for use in (lambda: sealio.spark.SealedDataSource, lambda: sealio.spark.register(None),
            lambda: sealio.spark.local_session()):
    try:
        use()
    except ModuleNotFoundError as e:
        print(e.name, "|", e)
    else:
        raise SystemExit("no error without pyspark")
"""


def test_spark_without_pyspark_says_what_to_install() -> None:
    """``import sealio.spark`` works without pyspark; using it gives one
    sentence naming the extra, not a traceback into ``pyspark.sql``."""
    proc = subprocess.run([sys.executable, "-c", NO_PYSPARK], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 3, proc.stdout
    for line, what in zip(lines, ("sealio.spark.SealedDataSource", "sealio.spark.register", "local_session")):
        name, _, message = line.partition(" | ")
        assert name.startswith("pyspark"), line
        assert message.startswith(f"{what} needs pyspark, which is not installed: pip install 'sealio[spark]'"), line


NO_FSSPEC = """
import sys
sys.modules["fsspec"] = None  # as if the fsspec extra were not installed
from sealio.fs.arrow import as_arrow_fs
try:
    as_arrow_fs(object())
except TypeError as e:
    print(e)
"""


def test_arrow_fs_without_fsspec_says_what_to_install() -> None:
    """A base that is not a pyarrow filesystem, with fsspec missing: the
    error says how to get fsspec filesystems, as sealio.fs.fsspec does."""
    proc = subprocess.run([sys.executable, "-c", NO_FSSPEC], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == ("base must be a pyarrow.fs.FileSystem, not object (fsspec filesystems need "
                                   "fsspec, which is not installed: pip install 'sealio[fsspec]')"), proc.stdout


def test_spark_reexports_the_native_fs_helpers_lazily() -> None:
    """The sealed:// and bigdl:// conf helpers are reachable from
    ``sealio.spark`` (and listed in ``__all__``) without importing pyspark."""
    code = """
import sys
sys.modules["pyspark"] = None
import sealio.spark
from sealio.spark import native_fs
for name in ("native_fs_conf", "sealed_url", "bigdl_fs_conf", "bigdl_url"):
    assert name in sealio.spark.__all__, name
    assert getattr(sealio.spark, name) is getattr(native_fs, name), name
print(sealio.spark.bigdl_url("/data/x"), sealio.spark.sealed_url("/data/x"))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from sealio.spark import native_fs

    assert proc.stdout.split() == [native_fs.bigdl_url("/data/x"), native_fs.sealed_url("/data/x")]


# ------------------------------------------------ sealio bigdl decrypt: the sealed CLI's manners

BIGDL_PRIMARY = "EBESExQVFhcYGRobHB0eHw=="  # base64 of bytes 16..31, as tests/test_bigdl_cli.py


def _bigdl_tree(root: Path) -> Path:
    """A BigDL common-format tree: x/y/part-a.cbc, x/part-b.cbc, part-c.cbc."""
    import base64
    import os

    import bigdl_ref as ref

    top = root / "enc"
    for rel in ("x/y/part-a.csv.cbc", "x/part-b.csv.cbc", "part-c.csv.cbc"):
        dk = base64.b64encode(os.urandom(16)).decode()
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).write_bytes(ref.common_encrypt(b"a,b\n1,2\n" * 500, ref.primary_wrap(BIGDL_PRIMARY, dk), dk))
    return top


def _flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 1
    path.write_bytes(raw)


def _decrypt(src: Path, dst: Path, *extra: str) -> int:
    from sealio.cli import main

    return main(["bigdl", "decrypt", *extra, "--primary-key-plaintext", BIGDL_PRIMARY, str(src), str(dst)])


@pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")
def test_a_failed_bigdl_tree_decrypt_leaves_no_empty_directories(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    enc = _bigdl_tree(tmp_path)
    _flip(enc / "x" / "y" / "part-a.csv.cbc")
    out = tmp_path / "plain"
    assert _decrypt(enc, out, "-q") == 1
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["part-c.csv", "x", "x/part-b.csv"]
    for rel in ("x/part-b.csv.cbc", "part-c.csv.cbc"):
        _flip(enc / rel)
    out2 = tmp_path / "a" / "b" / "plain"  # DST and two parents made by this run: all taken back
    assert _decrypt(enc, out2, "-q") == 1
    assert not (tmp_path / "a").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    assert _decrypt(enc, mine, "-q") == 1
    assert mine.is_dir() and not any(mine.iterdir())  # the user's own directory stays
    assert _decrypt(enc / "part-c.csv.cbc", tmp_path / "d" / "c.csv", "-q") == 1  # a single file too
    assert not (tmp_path / "d").exists()
    assert capsys.readouterr().err.count("HMAC mismatch") == 1 + 3 + 3 + 1


class _Terminal(io.StringIO):
    """stdout and stderr of one terminal: both land in one buffer."""

    def isatty(self) -> bool:
        return True


@pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")
def test_bigdl_decrypt_errors_and_summary_are_not_on_the_progress_bar(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    enc = _bigdl_tree(tmp_path)
    _flip(enc / "x" / "part-b.csv.cbc")
    term = _Terminal()
    monkeypatch.setattr("sys.stdout", term)
    monkeypatch.setattr("sys.stderr", term)
    assert _decrypt(enc, tmp_path / "plain") == 1
    text = term.getvalue()
    assert "\r" in text  # a progress bar was drawn
    lines = [line.rsplit("\r", 1)[-1].replace("\x1b[K", "") for line in text.split("\n") if line]
    for line in lines:  # each error, warning and the summary starts its own line
        assert line.startswith(("sealio: ", "decrypted ")), repr(line)
    assert lines[-1] == "decrypted 2 of 3 BigDL file(s)"
