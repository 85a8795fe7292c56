"""Security properties of the sealed format's reader and writer (issue 12):
no (key, nonce) used twice under concurrent writes, bounded inputs before
any allocation, output modes from the umask, key commitment."""

from __future__ import annotations

import io
import os
import random
import stat
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import sealio
import sealref
from sealio.format import header as H
from sealio import streams
from sealio.errors import ConfigurationError

KMS = sealref.DeterministicKms()
SEG = 4096


def seal_bytes(pt: bytes, **kw: object) -> bytes:
    out = io.BytesIO()
    with sealio.open(out, "wb", keys=KMS, master_key="m", segment_size=SEG, **kw) as w:
        w.write(pt)
    return out.getvalue()


# ------------------------------------------------- concurrent writers (item 1)

THREADS = 8
WRITES = 120


def _writes_of(t: int) -> list[bytes]:
    """Thread t's writes: an 8-byte id (thread, sequence) then random bytes;
    sizes are distinct and span segment boundaries (1 to ~3 segments)."""
    rnd = random.Random(1000 + t)
    out = []
    for k in range(WRITES):
        size = 8 + rnd.randrange(3 * SEG) + t  # + t: no two threads share a size pattern
        out.append(struct.pack(">II", t, k) + rnd.randbytes(size - 8))
    return out


def _segments_and_keys(data: bytes) -> tuple[bytes, bytes, list[tuple[bytes, bytes]]]:
    """Decrypt ``data`` with the reference (fully authenticated) and return
    (plaintext, K_seg, [(ciphertext_i, plaintext_i)])."""
    pt = sealref.unseal(data, KMS)
    p, k_seg = sealref.open_header(data, KMS)
    seg = 1 << p.segment_log2
    _, n = sealref.plaintext_size(len(data), seg)
    pairs = []
    for i in range(n):
        block = data[H.HEADER_SIZE + i * (seg + 16):H.HEADER_SIZE + (i + 1) * (seg + 16)]
        pairs.append((block[:-16], pt[i * seg:i * seg + len(block) - 16]))
    return pt, k_seg, pairs


