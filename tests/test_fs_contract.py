"""One contract for the storage policy, run through every adapter over every
base, the way pyarrow tests its filesystems with one suite:
{pyarrow adapter, fsspec adapter} x {local disk, fsspec memory, S3 on
SeaweedFS}. Sealed files: round trips, plaintext sizes, hidden temporaries,
random reads, copy/move (re-sealed under path binding), delete, plain and
tampered files failing closed, pickling by configuration, path binding.
BigDL files (the same adapters over the BigDL codec): read-only listing and
reading, 0-byte parts hidden, pickling only with a key source.

What is genuinely one adapter's or one backend's stays in its own file
(test_arrow_filesystem.py, test_fsspec_sealio.py, test_bigdl_filesystem.py,
test_s3_seaweed.py)."""

from __future__ import annotations

import base64
import gc
import os
import pickle
import posixpath
import uuid
from pathlib import Path
from typing import Any

import bigdl_xref as xref
import pytest

import sealio
from sealio import bigdl
from sealio.format import header as H
from sealio.kms import KmsRef
from sealio.io.ops import inspect

fsspec = pytest.importorskip("fsspec")
import pyarrow.fs as pafs  # noqa: E402

from sealio.arrow import EncryptedFileSystem  # noqa: E402
from sealio.bigdl.filesystem import BigDLFileSystem  # noqa: E402
from sealio.bigdl.fsspec_fs import BigDLFsspecFileSystem  # noqa: E402
from sealio.fsspec_fs import SealioFileSystem  # noqa: E402

SIZES = (0, 1, 65535, 65536, 65537, 200_000)
PRIMARY = base64.b64encode(bytes(range(100, 116))).decode()


# --- backends: the same storage seen raw (fsspec) and as each adapter's base


class Store:
    """A test directory on one backend: ``raw`` is an fsspec view of it
    (to plant, inspect and move files behind the adapters' backs)."""

    def __init__(self, kind: str, raw: Any, root: str, arrow_base: Any, arrow_root: str) -> None:
        self.kind, self.raw, self.root, self.arrow_base, self.arrow_root = kind, raw, root, arrow_base, arrow_root
        self.local = kind == "local"

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def read(self, name: str) -> bytes:
        self.raw.invalidate_cache()
        return self.raw.cat_file(self.path(name))

    def write(self, name: str, data: bytes) -> None:
        if self.local:
            self.raw.makedirs(posixpath.dirname(self.path(name)), exist_ok=True)
        self.raw.pipe_file(self.path(name), data)
        self.raw.invalidate_cache()

    def move(self, a: str, b: str) -> None:
        self.raw.mv(self.path(a), self.path(b))
        self.raw.invalidate_cache()

    def names(self) -> list[str]:
        self.raw.invalidate_cache()
        return sorted(posixpath.basename(p) for p in self.raw.find(self.root))


STORES = ["local", "memory", "s3"]
ADAPTERS = ["arrow", "arrow-native", "fsspec"]


