"""The ``sealio`` fsspec protocol: registration, URL chaining and storage
options, pandas, DuckDB, polars, Dask and pyarrow over sealed files, and
tenants kept apart. What every adapter shares (sizes, fail-closed reads,
pickling, path binding, copies and moves) is in test_fs_contract.py."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

import sealio
from sealio.format import header as H
from sealio.fsspec_fs import SealioFileSystem
from sealio.kms import KmsRef


@pytest.fixture()
def uri(tmp_path: Path) -> str:
    ring = sealio.LocalKeyring.create(tmp_path / "keyring.json")
    ring.generate("main")
    KmsRef.forget()
    return f"local://{ring.path}"


@pytest.fixture()
def opts(uri: str) -> dict[str, object]:
    return {"sealio": {"keys": uri}}


def _frame():  # type: ignore[no-untyped-def]
    pd = pytest.importorskip("pandas")
    return pd.DataFrame({"id": range(1000), "name": [f"n{i}" for i in range(1000)],
                         "x": [i / 4 for i in range(1000)]})


def test_protocol_is_registered_by_entry_point() -> None:
    assert fsspec.get_filesystem_class("sealio") is SealioFileSystem


def test_protocols_resolve_in_a_fresh_process_without_importing_sealio() -> None:
    """Registered once, by the ``fsspec.specs`` entry points (pyproject.toml):
    no module registers itself at import time."""
    import subprocess
    import sys

    code = ("import sys, fsspec\n"
            "assert 'sealio' not in sys.modules\n"
            "for name in ('sealio', 'bigdl'):\n"
            "    cls = fsspec.get_filesystem_class(name)\n"
            "    print(name, cls.__module__, cls.__name__, cls.cachable)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split("\n")[:2] == ["sealio sealio.fs.fsspec SealioFileSystem False",
                                           "bigdl sealio.bigdl.fsspec_fs BigDLFsspecFileSystem False"]
    package = Path(sealio.__file__).parent
    assert not [p for p in package.rglob("*.py") if "register_implementation(" in p.read_text()]


def test_url_chaining_round_trip(tmp_path: Path, opts: dict[str, object]) -> None:
    url = f"sealio::file://{tmp_path}/sub/hello.txt"
    with fsspec.open(url, "wt", **opts) as f:
        f.write("hello, sealed world\n" * 1000)
    raw = (tmp_path / "sub" / "hello.txt").read_bytes()
    assert raw.startswith(H.MAGIC) and b"hello" not in raw
    with fsspec.open(url, "rt", **opts) as f:
        assert f.read() == "hello, sealed world\n" * 1000
    fs, path = fsspec.core.url_to_fs(url, **opts)
    assert isinstance(fs, SealioFileSystem) and path == f"{tmp_path}/sub/hello.txt"
    assert fs.info(f"sealio::file://{tmp_path}/sub/hello.txt")["size"] == 20_000  # plaintext (test_fs_contract.py)
    migrating = {"sealio": {**opts["sealio"], "passthrough": True}}  # type: ignore[dict-item]
    (tmp_path / "plain.csv").write_text("a\n1\n")
    with fsspec.open(f"sealio::file://{tmp_path}/plain.csv", "rb", **migrating) as f:  # options reach the policy
        assert f.read() == b"a\n1\n"


def test_pandas_parquet_and_csv(tmp_path: Path, opts: dict[str, object]) -> None:
    pd = pytest.importorskip("pandas")
    df = _frame()
    df.to_parquet(f"sealio::file://{tmp_path}/t.parquet", storage_options=opts)
    df.to_csv(f"sealio::file://{tmp_path}/t.csv", index=False, storage_options=opts)
    df.to_csv(f"sealio::file://{tmp_path}/t.csv.gz", index=False, compression="gzip", storage_options=opts)
    for name in ("t.parquet", "t.csv", "t.csv.gz"):
        assert (tmp_path / name).read_bytes().startswith(H.MAGIC)
    pd.testing.assert_frame_equal(pd.read_parquet(f"sealio::file://{tmp_path}/t.parquet",
                                                  storage_options=opts), df)
    pd.testing.assert_frame_equal(pd.read_parquet(f"sealio::file://{tmp_path}/t.parquet", columns=["x"],
                                                  storage_options=opts), df[["x"]])
    for name in ("t.csv", "t.csv.gz"):
        got = pd.read_csv(f"sealio::file://{tmp_path}/{name}", storage_options=opts,
                          compression="gzip" if name.endswith(".gz") else None)
        pd.testing.assert_frame_equal(got, df)


def test_pyarrow_dataset_over_the_protocol(tmp_path: Path, uri: str) -> None:
    fs = SealioFileSystem(target_protocol="file", keys=uri, skip_instance_cache=True)
    table = pa.table({"k": [i % 2 for i in range(100)], "v": list(range(100))})
    ds.write_dataset(table, f"{tmp_path}/ds", filesystem=fs, format="parquet", partitioning=["k"])
    got = ds.dataset(f"{tmp_path}/ds", filesystem=fs, format="parquet", partitioning=["k"]).to_table()
    assert sorted(got.column("v").to_pylist()) == list(range(100))
    assert isinstance(pafs.PyFileSystem(pafs.FSSpecHandler(fs)), pafs.FileSystem)


def test_duckdb_sql_over_sealed_files(tmp_path: Path, uri: str) -> None:
    duckdb = pytest.importorskip("duckdb")
    df = _frame()
    fs = SealioFileSystem(target_protocol="file", keys=uri, skip_instance_cache=True)
    with fs.open(f"{tmp_path}/t.csv", "wb") as f:
        f.write(df.to_csv(index=False).encode())
    df.to_parquet(f"sealio::file://{tmp_path}/t.parquet", storage_options={"sealio": {"keys": uri}})
    con = duckdb.connect()
    con.register_filesystem(fs)
    assert con.execute(f"SELECT count(*), sum(id) FROM read_parquet('sealio://{tmp_path}/t.parquet')").fetchone() \
        == (1000, sum(range(1000)))
    assert con.execute(f"SELECT max(x) FROM read_csv('sealio://{tmp_path}/t.csv')").fetchone() == (999 / 4,)
    con.execute(f"COPY (SELECT id * 2 AS d FROM read_parquet('sealio://{tmp_path}/t.parquet')) "
            f"TO 'sealio://{tmp_path}/out.parquet' (FORMAT parquet)")
    assert (tmp_path / "out.parquet").read_bytes().startswith(H.MAGIC)
    assert con.execute(f"SELECT sum(d) FROM 'sealio://{tmp_path}/out.parquet'").fetchone() == (2 * sum(range(1000)),)


def test_polars_through_pyarrow_dataset(tmp_path: Path, uri: str) -> None:
    pl = pytest.importorskip("polars")
    from sealio.arrow import EncryptedFileSystem

    fs = EncryptedFileSystem(pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem()), keys=uri)
    frame = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    with fs.open_output_stream("p.parquet") as f:
        frame.write_parquet(f)
    lazy = pl.scan_pyarrow_dataset(ds.dataset("p.parquet", filesystem=fs, format="parquet"))
    assert lazy.filter(pl.col("a") > 1).collect().equals(frame.filter(pl.col("a") > 1))
    with fsspec.open(f"sealio::file://{tmp_path}/p.parquet", "rb", sealio={"keys": uri}) as f:
        assert pl.read_parquet(f).equals(frame)


@pytest.mark.slow
def test_dask_reads_and_writes(tmp_path: Path, opts: dict[str, object]) -> None:
    dd = pytest.importorskip("dask.dataframe")
    import dask

    pd = pytest.importorskip("pandas")
    df = _frame()
    with dask.config.set(scheduler="processes", num_workers=2):  # the filesystem travels pickled
        dd.from_pandas(df, npartitions=2).to_parquet(f"sealio::file://{tmp_path}/dd", storage_options=opts)
        got = dd.read_parquet(f"sealio::file://{tmp_path}/dd", storage_options=opts).compute()
    parts = sorted(tmp_path.glob("dd/*.parquet"))
    assert len(parts) == 2 and all(p.read_bytes().startswith(H.MAGIC) for p in parts)
    pd.testing.assert_frame_equal(got.sort_values("id").reset_index(drop=True), df, check_dtype=False)
    df.to_csv(f"sealio::file://{tmp_path}/c.csv", index=False, storage_options=opts)
    with dask.config.set(scheduler="sync"):
        csv = dd.read_csv(f"sealio::file://{tmp_path}/c.csv", storage_options=opts)
        assert int(csv["id"].sum().compute()) == sum(range(1000))


# --- tenants: a filesystem is never shared between callers with other keys (issue 12, item 2)


@pytest.fixture()
def tenants(tmp_path: Path) -> tuple[sealio.LocalKeyring, sealio.LocalKeyring]:
    rings = []
    for who in ("a", "b"):
        (tmp_path / who).mkdir()
        ring = sealio.LocalKeyring.create(tmp_path / who / "keyring.json")
        ring.generate("main")  # same master key name, different key
        rings.append(ring)
    return rings[0], rings[1]


def test_filesystems_with_other_keys_are_other_instances(tenants: tuple[sealio.LocalKeyring, ...]) -> None:
    from sealio.keys import KeyManager

    mgr_a, mgr_b = KeyManager(tenants[0]), KeyManager(tenants[1])
    assert repr(mgr_a) == repr(mgr_b)  # what fsspec's instance cache used to key on
    fs_a = fsspec.filesystem("sealio", target_protocol="file", keys=mgr_a)
    fs_b = fsspec.filesystem("sealio", target_protocol="file", keys=mgr_b)
    assert fs_b is not fs_a and fs_a.keys is mgr_a and fs_b.keys is mgr_b
    fs_a2, _ = fsspec.core.url_to_fs("sealio::file:///x", sealio={"keys": mgr_a})
    fs_b2, _ = fsspec.core.url_to_fs("sealio::file:///x", sealio={"keys": mgr_b})
    assert fs_a2.keys is mgr_a and fs_b2.keys is mgr_b


def test_a_second_tenant_never_uses_the_first_tenants_keys(tmp_path: Path,
                                                            tenants: tuple[sealio.LocalKeyring, ...]) -> None:
    from sealio.keys import KeyManager

    ring_a, ring_b = tenants
    opts_a, opts_b = {"sealio": {"keys": KeyManager(ring_a)}}, {"sealio": {"keys": KeyManager(ring_b)}}
    with fsspec.open(f"sealio::file://{tmp_path}/a.txt", "wb", **opts_a) as f:
        f.write(b"tenant a's data")
    with pytest.raises((sealio.IntegrityError, sealio.KeyNotFoundError)):  # B cannot read A's file
        with fsspec.open(f"sealio::file://{tmp_path}/a.txt", "rb", **opts_b) as f:
            f.read()
    with fsspec.open(f"sealio::file://{tmp_path}/b.txt", "wb", **opts_b) as f:
        f.write(b"tenant b's data")  # sealed under B's keys, not A's
    with sealio.open(tmp_path / "b.txt", "rb", keys=ring_b) as f:
        assert f.read() == b"tenant b's data"
    with pytest.raises(sealio.IntegrityError):
        sealio.open(tmp_path / "b.txt", "rb", keys=ring_a)


def test_pandas_storage_options_keep_tenants_apart(tmp_path: Path,
                                                   tenants: tuple[sealio.LocalKeyring, ...]) -> None:
    pd = pytest.importorskip("pandas")
    from sealio.keys import KeyManager

    df = _frame()
    url = f"sealio::file://{tmp_path}/t.csv"
    df.to_csv(url, index=False, storage_options={"sealio": {"keys": KeyManager(tenants[0])}})
    with pytest.raises((sealio.IntegrityError, sealio.KeyNotFoundError)):
        pd.read_csv(url, storage_options={"sealio": {"keys": KeyManager(tenants[1])}})
    pd.testing.assert_frame_equal(pd.read_csv(url, storage_options={"sealio": {"keys": KeyManager(tenants[0])}}),
                                  df)


def test_uncached_filesystems_still_share_one_kek_per_configuration(tmp_path: Path, uri: str) -> None:
    from sealio import streams

    for i in range(5):  # five filesystem instances, one KMS wrap (the KEK cache is per configuration)
        with fsspec.open(f"sealio::file://{tmp_path}/{i}.bin", "wb", sealio={"keys": uri}) as f:
            f.write(b"%d" % i)
    assert len({streams.inspect(tmp_path / f"{i}.bin")["kek_id"] for i in range(5)}) == 1
    assert not SealioFileSystem.cachable
