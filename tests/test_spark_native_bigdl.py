"""Stock Spark reads BigDL PPML's encrypted CSV/JSON output through the
read-only Java Hadoop FileSystem ``io.sealio.bigdl.BigdlFileSystem``
(``bigdl://``, java/io/sealio/bigdl/), without BigDL's jars: the same rows
as sealio's Python BigDL reader for directories laid out as BigDL's Spark
writer leaves them (empty partitions, ``_SUCCESS``, ``.crc``, ``.meta``),
the format vectors, keys from a plaintext primary key and from SimpleKMS,
a tampered part that fails the job before any of its rows is read, splits
inside a part, and migration to sealed files in one ``df.write``.

Shares the test run's ``local[2]`` session; each key source gets its own
scheme (Hadoop caches one filesystem per scheme), all removed afterwards.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark", minversion="4.0")

import bigdl_vectors as vec  # noqa: E402
import bigdl_xref as xref  # noqa: E402
import spark_native  # noqa: E402
from bigdl_spark_layout import PRIMARY, json_partitions, people_partitions, write_spark_output  # noqa: E402

import sealio  # noqa: E402
from sealio.bigdl.config import native_write_key  # noqa: E402
from sealio.bigdl.common import encrypt_many, open_common_stream, parse_header  # noqa: E402
from sealio.bigdl.directory import part_files, write_meta  # noqa: E402
from sealio.bigdl.keys import PlaintextPrimaryKey, SimpleKms  # noqa: E402
from sealio.bigdl.native import open_native_stream  # noqa: E402
from sealio.errors import ConfigurationError  # noqa: E402
from sealio.hazmat import AesCbc  # noqa: E402
from sealio.spark.native_fs import bigdl_fs_conf, bigdl_url, native_fs_conf, sealed_url  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")

VECTORS = json.loads((Path(__file__).parent / "data" / "bigdl" / "vectors.json").read_text())["vectors"]
SIMPLE_API_KEY = "not-a-secret-in-this-test"
SPLIT_CHUNK = 4096  # the bigdl-split scheme's chunk: many chunks per part, splits inside chunks


@pytest.fixture(scope="module")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bigdl-keys")
    (d / "simple.pk").write_text(vec.SIMPLE_PK + "\n")
    docs = {"layout": {"primary_key_plaintext": PRIMARY},
            "vectors": {"primary_key_plaintext": vec.PRIMARY},
            "simple": {"simple_app_id": vec.SIMPLE_APP_ID, "simple_api_key": SIMPLE_API_KEY,
                       "primary_key_path": str(d / "simple.pk")},
            "wrong": {"primary_key_plaintext": vec.PRIMARY}}  # not the layout's key
    out = {}
    for name, doc in docs.items():
        out[name] = d / f"{name}.json"
        out[name].write_text(json.dumps(doc))
        os.chmod(out[name], 0o600)
    return out


SCHEMES = {  # scheme: (format, key file, chunk size)
    "bigdl": ("common", "layout", None),
    "bigdl-native": ("native", "layout", None),
    "bigdl-split": ("common", "layout", SPLIT_CHUNK),
    "bigdl-nsplit": ("native", "layout", SPLIT_CHUNK),
    "bigdl-simple": ("common", "simple", None),
    "bigdl-nsimple": ("native", "simple", None),
    "bigdl-vec": ("common", "vectors", None),
    "bigdl-vecn": ("native", "vectors", None),
    "bigdl-wrong": ("common", "wrong", None),
}


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> tuple[sealio.LocalKeyring, str]:
    return spark_native.keyring(tmp_path_factory.mktemp("bigdl-sealed-keys"), "migrated")


@pytest.fixture(scope="module")
def bfs(spark: Any, key_files: dict[str, Path], ring: tuple[sealio.LocalKeyring, str]) -> Iterator[Any]:
    """The session with every test scheme configured, and ``sealed://`` on
    this module's keyring (uncached, so no earlier module's instance is used)."""
    conf: dict[str, str] = {}
    for scheme, (fmt, keys, chunk) in SCHEMES.items():
        conf.update(bigdl_fs_conf(fmt, key_file=key_files[keys], scheme=scheme, chunk_size=chunk, prefix=""))
    conf.update(native_fs_conf(ring[1], jni=False, prefix=""))
    conf["fs.sealed.impl.disable.cache"] = "true"
    with spark_native.hadoop_conf(spark, conf):
        yield spark


def jfs(spark: Any, scheme: str) -> Any:
    jvm = spark._jvm
    return jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI(f"{scheme}:///"),
                                                   spark._jsc.hadoopConfiguration())


def java_read(spark: Any, scheme: str, p: Path) -> bytes:
    stream = jfs(spark, scheme).open(spark._jvm.org.apache.hadoop.fs.Path(bigdl_url(p, scheme)))
    try:
        return bytes(spark._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
    finally:
        stream.close()


def java_error(excinfo: pytest.ExceptionInfo[Exception]) -> str:
    """The Java message of a Py4J error (or Spark's, which wraps it)."""
    e = excinfo.value
    return str(e.java_exception.toString()) if hasattr(e, "java_exception") else str(e)


def python_plaintext(part: Path, fmt: str, primary: str = PRIMARY) -> bytes:
    """sealio's Python BigDL reader: the reference these tests compare with."""
    if fmt == "native":
        with pytest.warns(sealio.errors.UnauthenticatedWarning) if part.stat().st_size else _nothing():
            with open_native_stream(part, primary) as r:
                return r.read()
    with open_common_stream(part, PlaintextPrimaryKey(primary)) as r:
        return r.read()


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


def csv_rows(texts: list[bytes]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for t in texts:
        rows += [tuple(r) for r in list(csv.reader(io.StringIO(t.decode())))[1:]]
    return sorted(rows)


def spark_rows(df: Any) -> list[tuple[str, ...]]:
    return sorted(tuple("" if v is None else str(v) for v in r) for r in df.collect())


# ------------------------------------------------------------ BigDL's Spark layout


@pytest.mark.parametrize("fmt,scheme", [("common", "bigdl"), ("native", "bigdl-native")])
def test_spark_reads_bigdl_csv_layout_as_python_does(bfs: Any, tmp_path: Path, fmt: str, scheme: str) -> None:
    out = write_spark_output(tmp_path / "people", people_partitions(), fmt)
    assert out.empty_parts and (out.path / "_SUCCESS").exists() and (out.path / ".meta").exists()
    assert list(out.path.glob(".*.crc"))
    expected = csv_rows([python_plaintext(p, fmt) for p in part_files(out.path)])
    assert len(expected) == 80
    df = bfs.read.csv(bigdl_url(out.path, scheme), header=True)
    assert df.columns == ["name", "age", "job"]
    assert spark_rows(df) == expected
    # SimpleQuery over it, as BigDL's example runs it
    dev = df.filter("job = 'Developer' AND CAST(age AS INT) BETWEEN 20 AND 40").count()
    assert dev == sum(1 for _, age, job in expected if job == "Developer" and 20 <= int(age) <= 40)


def test_spark_reads_bigdl_json_layout(bfs: Any, tmp_path: Path) -> None:
    out = write_spark_output(tmp_path / "people-json", json_partitions(), "common", ext="json")
    expected = sorted((d["name"], str(d["age"])) for p in part_files(out.path)
                      for d in map(json.loads, python_plaintext(p, "common").splitlines()))
    df = bfs.read.json(bigdl_url(out.path))
    assert spark_rows(df.select("name", "age")) == expected and len(expected) == 40


def test_python_writer_output_and_simplekms_keys(bfs: Any, tmp_path: Path) -> None:
    """Parts made by sealio's Python BigDL writer under SimpleKMS (as BigDL
    configures it: app id, api key, primary key file), one of them with no
    key in its header (BigDL's Python writer), read from .meta."""
    keys = SimpleKms(vec.SIMPLE_APP_ID, SIMPLE_API_KEY, vec.SIMPLE_PK)
    texts = [b"name,age,job\n" + b"".join(b"s%dr%d,%d,Engineer\n" % (p, r, 20 + r) for r in range(30))
             for p in range(3)]
    d = tmp_path / "simple"
    d.mkdir()
    with pytest.warns(sealio.errors.WeakKeyWarning):
        blobs = encrypt_many(texts + [b""], keys)
    edk = parse_header(blobs[0]).encrypted_data_key
    for i, blob in enumerate(blobs):
        (d / f"part-{i:05d}-c000.csv.cbc").write_bytes(blob)
    # a header without its key: the directory's .meta names it
    dk = keys.decrypt_data_key(edk).text
    (d / "part-00009-c000.csv.cbc").write_bytes(xref.common_encrypt(dk, "", os.urandom(16), texts[0]))
    write_meta(d, edk)
    df = bfs.read.csv(bigdl_url(d, "bigdl-simple"), header=True)
    assert spark_rows(df) == csv_rows(texts + [texts[0]])


def test_native_parts_under_simplekms_take_the_key_meta_wraps(bfs: Any, key_files: dict[str, Path],
                                                               tmp_path: Path) -> None:
    """BigDL's native writer under a KMS encrypts with the base64-decoded
    data key and records the wrapped key in .meta."""
    settings = json.loads(key_files["simple"].read_text())
    with pytest.warns(sealio.errors.WeakKeyWarning):
        edk, aes_key = native_write_key(settings)
    d = tmp_path / "native-simple"
    d.mkdir()
    texts = [b"name,age,job\n" + b"".join(b"k%dr%d,%d,Researcher\n" % (p, r, 30 + r) for r in range(25))
             for p in range(2)]
    for i, plain in enumerate(texts):
        iv = os.urandom(16)
        (d / f"part-{i:05d}-c000.csv.cbc").write_bytes(iv + AesCbc(aes_key).encrypt(iv, plain, True))
    (d / "part-00002-c000.csv.cbc").write_bytes(b"")
    write_meta(d, edk)
    assert spark_rows(bfs.read.csv(bigdl_url(d, "bigdl-nsimple"), header=True)) == csv_rows(texts)


# ------------------------------------------------------------ vectors and failures


@pytest.mark.parametrize("v", [v for v in VECTORS if v["format"] in ("common", "native")], ids=lambda v: v["name"])
def test_vectors_through_the_java_filesystem(bfs: Any, tmp_path: Path, v: dict[str, Any]) -> None:
    scheme = {"plaintext": "bigdl-vec", "simple": "bigdl-simple"}[v["keys"]]
    if v["format"] == "native":
        scheme = "bigdl-vecn"
    part = tmp_path / "part-00000-c000.csv.cbc"
    part.write_bytes(bytes.fromhex(v["file"]))
    if v["expect"] == "ok":
        assert java_read(bfs, scheme, part) == bytes.fromhex(v["plaintext"])
        st = jfs(bfs, scheme).getFileStatus(bfs._jvm.org.apache.hadoop.fs.Path(bigdl_url(part, scheme)))
        assert st.getLen() == len(bytes.fromhex(v["plaintext"]))  # exact plaintext size in listings
        return
    with pytest.raises(Exception) as excinfo:
        java_read(bfs, scheme, part)  # open() itself throws: no stream, no byte of the part
    msg = java_error(excinfo)
    assert str(part) in msg and ("BigDL HMAC mismatch" in msg or "truncated" in msg)
    assert vec.PRIMARY not in msg


def test_tampered_part_fails_the_job_naming_it(bfs: Any, tmp_path: Path) -> None:
    out = write_spark_output(tmp_path / "people", people_partitions(), "common")
    victim = sorted(p for p, plain in out.parts.items() if plain)[1]
    blob = bytearray(victim.read_bytes())
    blob[len(blob) - 60] ^= 1  # the last ciphertext block: every row before it would decrypt fine
    victim.write_bytes(bytes(blob))
    with pytest.raises(Exception) as excinfo:
        bfs.read.text(bigdl_url(out.path)).collect()
    msg = str(excinfo.value)  # Spark's error names the file; its cause is the filesystem's
    assert victim.name in msg and f"{victim}: BigDL HMAC mismatch" in msg
    with pytest.raises(Exception) as excinfo:
        java_read(bfs, "bigdl", victim)
    assert "no row of it was read" in java_error(excinfo)


def test_part_changed_after_open_fails_on_read(bfs: Any, tmp_path: Path) -> None:
    """Chunks are hashed again against the first pass's states when read."""
    big = people_partitions(n_parts=1, rows=2000, empty=())
    out = write_spark_output(tmp_path / "big", big, "common")
    part = next(iter(out.parts))
    jvm = bfs._jvm
    stream = jfs(bfs, "bigdl-split").open(jvm.org.apache.hadoop.fs.Path(bigdl_url(part, "bigdl-split")))
    try:
        io_utils = jvm.org.apache.commons.io.IOUtils
        assert bytes(io_utils.toByteArray(stream, 100)) == big[0][:100]
        with open(part, "r+b") as f:  # in place: the open stream reads the changed bytes
            f.seek(400 + 5 * SPLIT_CHUNK + 7)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 1]))
        stream.seek(5 * SPLIT_CHUNK + 100)
        with pytest.raises(Exception) as excinfo:
            io_utils.toByteArray(stream, 100)
        assert "changed after it was authenticated" in java_error(excinfo)
    finally:
        stream.close()