def _native_over(store_kind: str) -> bool:
    """The native Arrow path exists only over native pyarrow bases."""
    return store_kind != "memory"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Stores × adapters, without the pairs that cannot exist (no native
    path over an fsspec base), so nothing is collected only to be skipped."""
    def store_param(kind: str, *rest: str) -> Any:
        marks = [pytest.mark.slow] if kind == "s3" else []
        return pytest.param(*rest, kind, marks=marks, id="-".join([*rest, kind]))

    if "sealed" in metafunc.fixturenames:
        metafunc.parametrize(["sealed", "store"],
                             [store_param(s, a) for a in ADAPTERS for s in STORES
                              if a != "arrow-native" or _native_over(s)], indirect=True)
    elif "store" in metafunc.fixturenames:
        metafunc.parametrize("store", [store_param(s) for s in STORES], indirect=True)


@pytest.fixture()
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        root = tmp_path / "data"
        root.mkdir()
        return Store("local", fsspec.filesystem("file"), str(root),
                     pafs.SubTreeFileSystem(str(root), pafs.LocalFileSystem()), "")
    if request.param == "memory":
        mem = fsspec.filesystem("memory")
        root = f"/t-{uuid.uuid4().hex[:12]}"
        request.addfinalizer(lambda: mem.rm(root, recursive=True) if mem.exists(root) else None)
        return Store("memory", mem, root, mem, root)
    s3 = request.getfixturevalue("s3")
    bucket = request.getfixturevalue("bucket")
    return Store("s3", s3.s3fs(), bucket, s3.pyarrow_fs(), bucket)


# --- adapters: one vocabulary over pyarrow.fs and fsspec


class Adapter:
    fs: Any
    root: str

    def path(self, name: str) -> str:
        return f"{self.root}/{name}" if self.root else name


class Arrow(Adapter):
    def __init__(self, fs: Any, root: str) -> None:
        self.fs, self.root = fs, root

    def write(self, name: str, data: bytes) -> None:
        with self.fs.open_output_stream(self.path(name)) as f:
            f.write(data)

    def read(self, name: str) -> bytes:
        with self.fs.open_input_file(self.path(name)) as f:
            return f.read()

    def read_at(self, name: str, offset: int, n: int) -> bytes:
        with self.fs.open_input_file(self.path(name)) as f:
            return f.read_at(n, offset)

    def size(self, name: str) -> int | None:
        return self.fs.get_file_info(self.path(name)).size

    def listing(self) -> dict[str, int | None]:
        infos = self.fs.get_file_info(pafs.FileSelector(self.root, recursive=True))
        return {posixpath.basename(i.path): i.size for i in infos if i.is_file}

    def copy(self, a: str, b: str) -> None:
        self.fs.copy_file(self.path(a), self.path(b))

    def move(self, a: str, b: str) -> None:
        self.fs.move(self.path(a), self.path(b))

    def delete(self, name: str) -> None:
        self.fs.delete_file(self.path(name))

    def exists(self, name: str) -> bool:
        return self.fs.get_file_info(self.path(name)).type != pafs.FileType.NotFound

    def abandon_writer(self, name: str, data: bytes) -> None:
        out = self.fs.open_output_stream(self.path(name))
        out.write(data)

    def clone(self) -> Arrow:
        again = pickle.loads(pickle.dumps(self.fs))
        assert again.equals(self.fs)
        return Arrow(again, self.root)


class Fsspec(Adapter):
    def __init__(self, fs: Any, root: str) -> None:
        self.fs, self.root = fs, root

    def write(self, name: str, data: bytes) -> None:
        with self.fs.open(self.path(name), "wb") as f:
            f.write(data)

    def read(self, name: str) -> bytes:
        with self.fs.open(self.path(name), "rb") as f:
            return f.read()

    def read_at(self, name: str, offset: int, n: int) -> bytes:
        with self.fs.open(self.path(name), "rb") as f:
            f.seek(offset)
            return f.read(n)

    def size(self, name: str) -> int | None:
        return self.fs.info(self.path(name))["size"]

    def listing(self) -> dict[str, int | None]:
        self.fs.fs.invalidate_cache()
        found = self.fs.find(self.root, detail=True)
        return {posixpath.basename(name): e["size"] for name, e in found.items() if e["type"] == "file"}

    def copy(self, a: str, b: str) -> None:
        self.fs.cp_file(self.path(a), self.path(b))

    def move(self, a: str, b: str) -> None:
        self.fs.mv(self.path(a), self.path(b))

    def delete(self, name: str) -> None:
        self.fs.rm_file(self.path(name))

    def exists(self, name: str) -> bool:
        self.fs.fs.invalidate_cache()
        return self.fs.exists(self.path(name))

    def abandon_writer(self, name: str, data: bytes) -> None:
        f = self.fs.open(self.path(name), "wb")
        f.write(data)

    def clone(self) -> Fsspec:
        return Fsspec(pickle.loads(pickle.dumps(self.fs)), self.root)


@pytest.fixture()
def uri(tmp_path: Path) -> str:
    ring = sealio.LocalKeyring.create(tmp_path / "keyring.json")
    ring.generate("main")
    ring.generate("other", make_default=False)
    KmsRef.forget()
    return f"local://{ring.path}"


@pytest.fixture()
def sealed(request: pytest.FixtureRequest, store: Store, uri: str) -> Any:
    """``sealed(**options)``: the adapter under test over ``store``
    (arrow: the PyFileSystem path; arrow-native: C++ files, native bases only)."""
    if request.param == "arrow-native":
        from sealio.fs.native import unavailable_here

        assert _native_over(store.kind)
        if unavailable_here() is not None:  # an install without the module: tests/test_arrow_native covers it
            pytest.skip(f"the native Arrow filesystem is not built here: {unavailable_here()}")

    def make(**kw: Any) -> Adapter:
        kw.setdefault("keys", uri)
        if request.param.startswith("arrow"):
            kw["native"] = request.param == "arrow-native"
            return Arrow(EncryptedFileSystem(store.arrow_base, **kw), store.arrow_root)
        return Fsspec(SealioFileSystem(fs=store.raw, **kw), store.root)
    return make


# --- sealed files


def test_round_trip_sealed_at_rest(sealed: Any, store: Store) -> None:
    fs = sealed()
    for n in SIZES:
        fs.write(f"f{n}.bin", b"secret-" * (n // 7) + b"s" * (n % 7))
    for n in SIZES:
        assert fs.read(f"f{n}.bin") == b"secret-" * (n // 7) + b"s" * (n % 7)
        raw = store.read(f"f{n}.bin")
        assert raw.startswith(H.MAGIC) and b"secret-secret-" not in raw


def test_sizes_are_plaintext_sizes_and_temporaries_are_hidden(sealed: Any, store: Store) -> None:
    fs = sealed()
    for n in SIZES:
        fs.write(f"f{n}.bin", b"z" * n)
    store.write(".f1.bin.x1y2.sealio-tmp", b"half a file")  # another writer, mid-publish
    assert fs.listing() == {f"f{n}.bin": n for n in SIZES}
    for n in SIZES:
        assert fs.size(f"f{n}.bin") == n
        assert H.layout(len(store.read(f"f{n}.bin")), 1 << H.DEFAULT_SEGMENT_LOG2)[0] == n


def test_random_reads(sealed: Any) -> None:
    fs = sealed()
    data = os.urandom(300_000)
    fs.write("r.bin", data)
    for offset, n in ((0, 10), (65_530, 20), (100_000, 150_000), (299_990, 50), (300_000, 5)):
        assert fs.read_at("r.bin", offset, n) == data[offset:offset + n]


def test_copy_move_delete(sealed: Any, store: Store) -> None:
    fs = sealed()
    fs.write("a.bin", b"alpha" * 1000)
    fs.copy("a.bin", "b.bin")
    assert store.read("b.bin") == store.read("a.bin")  # unbound: a copy is the same sealed file
    fs.move("b.bin", "c.bin")
    assert not fs.exists("b.bin") and fs.read("c.bin") == b"alpha" * 1000
    fs.delete("c.bin")
    assert not fs.exists("c.bin") and fs.exists("a.bin")


def test_bound_copies_and_moves_are_resealed(sealed: Any, store: Store) -> None:
    fs = sealed(bind_paths=True)
    fs.write("a.csv", b"v\na\n")
    fs.copy("a.csv", "b.csv")
    assert store.read("b.csv") != store.read("a.csv")  # sealed again, under the new path
    fs.move("b.csv", "c.csv")
    assert not fs.exists("b.csv")
    assert fs.read("c.csv") == fs.read("a.csv") == b"v\na\n"


def test_a_bound_file_moved_outside_fails_to_open(sealed: Any, store: Store) -> None:
    fs = sealed(bind_paths=True)
    fs.write("a.csv", b"v\na\n")
    store.move("a.csv", "d.csv")  # renamed behind the filesystem's back
    with pytest.raises(sealio.IntegrityError, match="d.csv"):
        fs.read("d.csv")


def test_a_plain_file_is_refused_naming_it(sealed: Any, store: Store) -> None:
    store.write("plain.csv", b"a\n1\n")
    with pytest.raises(sealio.NotSealedError, match="plain.csv"):
        sealed().read("plain.csv")
    migrating = sealed(passthrough=True)
    assert migrating.size("plain.csv") == 4
    assert migrating.read("plain.csv") == b"a\n1\n"


def test_a_tampered_file_fails_closed(sealed: Any, store: Store) -> None:
    fs = sealed()
    fs.write("t.bin", b"q" * 200_000)
    raw = bytearray(store.read("t.bin"))
    raw[H.HEADER_SIZE + 70_000] ^= 1  # inside the second segment
    store.write("t.bin", bytes(raw))
    assert fs.read_at("t.bin", 0, 1000) == b"q" * 1000  # the first segment is intact
    with pytest.raises(sealio.IntegrityError):
        fs.read("t.bin")
    store.write("t.bin", bytes(raw[:-1]))  # truncated
    with pytest.raises(sealio.IntegrityError, match="t.bin"):
        fs.read("t.bin")


def test_pickles_carry_configuration_never_keys(sealed: Any, uri: str) -> None:
    fs = sealed(master_key="other")
    fs.write("a.bin", b"abc")
    blob = pickle.dumps(fs.fs)
    assert b"keyring.json" in blob and Path(uri[len("local://"):]).read_text().encode() not in blob
    again = fs.clone()
    assert again.read("a.bin") == b"abc"
    again.write("b.bin", b"def")
    assert inspect(_raw_file(again, "b.bin"))["master_key_id"] == "other"
    assert sealed(keys=KmsRef(uri)).clone().read("a.bin") == b"abc"
    live = sealed(keys=sealio.LocalKeyring(uri[len("local://"):]))
    assert live.read("a.bin") == b"abc"
    with pytest.raises(TypeError, match="configuration string"):
        pickle.dumps(live.fs)


def _raw_file(fs: Adapter, name: str) -> Any:
    import io

    base = fs.fs.handler.base if isinstance(fs, Arrow) else fs.fs.fs
    path = fs.path(name)
    data = base.open_input_stream(path).read() if isinstance(fs, Arrow) else base.cat_file(path)
    return io.BytesIO(data)


def test_a_segment_size_mismatch_is_reported(sealed: Any) -> None:
    small = sealed(segment_size=4096)
    small.write("s.bin", b"q" * 10_000)
    assert small.size("s.bin") == 10_000 and small.read("s.bin") == b"q" * 10_000
    with pytest.raises(sealio.FormatError, match="segment_size=4096"):
        sealed().read("s.bin")


def test_an_unclosed_writer_publishes_nothing_readable(sealed: Any, store: Store) -> None:
    """A writer dropped unclosed (a failed job) publishes nothing whole: a
    local temporary is removed, a remote upload discarded or deleted; a
    base that publishes as it writes (fsspec memory ignores autocommit)
    keeps a file that lacks its final segment, which fails closed."""
    fs = sealed()
    fs.abandon_writer("partial.bin", b"x" * 300_000)
    gc.collect()
    if fs.exists("partial.bin"):
        assert store.kind == "memory" and isinstance(fs, Fsspec)
        with pytest.raises(sealio.IntegrityError, match="partial.bin"):
            fs.read("partial.bin")
    assert not [n for n in store.names() if n.endswith(".sealio-tmp")]
    fs.write("whole.bin", b"y" * 300_000)  # the next writer is unaffected
    assert fs.read("whole.bin") == b"y" * 300_000


def test_writing_needs_a_master_key(sealed: Any, store: Store, tmp_path: Path) -> None:
    ring = sealio.LocalKeyring.create(tmp_path / "nodefault.json")
    ring.generate("k", make_default=False)
    with pytest.raises(ValueError, match="master_key"):
        sealed(keys=f"local://{ring.path}").write("w.bin", b"x")
    assert "w.bin" not in store.names()  # nothing created in vain


# --- BigDL files: the same adapters over the BigDL codec


def _people_csv(first: int, n: int) -> bytes:
    return ("name,age,job\n" + "".join(f"p{i},{20 + i % 40},Developer\n" for i in range(first, first + n))).encode()


@pytest.fixture()
def bigdl_dir(store: Store) -> dict[str, bytes]:
    """A BigDL output directory written by the reference: parts, an empty
    partition, .meta and _SUCCESS; returns the parts' plaintexts."""
    dk = xref.plaintext_new_data_key()
    edk = xref.plaintext_wrap(PRIMARY, dk)
    plain = {f"part-{i:05d}-c000.csv.cbc": _people_csv(i * 700, 700) for i in range(2)}
    for name, data in plain.items():
        store.write(f"people/{name}", xref.common_encrypt(dk, edk, os.urandom(16), data))
    store.write("people/part-00002-c000.csv.cbc", b"")
    store.write("people/.meta", xref.meta_text(edk).encode())
    store.write("people/_SUCCESS", b"")
    return plain


