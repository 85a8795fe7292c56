"""sealio.open: round trips, the reader's APIs, decryption counts,
read-ahead, threads, the writer's atomic publish, pyarrow integration."""

from __future__ import annotations

import gc
import io
import os
import random
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sealio
import sealref
from sealio.format import header as H
from sealio import streams
from sealio.keys import KeyManager

KMS = sealref.DeterministicKms()  # fast, in-process KMS for these tests


def seal_bytes(pt: bytes, seg: int | None = None, aad: Any = None, chunks: list[int] | None = None,
               keys: Any = KMS) -> bytes:
    out = io.BytesIO()
    with sealio.open(out, "wb", keys=keys, master_key="m", aad=aad, segment_size=seg) as w:
        pos = 0
        for c in chunks or [len(pt)]:
            w.write(pt[pos:pos + c])
            pos += c
        w.write(pt[pos:])
    return out.getvalue()


def reader(data: bytes, aad: Any = None, **kw: Any) -> sealio.SealedReader:
    return sealio.open(io.BytesIO(data), "rb", keys=KMS, aad=aad, **kw)


def pattern(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


# ------------------------------------------------------------- round trips

SEGS = [4096, 8192, 65536]


@st.composite
def roundtrip_case(draw: Any) -> tuple[int, bytes, bytes | None, list[int]]:
    seg = draw(st.sampled_from(SEGS))
    n = draw(st.one_of(
        st.sampled_from([0, 1, seg - 1, seg, seg + 1, 2 * seg - 1, 2 * seg, 2 * seg + 1, 5 * seg + 17]),
        st.integers(0, 6 * seg)))
    aad = draw(st.one_of(st.none(), st.binary(max_size=100)))
    chunks = draw(st.lists(st.integers(0, 3 * seg), max_size=6))
    return seg, pattern(n, draw(st.integers(0, 1000))), aad, chunks


@given(roundtrip_case())
@settings(max_examples=60)
def test_roundtrip(case: tuple[int, bytes, bytes | None, list[int]]) -> None:
    seg, pt, aad, chunks = case
    data = seal_bytes(pt, seg, aad, chunks)
    assert len(data) == H.sealed_size(len(pt), seg)
    assert sealref.unseal(data, KMS, aad or b"") == pt  # the reference agrees
    with reader(data, aad) as r:
        assert r.size == len(pt) and r.segment_size == seg
        assert r.read() == pt
        assert r.read() == b""
        rng = random.Random(len(pt))
        for _ in range(20):
            off = rng.randrange(0, len(pt) + 2)
            size = rng.choice([0, 1, 100, seg - 1, seg, seg + 1, 3 * seg, len(pt)])
            assert r.read_at(off, size) == pt[off:off + size]
        r.seek(0)
        got = bytearray()
        while True:
            b = r.read(rng.choice([1, 7, 4096, seg + 3, 3 * seg]))
            if not b:
                break
            got += b
        assert got == pt


@pytest.mark.parametrize("seg", [4096, 1 << 22])
def test_extreme_segment_sizes(seg: int) -> None:
    pt = pattern(seg * 2 + 5)
    data = seal_bytes(pt, seg)
    with reader(data) as r:
        assert r.read() == pt
        assert r.read_at(seg - 3, 10) == pt[seg - 3:seg + 7]


def test_default_segment_size_is_64k() -> None:
    assert H.parse(seal_bytes(b"x")).segment_size == 65536


def test_empty_file() -> None:
    data = seal_bytes(b"")
    assert len(data) == H.HEADER_SIZE + 16
    with reader(data) as r:
        assert r.size == 0 and r.read() == b"" and r.read_at(0, 10) == b""
        assert r.readinto(bytearray(5)) == 0


def test_large_write_in_one_call_and_numpy_buffers() -> None:
    np = pytest.importorskip("numpy")
    arr = np.arange(3_000_000, dtype=np.int64)  # 24 MB: several write batches, direct path
    data = seal_bytes(arr.tobytes(), 65536)
    out = np.empty_like(arr)
    with reader(data) as r:
        assert r.readinto(out) == arr.nbytes
        assert np.array_equal(out, arr)
        part = np.zeros(1000, dtype=np.int64)
        assert r.readinto_at(8 * 12345, part) == 8000
        assert np.array_equal(part, arr[12345:13345])


# ------------------------------------------------------------ reader APIs


def test_seek_tell_and_io_wrappers(tmp_path: Path) -> None:
    text = "".join(f"ligne {i}, é\n" for i in range(20000))
    p = tmp_path / "t.sealed"
    with sealio.open(p, "w", keys=KMS, master_key="m", segment_size=4096) as f:
        f.write(text)
    with sealio.open(p, "r", keys=KMS) as f:
        lines = f.readlines()
    assert "".join(lines) == text
    with sealio.open(p, "rb", keys=KMS) as r:
        buffered = io.BufferedReader(r)
        assert buffered.readline() == b"ligne 0, \xc3\xa9\n"
        assert r.seek(-5, io.SEEK_END) == r.size - 5
        assert r.tell() == r.size - 5
        assert r.read() == text.encode()[-5:]
        assert r.seek(10) == 10 and r.seek(5, io.SEEK_CUR) == 15
        assert r.read(3) == text.encode()[15:18]
        r.seek(r.size + 100)
        assert r.read(10) == b"" and r.read_at(r.size + 100, 10) == b""
        with pytest.raises(ValueError):
            r.seek(-1)
        with pytest.raises(ValueError):
            r.read_at(-1, 3)
        assert r.readable() and r.seekable() and not r.writable()
        with pytest.raises(io.UnsupportedOperation):
            r.fileno()  # never expose the ciphertext descriptor
    with pytest.raises(ValueError):
        r.read(1)
    with pytest.raises(ValueError):
        r.read_at(0, 1)


def test_reader_sources(tmp_path: Path) -> None:
    pt = pattern(300_000)
    data = seal_bytes(pt, 4096)
    p = tmp_path / "f"
    p.write_bytes(data)
    with open(p, "rb") as fh, sealio.open(fh, "rb", keys=KMS) as r:  # real file: pread on its fd
        assert r.read() == pt
        assert fh.tell() == 0  # the caller's position is not disturbed
    with sealio.open(str(p), "rb", keys=KMS) as r:
        assert r.read_at(1000, 5000) == pt[1000:6000]

    class NoReadinto:  # only read/seek: still works
        def __init__(self, b: bytes) -> None:
            self.b = io.BytesIO(b)

        def seekable(self) -> bool:
            return True

        def seek(self, o: int, w: int = 0) -> int:
            return self.b.seek(o, w)

        def read(self, n: int = -1) -> bytes:
            return self.b.read(n)

    with sealio.open(NoReadinto(data), "rb", keys=KMS) as r:
        assert r.read() == pt

    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

    with pytest.raises(ValueError, match="seekable"):
        sealio.open(Pipe(), "rb", keys=KMS)


def test_file_shrinking_after_open_is_detected(tmp_path: Path) -> None:
    pt = pattern(200_000)
    p = tmp_path / "f"
    p.write_bytes(seal_bytes(pt, 4096))
    with sealio.open(p, "rb", keys=KMS) as r:
        os.truncate(p, H.HEADER_SIZE + 10 * (4096 + 16))
        assert r.read_at(0, 4096) == pt[:4096]
        with pytest.raises(sealio.IntegrityError, match="truncated while reading"):
            r.read_at(100_000, 10)


def test_mode_and_argument_validation(tmp_path: Path) -> None:
    for mode in ("ab", "r+b", "rw", "x", "rbt", "bb"):
        with pytest.raises(ValueError):
            sealio.open(tmp_path / "x", mode, keys=KMS)
    with pytest.raises(ValueError, match="master_key"):
        sealio.open(tmp_path / "x", "wb", keys=KMS)
    with pytest.raises(ValueError, match="segment_size"):
        sealio.open(tmp_path / "x", "wb", keys=KMS, master_key="m", segment_size=1000)
    with pytest.raises(ValueError):
        sealio.open(tmp_path / "x", "rb", keys=KMS, master_key="m")
    assert not list(tmp_path.iterdir())


def test_writer_uses_keyring_default(tmp_path: Path) -> None:
    kr = sealio.LocalKeyring.create(tmp_path / "k.json")
    kr.generate("first")
    kr.generate("second")
    with sealio.open(tmp_path / "f", "wb", keys=kr) as w:
        w.write(b"x")
    assert streams.inspect(tmp_path / "f")["master_key_id"] == "first"


# --------------------------------------------------------- decrypt counts


@pytest.mark.parametrize("seg", [4096, 65536, 1 << 20])
def test_random_4k_read_at_costs_at_most_two_segments(seg: int) -> None:
    pt = pattern(max(40 * seg, 1 << 20) + 123)
    data = seal_bytes(pt, seg)
    rng = random.Random(seg)
    with reader(data) as r:
        assert r.segments_decrypted == 1  # the final segment, at open
        worst = 0
        for _ in range(300):
            off = rng.randrange(0, len(pt) - 4096)
            before = r.segments_decrypted
            assert r.read_at(off, 4096) == pt[off:off + 4096]
            worst = max(worst, r.segments_decrypted - before)
        for off in (0, seg - 1, seg - 4096, seg, len(pt) - 4096):
            before = r.segments_decrypted
            r.read_at(off, 4096)
            worst = max(worst, r.segments_decrypted - before)
        assert worst <= 2
        before = r.segments_decrypted
        r.read_at(seg, 4096)  # aligned: exactly one
        assert r.segments_decrypted - before == 1
        before = r.segments_decrypted
        r.read_at(len(pt) - 100, 100)  # the final segment is cached since open
        assert r.segments_decrypted == before


def test_random_small_reads_via_seek_cost_at_most_two_segments() -> None:
    seg = 65536
    pt = pattern(64 * seg)
    rng = random.Random(1)
    with reader(seal_bytes(pt, seg)) as r:
        for _ in range(100):
            off = rng.randrange(0, len(pt) - 4096)
            r.seek(off)
            before = r.segments_decrypted
            assert r.read(4096) == pt[off:off + 4096]
            assert r.segments_decrypted - before <= 2


def test_sequential_small_reads_decrypt_each_segment_about_once() -> None:
    seg = 4096
    pt = pattern(500 * seg + 77)
    with reader(seal_bytes(pt, seg)) as r:
        got = bytearray()
        while chunk := r.read(1000):
            got += chunk
        assert got == pt
        nseg = r.segment_count
        assert nseg <= r.segments_decrypted <= nseg + 2  # read-ahead, no amplification


def test_large_read_decrypts_only_touched_segments() -> None:
    seg = 4096
    pt = pattern(3000 * seg)
    with reader(seal_bytes(pt, seg)) as r:
        before = r.segments_decrypted
        out = bytearray(1000 * seg)
        r.readinto_at(500 * seg, out)
        assert out == pt[500 * seg:1500 * seg]
        assert r.segments_decrypted - before == 1000


# ---------------------------------------------------------------- threads


def test_many_threads_read_at_random_offsets(tmp_path: Path) -> None:
    seg = 4096
    pt = pattern(3 << 20)
    p = tmp_path / "f"
    p.write_bytes(seal_bytes(pt, seg))
    errors: list[BaseException] = []
    with sealio.open(p, "rb", keys=KMS) as r:

        def work(seed: int) -> None:
            rng = random.Random(seed)
            try:
                for _ in range(150):
                    off = rng.randrange(0, len(pt))
                    size = rng.choice([1, 100, 4096, 5000, 70_000, 1 << 20])
                    got = r.read_at(off, size)
                    if got != pt[off:off + size]:
                        raise AssertionError(f"wrong bytes at {off}+{size}")
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        def sequential() -> None:  # the shared-position API at the same time
            try:
                for _ in range(3):
                    r.seek(0)
                    if r.read() != pt:
                        raise AssertionError("sequential read wrong")
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
        threads.append(threading.Thread(target=sequential))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[0]


def test_parallel_large_read_matches(tmp_path: Path) -> None:
    pt = pattern(20 << 20)
    data = seal_bytes(pt, 65536)
    for threads in (1, 2, 4):
        with reader(data, threads=threads) as r:
            out = bytearray(len(pt) - 12345)
            assert r.readinto_at(12345, out) == len(out)
            assert out == pt[12345:]


# ----------------------------------------------------------------- writer


def test_atomic_publish(tmp_path: Path) -> None:
    p = tmp_path / "out.sealed"
    w = sealio.open(p, "wb", keys=KMS, master_key="m", segment_size=4096)
    w.write(pattern(100_000))
    assert not p.exists()  # nothing under the final name until close
    temps = [x for x in tmp_path.iterdir() if x.name.endswith(".sealio-tmp")]
    assert len(temps) == 1 and temps[0].name.startswith(".out.sealed.")
    w.close()
    assert p.exists() and not [x for x in tmp_path.iterdir() if x != p]
    with sealio.open(p, "rb", keys=KMS) as r:
        assert r.read() == pattern(100_000)


def test_overwrite_keeps_old_until_close(tmp_path: Path) -> None:
    p = tmp_path / "f"
    with sealio.open(p, "wb", keys=KMS, master_key="m") as w:
        w.write(b"old")
    os.chmod(p, 0o640)
    w = sealio.open(p, "wb", keys=KMS, master_key="m")
    w.write(b"new")
    with sealio.open(p, "rb", keys=KMS) as r:
        assert r.read() == b"old"
    w.close()
    with sealio.open(p, "rb", keys=KMS) as r:
        assert r.read() == b"new"
    umask = os.umask(0o022)
    os.umask(umask)
    # the output's mode comes from the umask, not from the file it replaced (issue 12)
    assert os.stat(p).st_mode & 0o7777 == 0o666 & ~umask


def test_exception_in_with_publishes_nothing(tmp_path: Path) -> None:
    p = tmp_path / "f"
    with pytest.raises(RuntimeError):
        with sealio.open(p, "wb", keys=KMS, master_key="m") as w:
            w.write(b"partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        with sealio.open(p, "w", keys=KMS, master_key="m") as t:
            t.write("partial text")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_unclosed_writer_publishes_nothing(tmp_path: Path) -> None:
    p = tmp_path / "f"
    w = sealio.open(p, "wb", keys=KMS, master_key="m")
    w.write(b"data")
    del w
    gc.collect()
    assert list(tmp_path.iterdir()) == []
    t = sealio.open(p, "w", keys=KMS, master_key="m")
    t.write("text")
    del t
    gc.collect()
    assert list(tmp_path.iterdir()) == []
    w = sealio.open(p, "wb", keys=KMS, master_key="m")
    w.write(b"x")
    w.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        w.write(b"y")


def test_writer_to_file_object_and_tell() -> None:
    out = io.BytesIO()
    w = sealio.open(out, "wb", keys=KMS, master_key="m", segment_size=4096)
    assert w.write(b"abc") == 3 and w.write(memoryview(b"defg")) == 4 and w.tell() == 7
    w.close()
    assert not out.closed  # the caller's file object stays open
    assert reader(out.getvalue()).read() == b"abcdefg"


def test_write_refuses_text() -> None:
    w = sealio.open(io.BytesIO(), "wb", keys=KMS, master_key="m")
    with pytest.raises(TypeError):
        w.write("text")  # type: ignore[arg-type]
    w.close()


# ----------------------------------------------------------------- pyarrow


def test_pyarrow_parquet_through_sealed_files(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"a": list(range(200_000)), "b": [str(i) for i in range(200_000)]})
    p = tmp_path / "t.parquet.sealed"
    with sealio.open(p, "wb", keys=KMS, master_key="m", aad="t.parquet") as f:
        pq.write_table(table, f, row_group_size=50_000)
    with sealio.open(p, "rb", keys=KMS, aad="t.parquet") as f:
        assert pq.read_table(f).equals(table)
    with sealio.open(p, "rb", keys=KMS, aad="t.parquet") as f:
        pf = pq.ParquetFile(f)
        assert pf.metadata.num_rows == 200_000
        before = f.segments_decrypted
        col = pf.read_row_group(3, columns=["a"])
        assert col.column("a").to_pylist() == list(range(150_000, 200_000))
        assert f.segments_decrypted - before < f.segment_count // 2  # a column chunk, not the file


# ------------------------------------------------------------ killed writer

_WRITER = r"""
import os, sys, time, sealio, sealref
kms = sealref.DeterministicKms()
path, n = sys.argv[1], int(sys.argv[2])
block = bytes(range(256)) * 256
with sealio.open(path, "wb", keys=kms, master_key="m", segment_size=4096) as w:
    for i in range(n):
        w.write(block)
        time.sleep(0.0005)  # paced, so that kills land mid-write
        if i == 5:
            print("started", flush=True)
    print("closing", flush=True)
print("done", flush=True)
"""


def test_killed_writer_never_leaves_a_readable_partial_file(tmp_path: Path) -> None:
    """SIGKILL mid-write (3 times) and around close (fsync, rename; 3 times):
    the final name holds either nothing or the complete, valid file."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent),
                                         env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    n = 1500  # 96 MiB of plaintext, >= 0.75 s paced
    block = bytes(range(256)) * 256
    target = tmp_path / "out.sealed"
    rng = random.Random(7)
    outcomes = []
    for attempt in range(6):
        if target.exists():
            target.unlink()
        proc = subprocess.Popen([sys.executable, str(script), str(target), str(n)],
                                stdout=subprocess.PIPE, env=env, text=True)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        if attempt >= 3:
            assert proc.stdout.readline().strip() == "closing"
            time.sleep(rng.uniform(0.0, 0.03))
        else:
            time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        outcomes.append(target.exists())
        if target.exists():  # published: then it is complete
            with sealio.open(target, "rb", keys=KMS) as r:
                assert r.size == n * len(block)
                assert r.read_at(r.size - 10, 10) == block[-10:]
        for stray in tmp_path.glob(".out.sealed.*.sealio-tmp"):
            # killed mid-write: the temp file lacks its final segment, so it is
            # invalid; killed between fsync and rename it may be complete
            try:
                with sealio.open(stray, "rb", keys=KMS) as r:
                    assert attempt >= 3 and r.size == n * len(block)
            except sealio.IntegrityError:
                pass
            stray.unlink()
    assert outcomes[:3] == [False, False, False], "mid-write kills must leave nothing"


def test_writes_of_every_shape_across_batches() -> None:
    """Random write sizes around the segment and the 4 MiB batch: the batch
    boundaries, the held-back final segment and direct sealing all agree."""
    rng = random.Random(5)
    seg = 4096
    pt = pattern(21 << 20, 3)
    sizes = []
    total = 0
    while total < len(pt):
        n = rng.choice([1, 100, seg - 1, seg, seg + 1, 65536, (4 << 20) - 1, 4 << 20, (4 << 20) + 1, 5 << 20])
        sizes.append(n)
        total += n
    data = seal_bytes(pt, seg, chunks=sizes)
    assert sealref.unseal(data, KMS) == pt


def test_sink_failure_in_background_write_publishes_nothing(tmp_path: Path) -> None:
    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.n = 0

        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            self.n += len(b)
            if self.n > (9 << 20):
                raise OSError(28, "No space left on device")
            return len(b)

    sink = Failing()
    w = sealio.open(sink, "wb", keys=KMS, master_key="m", segment_size=4096)
    with pytest.raises(OSError, match="No space"):
        for _ in range(40):
            w.write(pattern(1 << 20))
        w.close()
    assert w.closed


@pytest.fixture()
def ring_m(tmp_path: Path) -> sealio.LocalKeyring:
    """A keyring with master key "m"."""
    keys = sealio.LocalKeyring.create(tmp_path / "k.json")
    keys.generate("m")
    return keys


def test_fsync_is_for_writers_to_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       ring_m: sealio.LocalKeyring) -> None:
    keys = ring_m
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    data = os.urandom(3 * (1 << 20) + 7)  # several write-behind buffers
    with sealio.open(tmp_path / "f.sealed", "wb", keys=keys, master_key="m", fsync=False) as w:
        w.write(data)
    assert synced == []
    with sealio.open(tmp_path / "f.sealed", "rb", keys=keys) as r:
        assert r.read() == data
    with pytest.raises(ValueError, match="for writing"):
        sealio.open(tmp_path / "f.sealed", "rb", keys=keys, fsync=False)


def test_exclusive_mode_never_replaces(tmp_path: Path, ring_m: sealio.LocalKeyring) -> None:
    keys = ring_m
    path = tmp_path / "f.sealed"
    with sealio.open(path, "xb", keys=keys, master_key="m") as w:
        w.write(b"first")
    with pytest.raises(FileExistsError):
        sealio.open(path, "xb", keys=keys, master_key="m")
    w = sealio.open(tmp_path / "g.sealed", "xb", keys=keys, master_key="m")
    w.write(b"second")
    (tmp_path / "g.sealed").write_bytes(b"someone else's")
    with pytest.raises(FileExistsError):
        w.close()
    assert (tmp_path / "g.sealed").read_bytes() == b"someone else's"
    with sealio.open(tmp_path / "h.sealed", "xt", keys=keys, master_key="m") as t:
        t.write("text")
    with sealio.open(tmp_path / "h.sealed", "r", keys=keys) as t:
        assert t.read() == "text"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".sealio-tmp")]


def test_a_writer_opened_on_the_pool_writes_inline(tmp_path: Path, ring_m: sealio.LocalKeyring) -> None:
    """A pool task that writes a sealed file must not wait on write tasks
    queued behind itself (every worker doing the same would deadlock)."""
    from sealio.io.pool import executor

    keys = ring_m
    data = os.urandom(5 << 20)

    def job(i: int) -> bool:
        with sealio.open(tmp_path / f"{i}.sealed", "wb", keys=keys, master_key="m") as w:
            w.write(data)
            return w._behind is None

    pool = executor()
    inline = [f.result(timeout=120) for f in [pool.submit(job, i) for i in range(8)]]
    assert all(inline)
    with sealio.open(tmp_path / "7.sealed", "rb", keys=keys) as r:
        assert r.read() == data
