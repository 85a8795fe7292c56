"""Spark (local[2]) reads BigDL PPML output through the ``sealio`` data
source with option ``bigdl``: SimpleQuery on BigDL-encrypted CSV written by
the independent reference, keys from a key file, MACs verified on the
workers, and the options that must be refused."""

from __future__ import annotations

import base64
import json
import os
import random
from pathlib import Path

import pytest

pytest.importorskip("pyspark", minversion="4.0")

import bigdl_xref as xref  # noqa: E402
from sealio.errors import ConfigurationError  # noqa: E402
from sealio.spark._options import parse_options  # noqa: E402

PRIMARY = base64.b64encode(bytes(range(60, 76))).decode()


def _people_dir(d: Path, n: int = 3000, parts: int = 3) -> list[tuple[str, int, str]]:
    rng = random.Random(3)
    rows = [("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 7))),
             rng.randint(18, 60), rng.choice(["Developer", "Engineer", "Researcher"])) for _ in range(n)]
    dk = xref.plaintext_new_data_key()
    edk = xref.plaintext_wrap(PRIMARY, dk)
    d.mkdir(parents=True)
    size = n // parts
    for i in range(parts):
        text = "name,age,job\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows[i * size:(i + 1) * size])
        (d / f"part-{i:05d}-7c1e-c000.csv.cbc").write_bytes(xref.common_encrypt(dk, edk, os.urandom(16),
                                                                                 text.encode()))
    (d / f"part-{parts:05d}-7c1e-c000.csv.cbc").write_bytes(b"")  # an empty partition
    (d / ".meta").write_text(xref.meta_text(edk))
    (d / "_SUCCESS").write_bytes(b"")
    return rows


@pytest.fixture()
def key_file(tmp_path: Path) -> str:
    path = tmp_path / "bigdl-keys.json"
    path.write_text(json.dumps({"primary_key_plaintext": PRIMARY}))
    path.chmod(0o600)
    return str(path)


def test_simple_query_on_bigdl_input(spark, tmp_path: Path, key_file: str) -> None:  # type: ignore[no-untyped-def]
    rows = _people_dir(tmp_path / "people.bigdl")
    df = (spark.read.format("sealio").option("bigdl", "common").option("bigdlKeyFile", key_file)
          .option("format", "csv").option("header", "true").load(str(tmp_path / "people.bigdl")))
    assert df.columns == ["name", "age", "job"]
    devs = df.filter("job = 'Developer' AND age BETWEEN 20 AND 40")
    expected = sorted((n, str(a), j) for n, a, j in rows if j == "Developer" and 20 <= a <= 40)
    assert sorted(tuple(r) for r in devs.collect()) == expected and expected


def test_a_tampered_part_fails_the_job(spark, tmp_path: Path, key_file: str) -> None:  # type: ignore[no-untyped-def]
    _people_dir(tmp_path / "t.bigdl")
    victim = tmp_path / "t.bigdl" / "part-00001-7c1e-c000.csv.cbc"
    blob = bytearray(victim.read_bytes())
    blob[-40] ^= 0x02
    victim.write_bytes(bytes(blob))
    df = (spark.read.format("sealio").option("bigdl", "auto").option("bigdlKeyFile", key_file)
          .option("format", "csv").option("header", "true").schema("name string, age string, job string")
          .load(str(tmp_path / "t.bigdl")))
    with pytest.raises(Exception, match="HMAC mismatch"):
        df.count()


def test_bigdl_options_are_checked(tmp_path: Path) -> None:
    opts = parse_options({"path": str(tmp_path), "bigdl": "Common", "bigdlKeyFile": "k.json", "format": "csv"})
    assert opts.bigdl == "common" and opts.bigdl_key_file == os.path.abspath("k.json")
    with pytest.raises(ConfigurationError, match="must be one of"):
        parse_options({"path": str(tmp_path), "bigdl": "v3"})
    with pytest.raises(ConfigurationError, match="Parquet Modular Encryption"):
        parse_options({"path": str(tmp_path), "bigdl": "common", "format": "parquet"})
    with pytest.raises(ConfigurationError, match="looks like a secret"):
        parse_options({"path": str(tmp_path), "bigdl": "common", "primaryKeyPassword": "x"})


def test_writing_with_the_bigdl_option_is_refused(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    df = spark.createDataFrame([("a", 1)], "name string, age int")
    with pytest.raises(Exception, match="for reading BigDL output"):
        df.write.format("sealio").mode("overwrite").option("bigdl", "common").option("format", "csv").save(
            str(tmp_path / "o"))
