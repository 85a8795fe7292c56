"""BigDL-encrypted directories through the integrations: the read-only
pyarrow filesystem (datasets, DuckDB, polars), the ``bigdl`` fsspec
protocol (pandas, DuckDB, Dask), local disk, memory and real S3
(SeaweedFS). The inputs are written by the independent reference
(tests/bigdl_xref.py), as a Spark job under BigDL would lay them out:
part files, an empty partition, ``.meta`` and ``_SUCCESS``. The BigDL
codec's filesystem contract (listing, reading, read-only, pickling) runs
through both adapters on every base in test_fs_contract.py."""

from __future__ import annotations

import base64
import os
import pickle
import random
from pathlib import Path
from typing import Any

import bigdl_xref as xref
import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
from sealio import bigdl
from sealio.bigdl.keys import DataKey, PlaintextPrimaryKey, SimpleKms
from sealio.errors import ConfigurationError, IntegrityError

PRIMARY = base64.b64encode(bytes(range(100, 116))).decode()
pytestmark = pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning",
                                        "ignore::sealio.errors.UnauthenticatedWarning")

Row = tuple[str, int, str]


def _people(n: int, seed: int) -> list[Row]:
    """As BigDL's generate_people_csv.py: name of 3-7 lowercase letters,
    age 18..60, job uniform over three values."""
    rng = random.Random(seed)
    return [("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 7))),
             rng.randint(18, 60), rng.choice(["Developer", "Engineer", "Researcher"])) for _ in range(n)]


def _csv(rows: list[Row]) -> bytes:
    return ("name,age,job\n" + "".join(f"{n},{a},{j}\n" for n, a, j in rows)).encode()


def _simple_query(rows: list[Row]) -> list[Row]:
    return sorted(r for r in rows if r[2] == "Developer" and 20 <= r[1] <= 40)


def _write_bigdl_dir(d: Path, rows: list[Row], parts: int = 3, fmt: str = "common") -> str:
    """A BigDL output directory written by the reference; returns the data key text."""
    d.mkdir(parents=True, exist_ok=True)
    dk = xref.plaintext_new_data_key()
    edk = xref.plaintext_wrap(PRIMARY, dk)
    size = -(-len(rows) // parts)
    for i in range(parts):
        plain = _csv(rows[i * size:(i + 1) * size])
        iv = os.urandom(16)
        if fmt == "common":
            blob = xref.common_encrypt(dk, edk, iv, plain)
        elif fmt == "native":
            blob = xref.native_encrypt(PRIMARY, iv, plain)
        else:
            blob = xref.legacy_encrypt(dk, "2.2", 1_600_000_000, iv, plain)
        (d / f"part-{i:05d}-4f1c-c000.csv.cbc").write_bytes(blob)
    (d / f"part-{parts:05d}-4f1c-c000.csv.cbc").write_bytes(b"")  # an empty partition
    (d / ".meta").write_text(xref.meta_text(edk) if fmt == "common" else "")
    (d / "_SUCCESS").write_bytes(b"")
    return dk


def _rows(table: pa.Table) -> list[Row]:
    return sorted(zip(table["name"].to_pylist(), table["age"].to_pylist(), table["job"].to_pylist()))


DEVELOPERS_20_40 = (pc.field("job") == "Developer") & (pc.field("age") >= 20) & (pc.field("age") <= 40)


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Row]]:
    rows = _people(6000, seed=5)
    d = tmp_path_factory.mktemp("bigdl") / "people.bigdl"
    _write_bigdl_dir(d, rows)
    return d, rows


def test_simple_query_through_pyarrow_dataset(people: tuple[Path, list[Row]]) -> None:
    d, rows = people
    dataset = bigdl.open_dataset(str(d), keys=PlaintextPrimaryKey(PRIMARY))
    assert len(dataset.files) == 3  # .meta, _SUCCESS and the empty partition are not data
    result = dataset.to_table(filter=DEVELOPERS_20_40)
    assert _rows(result) == _simple_query(rows) and result.num_rows > 0
    assert _rows(dataset.to_table()) == sorted(rows)


def test_duckdb_and_polars_query_the_dataset(people: tuple[Path, list[Row]]) -> None:
    import duckdb
    import polars as pl

    d, rows = people
    dataset = bigdl.open_dataset(str(d), keys=PlaintextPrimaryKey(PRIMARY))
    got = duckdb.sql("SELECT count(*) FROM dataset WHERE job = 'Developer' AND age BETWEEN 20 AND 40").fetchall()
    assert got == [(len(_simple_query(rows)),)]
    frame = pl.scan_pyarrow_dataset(dataset).filter((pl.col("job") == "Developer") & pl.col("age").is_between(20, 40))
    assert frame.collect().height == len(_simple_query(rows))