def test_wrong_key_fails_without_showing_keys(bfs: Any, tmp_path: Path) -> None:
    out = write_spark_output(tmp_path / "people", people_partitions(), "common")
    part = next(p for p, plain in out.parts.items() if plain)
    with pytest.raises(Exception) as excinfo:
        java_read(bfs, "bigdl-wrong", part)
    msg = java_error(excinfo)
    assert part.name in msg
    for secret in (PRIMARY, vec.PRIMARY, out.data_key):
        assert secret not in msg


def test_bad_key_files_fail_naming_the_file_not_its_content(bfs: Any, tmp_path: Path) -> None:
    jvm = bfs._jvm
    out = write_spark_output(tmp_path / "people", people_partitions(), "common")
    part = next(p for p, plain in out.parts.items() if plain)
    cases = {"missing.json": None, "garbled.json": '{"primary_key_plaintext": "' + PRIMARY + '"',
             "ehsm.json": json.dumps({"ehsm_url": "https://127.0.0.1:9/"})}
    for name, body in cases.items():
        if body is not None:
            (tmp_path / name).write_text(body)
        conf = jvm.org.apache.hadoop.conf.Configuration(bfs._jsc.hadoopConfiguration())
        for k, v in bigdl_fs_conf("common", key_file=tmp_path / name, scheme="bigdl-bad", prefix="").items():
            conf.set(k, v)
        conf.set("fs.bigdl-bad.impl.disable.cache", "true")
        fs = jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI("bigdl-bad:///"), conf)
        with pytest.raises(Exception) as excinfo:
            fs.open(jvm.org.apache.hadoop.fs.Path(bigdl_url(part, "bigdl-bad")))
        msg = java_error(excinfo)
        assert part.name in msg and PRIMARY not in msg
        assert (str(tmp_path / name) in msg) if name != "ehsm.json" else ("eHSM is not supported" in msg)