def test_concurrent_writes_never_reuse_a_nonce(tmp_path: Path) -> None:
    """8 threads hammer one writer: the file authenticates, every segment
    has its own keystream (ct_i xor pt_i differs for every pair), and the
    plaintext is a permutation of whole writes, each thread's in order."""
    writes = [_writes_of(t) for t in range(THREADS)]
    path = tmp_path / "shared.sealed"
    w = sealio.open(path, "wb", keys=KMS, master_key="m", segment_size=SEG, threads=2)
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def hammer(t: int) -> None:
        try:
            barrier.wait()
            for b in writes[t]:
                assert w.write(b) == len(b)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=hammer, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:3]
    w.close()
    data = path.read_bytes()

    pt, _, pairs = _segments_and_keys(data)  # raises unless every segment authenticates
    # the segment index is the nonce (prefix || BE32(i) || last): one per position
    assert len(pairs) == -(-len(pt) // SEG)
    # a repeated (key, nonce) shows as a repeated keystream: ct_i xor pt_i
    keystreams = [bytes(a ^ b for a, b in zip(ct[:64], p[:64])) for ct, p in pairs if len(ct) >= 64]
    assert len(set(keystreams)) == len(keystreams), "two segments share a keystream"

    # each write is atomic: the plaintext parses as whole writes, each once
    expected = {(t, k): b for t in range(THREADS) for k, b in enumerate(writes[t])}
    seen_per_thread = [0] * THREADS
    pos = 0
    while pos < len(pt):
        t, k = struct.unpack_from(">II", pt, pos)
        body = expected.pop((t, k))
        assert pt[pos:pos + len(body)] == body, (t, k)
        assert k == seen_per_thread[t], "a thread's writes were reordered"
        seen_per_thread[t] += 1
        pos += len(body)
    assert not expected, f"{len(expected)} writes missing"


def test_concurrent_write_and_close_is_serialised() -> None:
    """close() racing writes never seals the final segment twice: the file
    (if writes lost the race they raise ValueError) always authenticates."""
    for trial in range(20):
        out = io.BytesIO()
        w = sealio.open(out, "wb", keys=KMS, master_key="m", segment_size=SEG)
        stop = threading.Event()
        failures: list[BaseException] = []

        def writer() -> None:
            chunk = random.Random(trial).randbytes(SEG + 7)
            while not stop.is_set():
                try:
                    w.write(chunk)
                except ValueError:  # closed: the documented refusal
                    return
                except BaseException as e:  # noqa: BLE001
                    failures.append(e)
                    return

        ths = [threading.Thread(target=writer) for _ in range(3)]
        for th in ths:
            th.start()
        w.close()
        stop.set()
        for th in ths:
            th.join()
        assert not failures, failures
        pt = sealref.unseal(out.getvalue(), KMS)
        assert len(pt) % (SEG + 7) == 0


# ------------------------------------------------------- bounds (item 5)


_RSS_SCRIPT = r"""
import io, resource, sys
import sealio, sealref
kms = sealref.DeterministicKms()
out = io.BytesIO()
with sealio.open(out, "wb", keys=kms, master_key="m", segment_size=4096) as w:
    w.write(b"x" * 10000)
r = sealio.open(io.BytesIO(out.getvalue()), "rb", keys=kms)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
caught = []
for off, size in ((-2**30, 2**30), (-2**45, 2**45), (-1, 2**62), (-2**62, 1)):
    try:
        r.read_at(off, size)
    except ValueError:
        caught.append("ValueError")
    except BaseException as e:
        caught.append(type(e).__name__)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(",".join(caught), after - before)
"""


def test_negative_offset_refused_before_allocating() -> None:
    """read_at(-2**30, 2**30) used to allocate 1 GiB, (-2**45, 2**45) raised
    MemoryError: now ValueError with peak RSS (ru_maxrss, KiB) < 64 MiB more."""
    res = subprocess.run([sys.executable, "-c", _RSS_SCRIPT], capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).resolve().parent)
    assert res.returncode == 0, res.stderr
    kinds, growth = res.stdout.split()
    assert kinds == ",".join(["ValueError"] * 4), kinds
    assert int(growth) < 64 * 1024, f"peak RSS grew by {int(growth) // 1024} MiB"


def test_read_arguments_are_checked() -> None:
    data = seal_bytes(b"abc" * 3000)
    with sealio.open(io.BytesIO(data), "rb", keys=KMS) as r:
        with pytest.raises(ValueError):
            r.read_at(0, -1)
        with pytest.raises(ValueError):
            r.readinto_at(-1, bytearray(4))
        for bad in (1.5, "0", None, b"0"):
            with pytest.raises(TypeError):
                r.read_at(bad, 4)  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                r.read_at(0, bad)  # type: ignore[arg-type]
        assert r.read_at(2**62, 2**62) == b""  # past the end: empty, nothing allocated
        assert r.read_at(8991, 2**62) == b"abc" * 3


@pytest.mark.parametrize("bad,err", [(2**40, ValueError), (0, ValueError), (-1, ValueError),
                                     (1025, ValueError), (True, TypeError), (2.0, TypeError),
                                     ("4", TypeError)])
def test_thread_counts_are_bounded(tmp_path: Path, bad: object, err: type[Exception]) -> None:
    """threads=2**40 raised OverflowError deep in the C binding."""
    data = seal_bytes(b"z" * 50_000)
    with pytest.raises(err, match="threads"):
        sealio.open(io.BytesIO(data), "rb", keys=KMS, threads=bad)  # type: ignore[arg-type]
    with pytest.raises(err, match="threads"):
        streams.SealedReader(io.BytesIO(data), KMS, threads=bad)  # type: ignore[arg-type]
    with pytest.raises(err, match="threads"):
        sealio.open(tmp_path / "w", "wb", keys=KMS, master_key="m", threads=bad)  # type: ignore[arg-type]
    with pytest.raises(err, match="threads"):
        streams.SealedWriter(io.BytesIO(), KMS, master_key="m", threads=bad)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())  # refused before a temporary file exists