def test_random_access_and_exact_sizes(people: tuple[Path, list[Row]]) -> None:
    d, rows = people
    fs = bigdl.BigDLFileSystem(keys=PlaintextPrimaryKey(PRIMARY))
    part = str(sorted(d.glob("part-00001*"))[0])
    plain = _csv(rows[2000:4000])
    assert fs.get_file_info(part).size is None  # unknown until authenticated
    with fs.open_input_file(part) as f:
        assert f.size() == len(plain)
        assert f.read_at(100, 5000) == plain[5000:5100]
        f.seek(len(plain) - 10)
        assert f.read() == plain[-10:]


def test_a_tampered_part_fails_the_scan(tmp_path: Path) -> None:
    rows = _people(900, seed=6)
    d = tmp_path / "t.bigdl"
    _write_bigdl_dir(d, rows)
    victim = d / "part-00002-4f1c-c000.csv.cbc"
    blob = bytearray(victim.read_bytes())
    blob[450] ^= 0x01
    victim.write_bytes(bytes(blob))
    with pytest.raises(IntegrityError, match="part-00002.*HMAC mismatch"):
        bigdl.open_dataset(str(d), keys=PlaintextPrimaryKey(PRIMARY)).to_table()


def test_a_wrong_key_fails_closed(people: tuple[Path, list[Row]]) -> None:
    d, _ = people
    other = base64.b64encode(bytes(16)).decode()
    with pytest.raises(IntegrityError):
        bigdl.open_dataset(str(d), keys=PlaintextPrimaryKey(other)).to_table()


@pytest.mark.parametrize("fmt", ["native", "legacy-2.2"])
def test_native_and_legacy_directories(tmp_path: Path, fmt: str) -> None:
    rows = _people(1500, seed=7)
    dk = _write_bigdl_dir(tmp_path / "d", rows, fmt=fmt)
    if fmt == "native":
        dataset = bigdl.open_dataset(str(tmp_path / "d"), bigdl_format="native", primary_key_b64=PRIMARY)
    else:
        dataset = bigdl.open_dataset(str(tmp_path / "d"), bigdl_format=fmt, data_key=DataKey(dk))
    assert _rows(dataset.to_table(filter=DEVELOPERS_20_40)) == _simple_query(rows)


def test_data_keys_are_decrypted_once_per_write(tmp_path: Path) -> None:
    """The parts of one BigDL write share one encrypted data key: one KMS
    call for the whole dataset (eHSM is a network round trip)."""
    calls: list[str] = []

    class Counting:
        def __init__(self) -> None:
            self.inner = SimpleKms("abcdef123456", "api", "abcdef1234569876")

        def decrypt_data_key(self, encrypted: str) -> DataKey:
            calls.append(encrypted)
            return self.inner.decrypt_data_key(encrypted)

        def new_data_key(self) -> tuple[str, DataKey]:
            return self.inner.new_data_key()

    source = Counting()
    plain = [_csv(_people(300, seed=i)) for i in range(4)]
    d = tmp_path / "s.bigdl"
    d.mkdir()
    for i, blob in enumerate(bigdl.encrypt_many(plain, source.inner)):
        (d / f"part-{i:05d}.csv.cbc").write_bytes(blob)
    table = bigdl.open_dataset(str(d), keys=source).to_table()
    assert table.num_rows == 1200
    assert len(calls) == 1


def test_over_a_non_local_base(people: tuple[Path, list[Row]]) -> None:
    """The same reads through an fsspec in-memory filesystem as the base:
    the code path every remote store takes (files opened by the base)."""
    d, rows = people
    mem = fsspec.filesystem("memory")
    for p in d.iterdir():
        mem.pipe(f"/people.bigdl/{p.name}", p.read_bytes())
    dataset = bigdl.open_dataset("/people.bigdl", keys=PlaintextPrimaryKey(PRIMARY), base=mem)
    assert _rows(dataset.to_table(filter=DEVELOPERS_20_40)) == _simple_query(rows)


@pytest.mark.slow
def test_over_real_s3(s3: Any, bucket: str, people: tuple[Path, list[Row]]) -> None:
    d, rows = people
    base = s3.pyarrow_fs()
    for p in d.iterdir():
        with base.open_output_stream(f"{bucket}/people.bigdl/{p.name}") as out:
            out.write(p.read_bytes())
    dataset = bigdl.open_dataset(f"{bucket}/people.bigdl", keys=PlaintextPrimaryKey(PRIMARY), base=base)
    assert _rows(dataset.to_table(filter=DEVELOPERS_20_40)) == _simple_query(rows)
    url = f"bigdl::s3://{bucket}/people.bigdl/part-00000-4f1c-c000.csv.cbc"
    import pandas as pd

    frame = pd.read_csv(url, storage_options={"bigdl": {"keys": PlaintextPrimaryKey(PRIMARY)},
                                              "s3": s3.s3fs_options()})
    assert len(frame) == 2000


