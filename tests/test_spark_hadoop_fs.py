"""Stock Spark on sealed files through the Java Hadoop FileSystem
(``sealed://``, java/io/sealio/hadoop/): Spark's own Parquet/CSV/JSON
readers and committers, interop with the Python implementation in both
directions, the format vectors through both segment ciphers (the C core
over JNI and JCE), and failures that name the file.

Shares the test run's ``local[2]`` session (tests/conftest.py: its jar is
the one jar of sealio's Java sources); the filesystem's keys go into the
session's Hadoop configuration for this module and are removed after it.
"""

from __future__ import annotations

import csv
import json
import os
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyspark", minversion="4.0")

import spark_native  # noqa: E402

import sealio  # noqa: E402
from sealio.spark.native_fs import jni_library, native_fs_conf, sealed_url  # noqa: E402

VECTORS = sorted((Path(__file__).parent / "data" / "format").glob("*.json"))
CIPHERS = ["jni", "jce"]


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> tuple[sealio.LocalKeyring, str]:
    return spark_native.keyring(tmp_path_factory.mktemp("hadoopfs-keys"), "spark")


@pytest.fixture(scope="module")
def sfs(spark: Any, ring: tuple[sealio.LocalKeyring, str]) -> Any:
    """The session with ``sealed://`` configured (JNI on)."""
    with spark_native.hadoop_conf(spark, native_fs_conf(ring[1], jni_library_path=jni_library(), prefix="")):
        yield spark


def jfs(spark: Any, cipher: str = "jni") -> Any:
    """A fresh (uncached) Java SealedFileSystem with the session's conf."""
    jvm = spark._jvm
    conf = jvm.org.apache.hadoop.conf.Configuration(spark._jsc.hadoopConfiguration())
    conf.set("fs.sealed.jni.enabled", "true" if cipher == "jni" else "false")
    conf.set("fs.sealed.impl.disable.cache", "true")
    fs = jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI("sealed:///"), conf)
    assert fs.cipherName() == cipher, jvm.io.sealio.hadoop.SealedFileSystem.jniFailure()
    return fs


def jpath(spark: Any, p: str | os.PathLike[str]) -> Any:
    return spark._jvm.org.apache.hadoop.fs.Path(sealed_url(p))