def test_thread_count_limits_work() -> None:
    data = seal_bytes(os.urandom(100_000))
    for n in (1, streams.MAX_THREADS):
        with sealio.open(io.BytesIO(data), "rb", keys=KMS, threads=n) as r:
            assert len(r.read()) == 100_000
        assert seal_bytes(b"q" * 9000, threads=n)


def test_sealio_threads_environment_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALIO_THREADS", "lots")
    with pytest.raises(ConfigurationError, match="SEALIO_THREADS"):
        streams.default_threads()
    monkeypatch.setenv("SEALIO_THREADS", str(2**40))
    assert streams.default_threads() == streams.MAX_THREADS
    monkeypatch.setenv("SEALIO_THREADS", "0")
    assert streams.default_threads() == 1


@pytest.mark.parametrize("bad,err", [(2**40, ValueError), (3 << 12, ValueError), (True, TypeError),
                                     (4096.0, TypeError), ("4096", TypeError)])
def test_segment_size_is_bounded(bad: object, err: type[Exception]) -> None:
    with pytest.raises(err, match="segment_size"):
        sealio.open(io.BytesIO(), "wb", keys=KMS, master_key="m", segment_size=bad)  # type: ignore[arg-type]


# --------------------------------------------------- output modes (item 6)


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def test_replaced_file_mode_is_not_carried_over(tmp_path: Path) -> None:
    """A replaced 0o6777 file used to make the output setuid+setgid."""
    p = tmp_path / "out.sealed"
    p.write_bytes(b"old")
    os.chmod(p, 0o6777)
    with sealio.open(p, "wb", keys=KMS, master_key="m") as w:
        w.write(b"new")
    mode = stat.S_IMODE(os.lstat(p).st_mode)
    assert mode == 0o666 & ~_umask(), oct(mode)
    assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX)


def test_symlink_at_destination_is_replaced_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "setuid-target"
    target.write_bytes(b"keep")
    os.chmod(target, 0o4755)
    link = tmp_path / "out.sealed"
    link.symlink_to(target)
    with sealio.open(link, "wb", keys=KMS, master_key="m") as w:
        w.write(b"new")
    assert not link.is_symlink()
    assert stat.S_IMODE(os.lstat(link).st_mode) == 0o666 & ~_umask()
    assert target.read_bytes() == b"keep" and stat.S_IMODE(os.stat(target).st_mode) == 0o4755


def test_rewrap_keeps_permission_bits_but_never_setuid(tmp_path: Path) -> None:
    kr = sealio.LocalKeyring.create(tmp_path / "k.json")
    kr.generate("main")
    p = tmp_path / "f.sealed"
    with sealio.open(p, "wb", keys=kr, master_key="main") as w:
        w.write(b"payload")
    os.chmod(p, 0o6640)
    kr.rotate("main")
    sealio.rewrap(p, kr)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640
    with sealio.open(p, "rb", keys=kr) as r:
        assert r.read() == b"payload"


def test_failed_publish_removes_the_temporary_file(tmp_path: Path) -> None:
    """A rename that fails (the destination is a directory) leaves no temp file."""
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "x").write_bytes(b"")  # a non-empty directory: os.replace fails
    w = sealio.open(dest, "wb", keys=KMS, master_key="m")
    w.write(b"data")
    with pytest.raises(OSError):
        w.close()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out"]


def test_temporary_file_is_private_and_exclusive(tmp_path: Path) -> None:
    p = tmp_path / "f"
    w = sealio.open(p, "wb", keys=KMS, master_key="m")
    (tmp_file,) = [x for x in tmp_path.iterdir() if x.name.endswith(".sealio-tmp")]
    assert stat.S_IMODE(os.lstat(tmp_file).st_mode) == 0o600
    w.abort()
    assert not list(tmp_path.iterdir())


# ------------------------------------------------ key commitment (item 8)

VECTOR_DIR = Path(__file__).resolve().parent / "data" / "format"