def test_bookkeeping_files_empty_parts_and_read_only(bfs: Any, tmp_path: Path) -> None:
    out = write_spark_output(tmp_path / "people", people_partitions(), "common")
    jvm = bfs._jvm
    fs = jfs(bfs, "bigdl")
    sizes = {Path(str(st.getPath().toUri().getPath())).name: st.getLen()
             for st in fs.listStatus(jvm.org.apache.hadoop.fs.Path(bigdl_url(out.path)))}
    for part, plain in out.parts.items():
        assert sizes[part.name] == len(plain)  # plaintext sizes; 0 for an empty partition
        assert java_read(bfs, "bigdl", part) == plain
    assert sizes["_SUCCESS"] == 0 and sizes[".meta"] == (out.path / ".meta").stat().st_size
    assert java_read(bfs, "bigdl", out.path / ".meta") == (out.path / ".meta").read_bytes()
    with pytest.raises(Exception) as excinfo:
        fs.create(jvm.org.apache.hadoop.fs.Path(bigdl_url(out.path / "new.csv")))
    assert "read-only" in java_error(excinfo)


@pytest.mark.parametrize("fmt,scheme", [("common", "bigdl-split"), ("native", "bigdl-nsplit")])
def test_parts_split_across_tasks_read_every_row_once(bfs: Any, tmp_path: Path, fmt: str, scheme: str) -> None:
    """Spark splits a part at byte offsets of its listed (plaintext) size;
    each split seeks there, and chunks are re-verified on every read."""
    big = people_partitions(n_parts=2, rows=6000, empty=())
    out = write_spark_output(tmp_path / "big", big, fmt)
    assert all(len(p) > 100_000 for p in big)
    expected = csv_rows(big)
    conf = {"spark.sql.files.maxPartitionBytes": "20000", "spark.sql.files.openCostInBytes": "0"}
    before = {k: bfs.conf.get(k, None) for k in conf}
    for k, v in conf.items():
        bfs.conf.set(k, v)
    try:
        df = bfs.read.csv(bigdl_url(out.path, scheme), header=True)
        assert df.rdd.getNumPartitions() >= 10
        assert spark_rows(df) == expected
    finally:
        for k, v in before.items():
            if v is None:
                bfs.conf.unset(k)
            else:
                bfs.conf.set(k, v)