@pytest.fixture(params=["arrow", "fsspec"])
def bigdl_fs(request: pytest.FixtureRequest, store: Store) -> Any:
    def make(**kw: Any) -> Adapter:
        kw.setdefault("keys", bigdl.PlaintextPrimaryKey(PRIMARY))
        if request.param == "arrow":
            return Arrow(BigDLFileSystem(store.arrow_base, **kw), store.arrow_root)
        return Fsspec(BigDLFsspecFileSystem(fs=store.raw, **kw), store.root)
    return make


@pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")
def test_bigdl_parts_list_and_read(bigdl_fs: Any, bigdl_dir: dict[str, bytes]) -> None:
    fs = bigdl_fs()
    listed = fs.listing()
    assert "part-00002-c000.csv.cbc" not in listed  # the empty partition holds no rows and no header
    assert {n for n in listed if n.startswith("part-")} == set(bigdl_dir)
    assert all(size is None for size in listed.values())  # unknown until authenticated
    for name, plain in bigdl_dir.items():
        assert fs.read(f"people/{name}") == plain
        assert fs.read_at(f"people/{name}", 1000, 500) == plain[1000:1500]


@pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")
def test_bigdl_is_read_only(bigdl_fs: Any, bigdl_dir: dict[str, bytes], store: Store) -> None:
    fs = bigdl_fs()
    part = next(iter(bigdl_dir))
    for change in (lambda: fs.write("people/new.csv", b"a\n"), lambda: fs.delete(f"people/{part}"),
                   lambda: fs.move(f"people/{part}", "people/x"), lambda: fs.copy(f"people/{part}", "people/y")):
        with pytest.raises(OSError, match="read-only"):
            change()
    assert part in store.names() and "new.csv" not in store.names()


@pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")
def test_bigdl_tampered_part_fails_closed(bigdl_fs: Any, bigdl_dir: dict[str, bytes], store: Store) -> None:
    part = next(iter(bigdl_dir))
    blob = bytearray(store.read(f"people/{part}"))
    blob[450] ^= 1
    store.write(f"people/{part}", bytes(blob))
    with pytest.raises(sealio.IntegrityError, match="part-00000"):
        bigdl_fs().read(f"people/{part}")


@pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")
def test_bigdl_pickles_only_with_a_key_source(bigdl_fs: Any, bigdl_dir: dict[str, bytes],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(bigdl_fs().fs)
    with pytest.raises(TypeError, match="never leaves the process"):
        pickle.dumps(bigdl_fs(keys=None, format="native", primary_key_b64=PRIMARY).fs)
    monkeypatch.setenv("SEALIO_BIGDL_PRIMARY_KEY", PRIMARY)
    fs = bigdl_fs(keys=bigdl.EnvKeySource())
    blob = pickle.dumps(fs.fs)
    assert PRIMARY.encode() not in blob and base64.b64decode(PRIMARY) not in blob
    name, plain = next(iter(bigdl_dir.items()))
    assert type(fs)(pickle.loads(blob), fs.root).read(f"people/{name}") == plain