def _vector(name: str) -> dict:
    import json

    return json.loads((VECTOR_DIR / f"{name}.json").read_text(encoding="utf-8"))


class CountingKms(sealref.DeterministicKms):
    """The deterministic test KMS, counting unwrap calls."""

    def __init__(self) -> None:
        self.unwraps = 0

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        self.unwraps += 1
        return super().unwrap_key(wrapped_key, master_key_identifier)


def test_sealio_writes_committed_headers() -> None:
    data = seal_bytes(b"hello")
    h = H.parse(data)
    assert h.version_string == "1.1" and h.committed and data[H.OFF_MINOR] == 1
    p, _ = sealref.open_header(data, KMS, require_commitment=True)  # the reference agrees
    assert p.minor == 1 and p.commitment == h.commitment
    info = streams.inspect(io.BytesIO(data))
    assert (info["format_version"], info["format_minor_version"], info["format"], info["key_commitment"]) \
        == (1, 1, "1.1", True)


def test_altered_commitment_refused_before_any_segment() -> None:
    """Commitment changed and the header MAC recomputed with the right key
    (what only a key holder can do): refused at the commitment, before the
    MAC is trusted and before any segment is read; the segments here are
    garbage, so a segment decryption would have failed differently."""
    data = seal_bytes(os.urandom(3 * SEG + 10))
    mgr = sealio.KeyManager(KMS)
    dek = mgr.unwrap_dek(H.parse(data))
    bad = bytearray(data)
    bad[H.OFF_COMMIT] ^= 0x40
    forged = sealref.remac(bytes(bad), dek)
    assert forged[H.OFF_MAC:H.HEADER_SIZE] != data[H.OFF_MAC:H.HEADER_SIZE]
    with pytest.raises(sealref.RefError, match="commitment"):
        sealref.unseal(forged, KMS)
    garbage = forged[:H.HEADER_SIZE] + os.urandom(len(data) - H.HEADER_SIZE)
    for d in (forged, garbage):
        with pytest.raises(sealio.IntegrityError, match="key commitment does not match"):
            sealio.open(io.BytesIO(d), "rb", keys=KMS)
    with pytest.raises(sealio.IntegrityError, match="key commitment"):
        mgr.open_header(forged[:H.HEADER_SIZE], None)  # no segment even given


@pytest.mark.parametrize("name", ["60-v11-commitment-flip", "61-v11-commitment-forged",
                                  "62-v11-commitment-other-dek", "65-v10-upgrade-1.1", "66-v11-wrong-aad"])
def test_commitment_vectors_fail_at_the_commitment(name: str) -> None:
    v = _vector(name)
    data, aad = bytes.fromhex(v["file"]), bytes.fromhex(v["read_aad"])
    with pytest.raises(sealio.IntegrityError, match="key commitment does not match"):
        sealio.open(io.BytesIO(data), "rb", keys=sealio.KeyManager(KMS), aad=aad)


def test_version_1_0_reads_by_default_and_is_refused_under_strict(tmp_path: Path) -> None:
    v = _vector("05-aad-multi")
    data, aad, pt = bytes.fromhex(v["file"]), bytes.fromhex(v["read_aad"]), bytes.fromhex(v["plaintext"])
    with sealio.open(io.BytesIO(data), "rb", keys=sealio.KeyManager(KMS), aad=aad) as r:
        assert r.read() == pt
    kms = CountingKms()
    with pytest.raises(sealio.UnsupportedFormatError, match="1.0 has no key commitment"):
        sealio.open(io.BytesIO(data), "rb", keys=sealio.KeyManager(kms), aad=aad, require_commitment=True)
    with pytest.raises(sealio.UnsupportedFormatError, match="require_commitment"):
        streams.SealedReader(io.BytesIO(data), sealio.KeyManager(kms), aad=aad, require_commitment=True)
    assert kms.unwraps == 0  # refused before any KMS call
    p = tmp_path / "old.sealed"
    p.write_bytes(data)
    with pytest.raises(sealio.UnsupportedFormatError):
        sealio.rewrap(p, sealio.KeyManager(kms), aad=aad, require_commitment=True)
    assert p.read_bytes() == data
    with pytest.raises(TypeError):
        streams.SealedReader(io.BytesIO(data), KMS, aad=aad, require_commitment="yes")  # type: ignore[arg-type]
    info = streams.inspect(io.BytesIO(data))
    assert (info["format"], info["key_commitment"]) == ("1.0", False)


