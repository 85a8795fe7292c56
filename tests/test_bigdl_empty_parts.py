"""BigDL's Spark writer leaves an empty partition as a 0-byte part file, in
every CBC format, and BigDL reads it as empty. sealio does the same
through every reader (the CLI's decrypt, verify, migrate and inspect;
``Opener``; ``open_dataset``; the pyarrow and fsspec filesystems) on
directories laid out as that writer leaves them (tests/bigdl_spark_layout.py:
``part-NNNNN-<uuid>-c000.csv.cbc``, 0-byte parts, ``_SUCCESS``, ``.meta``,
Hadoop ``.crc`` sidecars). Only exactly 0 bytes is empty: a part cut to
1..N bytes is still refused."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import bigdl_spark_layout as layout
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sealio
from sealio import bigdl
from sealio.bigdl import common, legacy, native
from sealio.bigdl import parquet as bigdl_parquet
from sealio.bigdl.keys import DataKeyText, PlaintextPrimaryKey
from sealio.cli import main
from sealio.errors import SealioError

pytestmark = pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning",
                                        "ignore::sealio.errors.UnauthenticatedWarning")

PRIMARY = layout.PRIMARY


def _spark_output(root: Path, fmt: str, partitions: list[bytes] | None = None, ext: str = "csv") -> layout.SparkOutput:
    out = layout.write_spark_output(root / f"people-{fmt}.bigdl", partitions or layout.people_partitions(), fmt,
                                    ext=ext)
    if fmt.startswith("legacy"):
        (root / "dataKey").write_text(out.data_key or "")
    return out


def _reader_options(out: layout.SparkOutput, fmt: str) -> dict[str, Any]:
    """BigDLFileSystem / fsspec / open_dataset keyword arguments for ``fmt``."""
    if fmt == "common":
        return {"keys": PlaintextPrimaryKey(PRIMARY)}
    if fmt == "native":
        return {"primary_key_b64": PRIMARY}
    return {"data_key": DataKeyText(out.data_key or "").decrypt_data_key("")}


def _cli_keys(root: Path, fmt: str) -> list[str]:
    if fmt.startswith("legacy"):  # the dataKey file holds the key text itself: no KMS named
        return ["--format", fmt, "--data-key-file", str(root / "dataKey")]
    return ["--format", fmt, "--primary-key-plaintext", PRIMARY]


def test_the_layout_is_what_the_spark_writer_leaves(tmp_path: Path) -> None:
    out = _spark_output(tmp_path, "common")
    names = sorted(p.name for p in out.path.iterdir())
    assert "_SUCCESS" in names and ".meta" in names and "._SUCCESS.crc" in names and "..meta.crc" in names
    assert len(out.empty_parts) == 2 and all(p.stat().st_size == 0 for p in out.empty_parts)
    for part in out.parts:
        crc = out.path / f".{part.name}.crc"
        assert crc.read_bytes()[:4] == b"crc\x00"
    assert sorted(bigdl.part_files(out.path)) == sorted(out.parts)  # .crc, _SUCCESS and .meta are not data


@pytest.mark.parametrize("fmt", layout.FORMATS)
def test_opener_reads_an_empty_partition_as_empty_in_every_format(tmp_path: Path, fmt: str) -> None:
    out = _spark_output(tmp_path, fmt)
    opener = bigdl.Opener(fmt, **_reader_options(out, fmt))
    for part, plain in out.parts.items():
        with opener(part) as f:
            assert f.read() == plain
        raw = opener.open_raw(part)
        assert raw.size == len(plain) and raw.authenticated == (fmt != "native" or not plain)
        raw.close()
    auto = bigdl.Opener("auto", keys=PlaintextPrimaryKey(PRIMARY))  # an empty part needs no key, in any mode
    with auto(out.empty_parts[0]) as f:
        assert f.read() == b""


def test_each_format_reader_reads_zero_bytes_as_empty() -> None:
    assert native.decrypt_native(b"", PRIMARY) == b""
    key = DataKeyText("k" * 32).decrypt_data_key("")
    assert legacy.decrypt_legacy(b"", key, "legacy-2.2") == b""
    with common.open_common_stream(io.BytesIO(b""), PlaintextPrimaryKey(PRIMARY)) as r:
        assert r.read() == b""


@pytest.mark.parametrize("fmt", layout.FORMATS)
def test_a_part_cut_to_1_to_n_bytes_is_still_refused(tmp_path: Path, fmt: str) -> None:
    out = _spark_output(tmp_path, fmt, [b"name,age,job\nann,30,Developer\n"])
    (part,) = out.parts
    blob = part.read_bytes()
    opener = bigdl.Opener(fmt, **_reader_options(out, fmt))
    # native has no MAC: only cuts its layout rules out are detectable (shorter than IV + a block, or
    # not whole blocks); every cut of the authenticated formats is
    cuts = [n for n in range(1, len(blob)) if fmt != "native" or n < 32 or n % 16]
    assert cuts
    for n in cuts:
        part.write_bytes(blob[:n])
        with pytest.raises(SealioError):
            opener.open_raw(part).close()
    part.write_bytes(blob[:1])
    assert main(["bigdl", "decrypt", "-q", *_cli_keys(tmp_path, fmt), str(part), str(tmp_path / "x.csv")]) == 1
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("fmt", layout.FORMATS)
def test_cli_decrypt_verify_and_inspect_an_output_with_empty_partitions(tmp_path: Path, fmt: str,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = _spark_output(tmp_path, fmt)
    plain_dir = tmp_path / "plain"
    assert main(["bigdl", "decrypt", "-q", *_cli_keys(tmp_path, fmt), str(out.path), str(plain_dir)]) == 0
    got = {p.name: p.read_bytes() for p in plain_dir.iterdir()}
    assert got == {p.name.removesuffix(".cbc"): plain for p, plain in out.parts.items()}  # nothing but the parts
    capsys.readouterr()
    assert main(["bigdl", "verify", *_cli_keys(tmp_path, fmt), str(out.path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum("OK (0 bytes, empty)" in ln for ln in lines) == len(out.empty_parts) == 2
    assert main(["bigdl", "inspect", "--json", "--format", fmt, str(out.path)]) == 0
    rows = json.loads(capsys.readouterr().out)["files"]
    assert sorted(r["file"] for r in rows if r.get("empty")) == sorted(map(str, out.empty_parts))
    assert {r["format"] for r in rows} == {fmt}


@pytest.mark.parametrize("fmt", layout.FORMATS)
def test_cli_migrate_an_output_with_empty_partitions(tmp_path: Path, fmt: str) -> None:
    out = _spark_output(tmp_path, fmt)
    ring = tmp_path / "keys.json"
    assert main(["keygen", "-q", "--keyring", str(ring), "analytics"]) == 0
    sealed = tmp_path / "sealed"
    assert main(["bigdl", "migrate", "-q", *_cli_keys(tmp_path, fmt), "--keyring", str(ring),
                 "--master-key", "analytics", str(out.path), str(sealed)]) == 0
    keys = sealio.LocalKeyring(ring)
    for part, plain in out.parts.items():
        with sealio.open(sealed / part.name.removesuffix(".cbc"), "rb", keys=keys) as f:
            assert f.read() == plain
    assert main(["verify", "-q", "--keyring", str(ring), str(sealed)]) == 0


@pytest.mark.parametrize("fmt", layout.FORMATS)
def test_filesystems_and_open_dataset_read_empty_partitions(tmp_path: Path, fmt: str) -> None:
    out = _spark_output(tmp_path, fmt)
    opts = _reader_options(out, fmt)
    want = sum(plain.count(b"\n") - 1 for plain in out.parts.values() if plain)
    dataset = bigdl.open_dataset(str(out.path), bigdl_format=fmt, **opts)
    assert dataset.to_table().num_rows == want and len(dataset.files) == 2
    listed = bigdl.open_dataset([str(p) for p in out.parts], bigdl_format=fmt, **opts)  # empty ones named too
    assert listed.to_table().num_rows == want
    empty = str(out.empty_parts[0])
    arrow_fs = bigdl.BigDLFileSystem(format=fmt, **opts)
    with arrow_fs.open_input_file(empty) as f:
        assert f.size() == 0 and f.read() == b""
    with arrow_fs.open_input_stream(empty) as f:
        assert f.read() == b""
    fs = fsspec.filesystem("bigdl", target_protocol="file", format=fmt, **opts)
    assert fs.cat_file(empty) == b"" and fs.info(empty)["size"] == 0
    with fsspec.open(f"bigdl::file://{empty}", bigdl={"format": fmt, **opts}) as f:
        assert f.read() == b""


def test_json_datasets_with_empty_partitions(tmp_path: Path) -> None:
    out = _spark_output(tmp_path, "common", layout.json_partitions(), ext="json")
    dataset = bigdl.open_dataset(str(out.path), keys=PlaintextPrimaryKey(PRIMARY), format="json")
    assert dataset.to_table().num_rows == 40
    assert main(["bigdl", "decrypt", "-q", *_cli_keys(tmp_path, "common"), str(out.path), str(tmp_path / "p")]) == 0
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == sorted(p.name[:-4] for p in out.parts)


def test_parquet_datasets_with_an_empty_part(tmp_path: Path) -> None:
    """BigDL's PME Parquet next to a 0-byte part: read_table and migrate skip
    nothing of the data and read the empty part as empty."""
    from test_bigdl_parquet import SIMPLE, _RefInMemoryKms

    import pyarrow.parquet.encryption as pe

    encrypted, key = bigdl.SimpleKms(*SIMPLE).new_data_key()
    table = pa.table({"name": ["ann", "bo"], "age": [30, 41]})
    factory = pe.CryptoFactory(lambda _c: _RefInMemoryKms(key.text))
    cfg = pe.EncryptionConfiguration(footer_key="footerKey", column_keys={"key1": table.column_names},
                                     data_key_length_bits=128)
    d = tmp_path / "out.parquet"
    d.mkdir()
    pq.write_table(table, d / f"part-00000-{layout.JOB_UUID}-c000.snappy.parquet",
                   encryption_properties=factory.file_encryption_properties(pe.KmsConnectionConfig(), cfg))
    (d / f"part-00001-{layout.JOB_UUID}-c000.snappy.parquet").write_bytes(b"")
    (d / "_SUCCESS").write_bytes(b"")
    bigdl.write_meta(d, encrypted)
    assert bigdl_parquet.read_table(d, bigdl.SimpleKms(*SIMPLE)).equals(table)
    ring = tmp_path / "keys.json"
    assert main(["keygen", "-q", "--keyring", str(ring), "k"]) == 0
    simple = ["--simple-app-id", SIMPLE[0], "--simple-api-key", SIMPLE[1]]
    (tmp_path / "pk").write_text(SIMPLE[2])
    assert main(["bigdl", "migrate", "-q", *simple, "--primary-key-path", str(tmp_path / "pk"), "--keyring",
                 str(ring), "--master-key", "k", str(d), str(tmp_path / "sealed")]) == 0
    keys = sealio.LocalKeyring(ring)
    with sealio.open(tmp_path / "sealed" / f"part-00000-{layout.JOB_UUID}-c000.snappy.parquet", "rb", keys=keys) as f:
        assert pq.read_table(f).equals(table)
    with sealio.open(tmp_path / "sealed" / f"part-00001-{layout.JOB_UUID}-c000.snappy.parquet", "rb", keys=keys) as f:
        assert f.read() == b""


@pytest.mark.parametrize("fmt", ["native", "legacy-2.2"])
def test_spark_reads_an_output_with_empty_partitions(spark: Any, tmp_path: Path, fmt: str) -> None:
    """Spark's sealio data source with option ``bigdl`` (the shared local
    session), over the Spark writer's layout with its .crc sidecars."""
    out = _spark_output(tmp_path, fmt)
    settings = {"primary_key_plaintext": PRIMARY} if fmt == "native" else {"data_key_path": str(tmp_path / "dataKey")}
    key_file = tmp_path / "bigdl-keys.json"
    key_file.write_text(json.dumps(settings))
    key_file.chmod(0o600)
    df = (spark.read.format("sealio").option("bigdl", fmt).option("bigdlKeyFile", str(key_file))
          .option("format", "csv").option("header", "true").load(str(out.path)))
    want = sorted(tuple(line.split(",")) for plain in out.parts.values() if plain
                  for line in plain.decode().splitlines()[1:])
    assert sorted(tuple(r) for r in df.collect()) == want and want