def test_fsspec_protocol_with_pandas_and_duckdb(people: tuple[Path, list[Row]]) -> None:
    import duckdb
    import pandas as pd

    d, rows = people
    part = sorted(d.glob("part-00000*"))[0]
    frame = pd.read_csv(f"bigdl::file://{part}", storage_options={"bigdl": {"keys": PlaintextPrimaryKey(PRIMARY)}})
    assert len(frame) == 2000 and list(frame.columns) == ["name", "age", "job"]
    fs = fsspec.filesystem("bigdl", keys=PlaintextPrimaryKey(PRIMARY))
    assert fs.info(str(part))["size"] == len(_csv(rows[:2000]))  # exact, after authentication
    con = duckdb.connect()
    con.register_filesystem(fs)
    got = con.sql(f"SELECT count(*) FROM read_csv('bigdl://{d}/part-*.cbc') "
                  "WHERE job = 'Developer' AND age BETWEEN 20 AND 40").fetchall()
    assert got == [(len(_simple_query(rows)),)]


def test_dask_with_keys_from_each_workers_environment(people: tuple[Path, list[Row]],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import dask.dataframe as dd

    d, rows = people
    monkeypatch.setenv("SEALIO_BIGDL_PRIMARY_KEY", PRIMARY)
    frame = dd.read_csv(f"bigdl::file://{d}/part-*.cbc", blocksize=None,
                        storage_options={"bigdl": {"keys": bigdl.EnvKeySource()}})
    devs = frame[(frame.job == "Developer") & (frame.age >= 20) & (frame.age <= 40)]
    assert len(devs.compute()) == len(_simple_query(rows))


def test_fsspec_instances_are_never_shared_between_key_sources(people: tuple[Path, list[Row]]) -> None:
    """fsspec caches instances by a token of their arguments; key sources
    all print as <redacted>, so a cached instance would read with the
    wrong key. Each call must build its own."""
    d, _ = people
    part = str(sorted(d.glob("part-00000*"))[0])
    good = fsspec.filesystem("bigdl", keys=PlaintextPrimaryKey(PRIMARY))
    bad = fsspec.filesystem("bigdl", keys=PlaintextPrimaryKey(base64.b64encode(bytes(16)).decode()))
    assert good is not bad
    assert good.cat(part).startswith(b"name,age,job\n")
    with pytest.raises(IntegrityError):
        bad.cat(part)


def test_read_only_and_clear_configuration_errors(people: tuple[Path, list[Row]], tmp_path: Path) -> None:
    d, _ = people
    fs = bigdl.BigDLFileSystem(keys=PlaintextPrimaryKey(PRIMARY))
    with pytest.raises(OSError, match="read-only"):
        ds.write_dataset(pa.table({"a": [1]}), str(tmp_path / "out"), filesystem=fs, format="csv")
    with pytest.raises(ConfigurationError, match="needs a key source"):
        bigdl.open_dataset(str(d)).to_table()
    with pytest.raises(ValueError, match="unknown BigDL format"):
        bigdl.BigDLFileSystem(format="bigdl-3", keys=PlaintextPrimaryKey(PRIMARY))
    assert isinstance(fs, pafs.FileSystem) and fs.type_name == "py::bigdl+local"


def test_key_source_from_options_and_environment(tmp_path: Path) -> None:
    pk_file = tmp_path / "primaryKey"
    pk_file.write_text("abcdef1234569876\n")
    assert isinstance(bigdl.key_source(environ={"SEALIO_BIGDL_PRIMARY_KEY": PRIMARY}), PlaintextPrimaryKey)
    simple = bigdl.key_source(environ={"SEALIO_BIGDL_APP_ID": "abcdef123456", "SEALIO_BIGDL_API_KEY": "k",
                                       "SEALIO_BIGDL_PRIMARY_KEY_PATH": str(pk_file)})
    assert isinstance(simple, SimpleKms)
    with pytest.raises(ConfigurationError, match="SimpleKMS needs"):
        bigdl.key_source(simple_app_id="abcdef123456", environ={})
    with pytest.raises(ConfigurationError, match="no BigDL key source"):
        bigdl.key_source(environ={})


def test_headers_without_a_key_take_it_from_meta(tmp_path: Path) -> None:
    """BigDL's Python generate_encrypted_file writes L = 0: the key comes
    from the directory's .meta (dataset, CLI), and without one the error
    says where to find it."""
    import struct

    from sealio.cli import main
    from sealio.errors import FormatError

    rows = _people(500, seed=9)
    d = tmp_path / "gen.bigdl"
    d.mkdir()
    dk = xref.plaintext_new_data_key()
    edk = xref.plaintext_wrap(PRIMARY, dk)
    blob = bytearray(xref.common_encrypt(dk, edk, os.urandom(16), _csv(rows)))
    iv = bytes(blob[8 + len(edk):24 + len(edk)])
    header = struct.pack(">II", 0, 16) + iv
    keyless = header + b"\x80" * (400 - len(header)) + bytes(blob[400:])
    (d / "part-00000.csv.cbc").write_bytes(keyless)
    with pytest.raises(FormatError, match="carries no data key"):
        bigdl.open_dataset(str(d), keys=PlaintextPrimaryKey(PRIMARY)).to_table()
    bigdl.write_meta(d, edk)
    assert _rows(bigdl.open_dataset(str(d), keys=PlaintextPrimaryKey(PRIMARY)).to_table()) == sorted(rows)
    out = tmp_path / "plain"
    assert main(["bigdl", "decrypt", "-q", "--primary-key-plaintext", PRIMARY, str(d), str(out)]) == 0
    assert (out / "part-00000.csv").read_bytes() == _csv(rows)  # plaintext names drop .cbc


def test_native_files_written_under_a_kms(tmp_path: Path) -> None:
    """With a KMS, BigDL's native writer uses the base64-decoded data key
    (AES-192 for SimpleKMS's 32 digits) and records the wrapped key in
    .meta; the KMS options and .meta read them back."""
    from sealio.cli import main

    app_id, pk = "abcdef123456", "abcdef1234561618"
    (tmp_path / "primaryKey").write_text(pk + "\n")
    wrapped = xref.simple_wrap(pk, "2718281828459045")
    dk_text = xref.simple_unwrap(pk, wrapped)
    rows = _people(400, seed=10)
    d = tmp_path / "native.bigdl"
    d.mkdir()
    (d / "part-00000.csv.cbc").write_bytes(xref.native_encrypt(dk_text, os.urandom(16), _csv(rows)))
    bigdl.write_meta(d, wrapped)
    keys = SimpleKms(app_id, "api", pk)
    table = bigdl.open_dataset(str(d), keys=keys, bigdl_format="native").to_table()
    assert _rows(table) == sorted(rows)
    out = tmp_path / "plain"
    assert main(["bigdl", "decrypt", "-q", "--format", "native", "--simple-app-id", app_id, "--simple-api-key", "api",
                 "--primary-key-path", str(tmp_path / "primaryKey"), str(d), str(out)]) == 0
    assert (out / "part-00000.csv").read_bytes() == _csv(rows)  # plaintext names drop .cbc


def test_fsspec_never_serialises_a_primary_key_or_data_key() -> None:
    for kw in ({"format": "native", "primary_key_b64": PRIMARY},
               {"format": "legacy-2.2", "data_key": DataKey("k" * 32)}):
        fs = fsspec.filesystem("bigdl", **kw)
        with pytest.raises(TypeError, match="never leaves the process"):
            pickle.dumps(fs)
        with pytest.raises(TypeError, match="never leaves the process"):
            fs.to_json()


def test_kms_native_opener_pickles_with_env_keys_and_fsspec_takes_meta_key(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The KMS-keyed native key is unwrapped lazily, in the process that
    reads, so an opener on EnvKeySource still pickles; fsspec takes meta_key."""
    app_id, pk = "abcdef123456", "abcdef1234561618"
    (tmp_path / "primaryKey").write_text(pk + "\n")
    wrapped = xref.simple_wrap(pk, "1618033988749894")
    part = tmp_path / "part-00000.csv.cbc"
    part.write_bytes(xref.native_encrypt(xref.simple_unwrap(pk, wrapped), os.urandom(16), b"a,b\n1,2\n"))
    monkeypatch.setenv("SEALIO_BIGDL_APP_ID", app_id)
    monkeypatch.setenv("SEALIO_BIGDL_API_KEY", "api")
    monkeypatch.setenv("SEALIO_BIGDL_PRIMARY_KEY_PATH", str(tmp_path / "primaryKey"))
    opener = bigdl.Opener("native", keys=bigdl.EnvKeySource(), meta_key=wrapped)
    clone = pickle.loads(pickle.dumps(opener))
    with clone(part) as f:
        assert f.read() == b"a,b\n1,2\n"
    fs = fsspec.filesystem("bigdl", keys=bigdl.EnvKeySource(), format="native", meta_key=wrapped)
    assert fs.cat(str(part)) == b"a,b\n1,2\n"