# ------------------------------------------------------------ migration


def test_migrate_to_sealed_in_one_write(bfs: Any, ring: tuple[sealio.LocalKeyring, str], tmp_path: Path) -> None:
    out = write_spark_output(tmp_path / "people", people_partitions(), "common")
    expected = csv_rows([python_plaintext(p, "common") for p in part_files(out.path)])
    dst = tmp_path / "sealed"
    bfs.read.csv(bigdl_url(out.path), header=True).write.csv(sealed_url(dst), header=True)
    kr = ring[0]
    texts = []
    for part in sorted(dst.glob("part-*")):
        assert b"Developer" not in part.read_bytes()
        with sealio.open(part, "rb", keys=kr) as f:
            texts.append(f.read())
    assert texts and csv_rows(texts) == expected


def test_bigdl_fs_conf_names_files_never_keys(key_files: dict[str, Path]) -> None:
    conf = bigdl_fs_conf("nativeaescbc", key_file=key_files["layout"])
    assert conf["spark.hadoop.fs.bigdl.format"] == "native"
    assert conf["spark.hadoop.fs.bigdl.key.file"] == str(key_files["layout"])
    assert PRIMARY not in json.dumps(conf)
    with pytest.raises(ConfigurationError):
        bigdl_fs_conf("legacy-2.2")
    with pytest.raises(ConfigurationError):
        bigdl_fs_conf("common", key_file="relative/keys.json")
    with pytest.raises(ConfigurationError):
        bigdl_fs_conf("common", scheme="sealed")
