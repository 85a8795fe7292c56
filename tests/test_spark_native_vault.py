"""The sealed Hadoop filesystem with Vault/OpenBao Transit keys (a real
OpenBao dev server on 127.0.0.1): files sealed by sealio's Python side
under a Transit key read in Spark through ``sealed://`` and the other way
round, the token from a file the conf names (never from the conf), one
Transit decrypt per KEK however many files, and no token in messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark", minversion="4.0")
pytest.importorskip("hvac")

import sealio  # noqa: E402
from sealio.kms import from_uri  # noqa: E402
from sealio.spark.native_fs import native_fs_conf, sealed_url  # noqa: E402
from servers.openbao import openbao  # noqa: E402,F401 - the fixture


def _fs(spark: Any, opts: dict[str, str]) -> Any:
    jvm = spark._jvm
    conf = jvm.org.apache.hadoop.conf.Configuration(spark._jsc.hadoopConfiguration())
    for k, v in opts.items():
        conf.set(k, v)
    return jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI("sealed:///"), conf)


def test_transit_keys_both_ways(spark: Any, openbao: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = openbao.new_key("spark-native")
    keys = openbao.url.replace("http://", "vault+http://") + f"/transit/keys/{name}"
    token_file = tmp_path / "token"
    token_file.write_text(openbao.token)
    token_file.chmod(0o600)
    monkeypatch.setenv("VAULT_TOKEN", openbao.token)  # the Python side's token
    mgr = sealio.KeyManager(from_uri(keys))  # one KEK for every file, as one writer has
    data = tmp_path / "in"
    data.mkdir()
    for i in range(5):
        with sealio.open(data / f"part-{i}.csv", "wb", keys=mgr, master_key=name) as f:
            f.write(b"".join(f"{i * 100 + j},v{j}\n".encode() for j in range(100)))
    opts = dict(native_fs_conf(keys, vault_token_file=token_file, jni=False, prefix=""),
                **{"fs.sealed.impl.disable.cache": "true"})
    cache = spark._jvm.io.sealio.hadoop.KekCache
    cache.clear()
    before = cache.unwrapCalls()
    df = spark.read.options(**opts).schema("id long, s string").csv(sealed_url(data))
    assert sorted(r.id for r in df.collect()) == list(range(500))
    assert cache.unwrapCalls() - before == 1  # one Transit decrypt for five files

    fs = _fs(spark, opts)
    out = fs.create(spark._jvm.org.apache.hadoop.fs.Path(sealed_url(tmp_path / "java.bin")), True)
    out.write(b"written by the JVM under a Transit key")
    out.close()
    with sealio.open(tmp_path / "java.bin", "rb", keys=keys) as f:
        assert f.read() == b"written by the JVM under a Transit key"
    header = (tmp_path / "java.bin").read_bytes()[:1024]
    assert b"vault:v1:" in header and openbao.token.encode() not in header

    system = spark._jvm.java.lang.System
    if system.getenv("VAULT_TOKEN") or system.getenv("BAO_TOKEN"):
        return  # this JVM has a token of its own: a missing file would not matter
    bad = dict(opts, **{"fs.sealed.vault.token.file": str(tmp_path / "missing")})
    with pytest.raises(Exception) as err:
        _fs(spark, bad).open(spark._jvm.org.apache.hadoop.fs.Path(sealed_url(data / "part-0.csv")))
    assert "token" in str(err.value) and openbao.token not in str(err.value)