def java_read(spark: Any, fs: Any, p: Path) -> bytes:
    stream = fs.open(jpath(spark, p))
    try:
        return bytes(spark._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
    finally:
        stream.close()


def java_write(spark: Any, fs: Any, p: Path, data: bytes) -> None:
    out = fs.create(jpath(spark, p), True)
    for i in range(0, len(data), 1 << 20):
        out.write(data[i:i + (1 << 20)])
    out.close()


def reader_options(cipher: str) -> dict[str, str]:
    """Per-read Hadoop options that make Spark use the JCE cipher (a fresh
    filesystem instance, since Hadoop caches one per scheme)."""
    if cipher == "jni":
        return {}
    return {"fs.sealed.impl.disable.cache": "true", "fs.sealed.jni.enabled": "false"}


def table(n: int = 3000) -> pa.Table:
    rng = random.Random(7)
    return pa.table({"id": list(range(n)), "name": [f"n{rng.randrange(10**6)}" for _ in range(n)],
                     "age": [rng.randrange(18, 61) for _ in range(n)]})


# ------------------------------------------------------------ Python writes, Spark reads


@pytest.mark.parametrize("cipher", CIPHERS)
def test_spark_reads_sealed_parquet_csv_json_written_by_python(sfs: Any, ring: Any, tmp_path: Path,
                                                                cipher: str) -> None:
    kr, _ = ring
    t = table()
    rows = sorted(zip(*(t.column(c).to_pylist() for c in t.column_names)))
    for fmt in ("parquet", "csv", "json"):
        (tmp_path / fmt).mkdir()
    for part, lo in enumerate(range(0, t.num_rows, 1000)):
        chunk = t.slice(lo, 1000)
        with sealio.open(tmp_path / "parquet" / f"part-{part}.parquet", "wb", keys=kr, master_key="spark") as f:
            pq.write_table(chunk, f, row_group_size=300)
        with sealio.open(tmp_path / "csv" / f"part-{part}.csv", "w", keys=kr, master_key="spark") as f:
            w = csv.writer(f)
            w.writerow(t.column_names)
            w.writerows(zip(*(chunk.column(c).to_pylist() for c in chunk.column_names)))
        with sealio.open(tmp_path / "json" / f"part-{part}.json", "w", keys=kr, master_key="spark") as f:
            for r in chunk.to_pylist():
                f.write(json.dumps(r) + "\n")
    read = sfs.read.options(**reader_options(cipher))
    got = {
        "parquet": read.parquet(sealed_url(tmp_path / "parquet")),
        "csv": read.schema("id long, name string, age long").option("header", "true")
                   .csv(sealed_url(tmp_path / "csv")),
        "json": read.schema("id long, name string, age long").json(sealed_url(tmp_path / "json")),
    }
    for fmt, df in got.items():
        assert sorted(tuple(r) for r in df.select("id", "name", "age").collect()) == rows, fmt
        assert df.filter("age between 20 and 30").count() == sum(1 for r in rows if 20 <= r[2] <= 30), fmt
    assert got["parquet"].selectExpr("sum(age)").first()[0] == sum(r[2] for r in rows)


# ------------------------------------------------------------ Spark writes, Python reads


def test_spark_writes_sealed_files_python_reads(sfs: Any, ring: Any, tmp_path: Path) -> None:
    kr, _ = ring
    t = table(2000)
    df = sfs.createDataFrame(t.to_pylist()).select("id", "name", "age").repartition(3)
    rows = sorted(zip(*(t.column(c).to_pylist() for c in t.column_names)))
    df.write.parquet(sealed_url(tmp_path / "pq"))
    df.write.option("header", "true").csv(sealed_url(tmp_path / "csv"))
    df.write.json(sealed_url(tmp_path / "json"))
    back: dict[str, list[tuple]] = {"pq": [], "csv": [], "json": []}
    for fmt in back:
        names = sorted(os.listdir(tmp_path / fmt))
        assert "_SUCCESS" in names and not [n for n in names if n.startswith(".") or n == "_temporary"], names
        parts = [n for n in names if n.startswith("part-")]
        assert parts
        for n in parts:
            path = tmp_path / fmt / n
            assert path.read_bytes()[:8] == b"\x89SEALIO\n"
            if fmt == "pq":
                with sealio.open(path, "rb", keys=kr) as f:
                    back[fmt] += [(r["id"], r["name"], r["age"]) for r in pq.read_table(f).to_pylist()]
            elif fmt == "csv":
                with sealio.open(path, "r", keys=kr) as f:
                    back[fmt] += [(int(a), b, int(c)) for a, b, c in list(csv.reader(f))[1:]]
            else:
                with sealio.open(path, "r", keys=kr) as f:
                    back[fmt] += [(d["id"], d["name"], d["age"]) for d in map(json.loads, f)]
        assert sorted(back[fmt]) == rows, fmt
    # and Spark reads its own output back through the filesystem
    assert sfs.read.parquet(sealed_url(tmp_path / "pq")).count() == t.num_rows


def test_failed_job_leaves_nothing_readable(sfs: Any, tmp_path: Path) -> None:
    out = tmp_path / "failed"
    bad = sfs.range(0, 400, numPartitions=4).selectExpr("if(id = 350, raise_error('boom'), id) as id")
    with pytest.raises(Exception, match="boom"):
        bad.write.parquet(sealed_url(out))
    left = [n for n in os.listdir(out)] if out.exists() else []
    assert not [n for n in left if n.startswith("part-") or n == "_SUCCESS"], left


def test_unclosed_writer_publishes_nothing(sfs: Any, tmp_path: Path) -> None:
    fs = jfs(sfs)
    out = fs.create(jpath(sfs, tmp_path / "f.bin"), True)
    out.write(b"x" * 100_000)
    assert not fs.exists(jpath(sfs, tmp_path / "f.bin"))
    assert list(fs.listStatus(jpath(sfs, tmp_path))) == []  # the temporary is hidden
    assert [n for n in os.listdir(tmp_path) if n.endswith(".sealio-tmp")]
    out.close()
    assert [st.getPath().getName() for st in fs.listStatus(jpath(sfs, tmp_path))] == ["f.bin"]
    assert os.listdir(tmp_path) == ["f.bin"]


# ------------------------------------------------------------ byte for byte, both directions


SIZES = [0, 1, 4095, 65536, 65537, 16 * 65536, 2 * (1 << 20) + 7]


@pytest.mark.parametrize("cipher", CIPHERS)
def test_java_and_python_agree_byte_for_byte(sfs: Any, ring: Any, tmp_path: Path, cipher: str) -> None:
    kr, _ = ring
    fs = jfs(sfs, cipher)
    rng = random.Random(cipher)
    for n in SIZES:
        data = rng.randbytes(n)
        java_written, py_written = tmp_path / f"j{n}", tmp_path / f"p{n}"
        java_write(sfs, fs, java_written, data)
        with sealio.open(java_written, "rb", keys=kr) as f:
            assert f.read() == data, n
        with sealio.open(py_written, "wb", keys=kr, master_key="spark") as f:
            f.write(data)
        assert java_read(sfs, fs, py_written) == data, n
        for p in (java_written, py_written):  # listed sizes are plaintext sizes, computed unread
            assert fs.getFileStatus(jpath(sfs, p)).getLen() == n
            assert os.path.getsize(p) > n


def test_positional_reads_decrypt_only_the_segments_they_touch(sfs: Any, ring: Any, tmp_path: Path) -> None:
    kr, _ = ring
    data = random.Random(3).randbytes(40 * 65536 + 123)
    p = tmp_path / "big"
    with sealio.open(p, "wb", keys=kr, master_key="spark") as f:
        f.write(data)
    fs = jfs(sfs)
    io_utils = sfs._jvm.org.apache.commons.io.IOUtils
    stream = fs.open(jpath(sfs, p))
    try:
        inner = stream.getWrappedStream()
        assert inner.segmentsDecrypted() == 1  # the final segment, authenticated at open
        assert inner.length() == len(data)
        for pos, n in [(len(data) - 8, 8), (5 * 65536 + 10, 100), (20 * 65536 - 3, 6), (0, 1)]:
            stream.seek(pos)
            assert bytes(io_utils.toByteArray(stream, n)) == data[pos:pos + n], pos
        # 1 at open, the tail read from the cached final segment, 1, 2 (straddling), 1
        assert inner.segmentsDecrypted() == 5
    finally:
        stream.close()


# ------------------------------------------------------------ format vectors through the Java path


def _hx(s: str) -> bytes:
    return bytes.fromhex(s)


@pytest.mark.parametrize("cipher", CIPHERS)
def test_format_vectors_decrypt_through_java(sfs: Any, tmp_path: Path, cipher: str) -> None:
    jvm = sfs._jvm
    assert jvm.io.sealio.hadoop.SealedBytes.cipherName(cipher == "jni") == cipher
    local = jvm.org.apache.hadoop.fs.FileSystem.getLocal(sfs._jsc.hadoopConfiguration()).getRawFileSystem()
    io_utils = jvm.org.apache.commons.io.IOUtils
    wrong: list[str] = []
    for vf in VECTORS:
        v = json.loads(vf.read_text())
        inp = v["inputs"]
        kms = jvm.io.sealio.hadoop.FixedKeks(v["name"]).put(inp["master_key_id"], inp["wrapped_kek"],
                                                            _hx(inp["kek"]))
        path = tmp_path / v["name"]
        path.write_bytes(_hx(v["file"]))
        strict = v.get("read_options", {}).get("require_commitment", False)
        raw = local.open(jvm.org.apache.hadoop.fs.Path(f"file://{path}"))
        try:
            stream = jvm.io.sealio.hadoop.SealedInputStream.open(
                raw, path.stat().st_size, str(path), kms, _hx(v["read_aad"]), strict, cipher == "jni", 0, 1 << 20)
            got = bytes(io_utils.toByteArray(stream))
            stream.close()
            outcome = ("ok", got)
        except Exception as e:  # py4j.protocol.Py4JJavaError
            java = getattr(e, "java_exception", None)
            assert java is not None and java.getClass().getSimpleName() == "SealedFileException", (v["name"], e)
            assert str(path) in java.getMessage(), java.getMessage()
            outcome = ("error", java.kindLabel())
        want = ("ok", _hx(v["plaintext"])) if v["expect"]["result"] == "ok" else ("error", v["expect"]["kind"])
        if outcome != want:
            wrong.append(f"{v['name']}: got {outcome[0]} {outcome[1] if outcome[0] == 'error' else ''}")
    assert not wrong, wrong


@pytest.mark.parametrize("cipher", CIPHERS)
def test_java_writer_reproduces_the_vectors(sfs: Any, cipher: str) -> None:
    from py4j.java_gateway import set_field

    jvm = sfs._jvm
    checked = 0
    for vf in VECTORS:
        v = json.loads(vf.read_text())
        if v["expect"]["result"] != "ok" or v.get("read_options"):
            continue
        inp = v["inputs"]
        fields = jvm.io.sealio.hadoop.SealedHeader.Inputs()
        for name, key in [("dek", "dek"), ("kek", "kek"), ("kekId", "kek_id"), ("salt", "salt"),
                          ("noncePrefix", "nonce_prefix"), ("dekNonce", "dek_nonce"), ("aad", "aad")]:
            set_field(fields, name, _hx(inp[key]))
        set_field(fields, "wrappedKek", inp["wrapped_kek"])
        set_field(fields, "masterKeyId", inp["master_key_id"])
        set_field(fields, "segmentLog2", inp["segment_log2"])
        set_field(fields, "minor", inp.get("minor_version", 0))
        got = bytes(jvm.io.sealio.hadoop.SealedBytes.seal(fields, _hx(v["plaintext"]), cipher == "jni"))
        assert got == _hx(v["file"]), v["name"]
        checked += 1
    assert checked >= 14


# ------------------------------------------------------------ failures name the file


def _sealed_csv(kr: sealio.LocalKeyring, path: Path, rows: int = 20000) -> bytes:
    text = "".join(f"{i},name{i}\n" for i in range(rows)).encode()
    with sealio.open(path, "wb", keys=kr, master_key="spark") as f:
        f.write(text)
    return path.read_bytes()


@pytest.mark.parametrize("damage,expect", [
    ("flip", "segment 1 failed authentication"),
    ("truncate", "truncated"),
    ("plaintext", "not a sealed file"),
    ("header", "header authentication failed"),
])
def test_damaged_input_fails_the_job_naming_the_file(sfs: Any, ring: Any, tmp_path: Path, damage: str,
                                                     expect: str) -> None:
    kr, _ = ring
    d = tmp_path / "t"
    d.mkdir()
    _sealed_csv(kr, d / "good.csv")
    sealed = bytearray(_sealed_csv(kr, d / "bad.csv"))
    if damage == "flip":
        sealed[1024 + 65536 + 16 + 40] ^= 1
    elif damage == "truncate":
        del sealed[-5:]
    elif damage == "header":
        sealed[20] ^= 1  # the salt
    else:
        sealed = bytearray(b"0,plain\n" * 100)
    (d / "bad.csv").write_bytes(bytes(sealed))
    with pytest.raises(Exception) as err:
        sfs.read.schema("id long, name string").csv(sealed_url(d)).count()
    text = str(err.value)
    assert f"{d / 'bad.csv'}: " in text and expect in text, text[-2000:]


def test_listing_reports_plaintext_sizes(sfs: Any, ring: Any, tmp_path: Path) -> None:
    kr, _ = ring
    sizes = {f"f{n}.bin": n for n in (0, 10, 65536, 300_000)}
    for name, n in sizes.items():
        with sealio.open(tmp_path / name, "wb", keys=kr, master_key="spark") as f:
            f.write(b"z" * n)
    fs = jfs(sfs)
    listed = {st.getPath().getName(): st.getLen() for st in fs.listStatus(jpath(sfs, tmp_path))}
    assert listed == sizes
    assert all(str(st.getPath()).startswith("sealed:/") for st in fs.listStatus(jpath(sfs, tmp_path)))


def test_kek_cache_one_kms_call_for_many_files(sfs: Any, ring: Any, tmp_path: Path) -> None:
    kr, _ = ring
    mgr = sealio.KeyManager(kr)  # one writer KEK for every file, as a job's writer has
    for i in range(8):
        with sealio.open(tmp_path / f"part-{i}.csv", "wb", keys=mgr, master_key="spark") as f:
            f.write(f"{i},x\n".encode() * 50)
    cache = sfs._jvm.io.sealio.hadoop.KekCache
    cache.clear()
    before = cache.unwrapCalls()
    assert sfs.read.schema("id long, s string").csv(sealed_url(tmp_path)).count() == 400
    assert cache.unwrapCalls() - before == 1


def test_keys_are_configuration_and_bad_configuration_is_refused(sfs: Any, tmp_path: Path) -> None:
    jvm = sfs._jvm
    with pytest.raises(Exception, match="local:///absolute/path/keyring.json"):
        jvm.io.sealio.hadoop.LocalKeyring.fromConfig("vault://127.0.0.1:8200/transit")
    with pytest.raises(Exception):
        native_fs_conf("/not/a/url")
    pw = sealio.LocalKeyring.create(tmp_path / "pw.json", passphrase="x", scrypt_n=2)
    pw.generate("k")
    with pytest.raises(Exception, match="passphrase-protected"):
        jvm.io.sealio.hadoop.LocalKeyring.fromConfig(f"local://{tmp_path / 'pw.json'}")


def test_demo_simple_query_runs_on_the_native_path(sfs: Any, tmp_path: Path) -> None:
    from sealio.spark.simple_query import run

    said: list[str] = []
    assert run(tmp_path, rows=2000, seed=3, say=said.append)
    native = [s for s in said if "sealed://" in s and "Spark's own reader" in s]
    assert native and said[-1].startswith("# OK:") and "Spark on sealed:// " in said[-1], said


def test_names_with_spaces_and_escapes(sfs: Any, ring: Any, tmp_path: Path) -> None:
    kr, _ = ring
    d = tmp_path / "d ir%20x"
    d.mkdir()
    p = d / "a b,c%41é.csv"
    with sealio.open(p, "wb", keys=kr, master_key="spark") as f:
        f.write(b"1,x\n2,y\n")
    fs = jfs(sfs)
    assert java_read(sfs, fs, p) == b"1,x\n2,y\n"
    assert [st.getPath().getName() for st in fs.listStatus(jpath(sfs, d))] == [p.name]
    java_write(sfs, fs, d / "out put%2F.bin", b"abc")
    with sealio.open(d / "out put%2F.bin", "rb", keys=kr) as f:
        assert f.read() == b"abc"
    assert sfs.read.schema("a int, b string").csv(sealed_url(d)).count() == 3  # and the row "abc"


FALLBACK_MAIN = """
import java.net.URI;
import org.apache.commons.io.IOUtils;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

public final class Fallback {
  public static void main(String[] a) throws Exception {
    Configuration conf = new Configuration();
    conf.set("fs.sealed.impl", "io.sealio.hadoop.SealedFileSystem");
    conf.set("fs.sealed.keys", a[0]);
    conf.set("fs.sealed.jni.library", a[1]);
    FileSystem fs = FileSystem.get(URI.create("sealed:///"), conf);
    byte[] data = IOUtils.toByteArray(fs.open(new Path(a[2])));
    System.out.println(((io.sealio.hadoop.SealedFileSystem) fs).cipherName() + " " + new String(data, "UTF-8"));
    System.out.println(io.sealio.hadoop.SealedFileSystem.jniFailure());
  }
}
"""


def test_a_jvm_without_the_jni_library_falls_back_to_jce(ring: Any, tmp_path: Path) -> None:
    """A fresh JVM (the test session's has the library loaded already)."""
    import subprocess

    from sealio.spark import kms_client_jar
    from sealio.spark._jvm import _java_tool, spark_jars_dir

    kr, keys = ring
    with sealio.open(tmp_path / "f.txt", "wb", keys=kr, master_key="spark") as f:
        f.write(b"read through JCE")
    (tmp_path / "Fallback.java").write_text(FALLBACK_MAIN)
    cp = os.pathsep.join([str(kms_client_jar()), *(str(p) for p in sorted(spark_jars_dir().glob("*.jar")))])
    subprocess.run([_java_tool("javac"), "-nowarn", "-cp", cp, "-d", str(tmp_path), str(tmp_path / "Fallback.java")],
                   check=True)
    out = subprocess.run([_java_tool("java"), "-cp", os.pathsep.join([str(tmp_path), cp]), "Fallback", keys,
                          str(tmp_path / "missing-libsealio_jni.so"), sealed_url(tmp_path / "f.txt")],
                         check=True, capture_output=True, text=True, timeout=120).stdout.splitlines()
    assert out[0] == "jce read through JCE", out
    assert "UnsatisfiedLinkError" in out[1] and "missing-libsealio_jni.so" in out[1], out