def test_strict_reader_reads_version_1_1() -> None:
    pt = os.urandom(2 * SEG + 5)
    with sealio.open(io.BytesIO(seal_bytes(pt)), "rb", keys=KMS, require_commitment=True) as r:
        assert r.read() == pt
    with sealio.open(io.BytesIO(seal_bytes(b"t\n")), "r", keys=KMS, require_commitment=True) as t:
        assert t.read() == "t\n"


def test_rewrap_keeps_the_minor_version(tmp_path: Path) -> None:
    kr = sealio.LocalKeyring.create(tmp_path / "k.json")
    kr.generate("main")
    kr.generate("second")
    new = tmp_path / "new.sealed"
    with sealio.open(new, "wb", keys=kr, master_key="main", aad=b"a") as w:
        w.write(b"committed")
    before = H.parse(new.read_bytes())
    sealio.rewrap(new, kr, new_master_key="second", aad=b"a", require_commitment=True)
    after = H.parse(new.read_bytes())
    assert after.committed and after.commitment == before.commitment and after.master_key_id == "second"
    with sealio.open(new, "rb", keys=kr, aad=b"a", require_commitment=True) as r:
        assert r.read() == b"committed"
    # a 1.0 file (written by the reference) stays 1.0: upgrading would change K_seg
    old = tmp_path / "old.sealed"
    inp = sealref.FileInputs(dek=os.urandom(32), kek=os.urandom(32), kek_id=os.urandom(16),
                             salt=os.urandom(32), nonce_prefix=os.urandom(7), dek_nonce=os.urandom(12),
                             master_key_id="m", minor=0)
    old.write_bytes(sealref.seal(b"legacy" * 1000, inp, KMS))
    sealio.rewrap(old, KMS)
    assert H.parse(old.read_bytes()).minor_version == 0
    assert sealref.unseal(old.read_bytes(), KMS) == b"legacy" * 1000


def test_writer_kek_is_replaced_after_kek_max_wraps() -> None:
    """A random 96-bit DEK nonce allows 2**32 wraps per KEK; the manager
    replaces the KEK after ``kek_max_wraps`` (shrunk here to see it)."""
    mgr = sealio.KeyManager(KMS)
    mgr.kek_max_wraps = 3
    ids = [mgr.seal_header("m", 12, None)[0].kek_id for _ in range(7)]
    assert ids[0] == ids[1] == ids[2] != ids[3]
    assert ids[3] == ids[4] == ids[5] != ids[6]
    assert len(set(ids)) == 3


def test_decrypt_force_does_not_carry_setuid_over(tmp_path: Path) -> None:
    """The finding as reported: ``sealio decrypt --force`` over a 0o6777 file
    made a setuid+setgid plaintext (the CLI publishes through AtomicFileSink)."""
    from sealio.cli import main

    ring = tmp_path / "k.json"
    assert main(["keygen", "--keyring", str(ring), "-q", "main"]) == 0
    src, sealed, out = tmp_path / "src", tmp_path / "sealed", tmp_path / "out"
    src.mkdir()
    (src / "a.csv").write_bytes(b"id\n1\n")
    assert main(["encrypt", "--keyring", str(ring), "--master-key", "main", "-q", str(src), str(sealed)]) == 0
    out.mkdir()
    (out / "a.csv").write_bytes(b"old")
    os.chmod(out / "a.csv", 0o6777)
    assert main(["decrypt", "--keyring", str(ring), "--force", "-q", str(sealed), str(out)]) == 0
    assert (out / "a.csv").read_bytes() == b"id\n1\n"
    mode = stat.S_IMODE(os.lstat(out / "a.csv").st_mode)
    assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX) and not mode & 0o002, oct(mode)
