"""The binding and the C core under hostile use (issue 12): no crash after
a failed call, overlapping buffers refused, bounded arguments, key
contexts kept out of core dumps.

Crash tests run in a subprocess, so a segfault is a failing test and not
a dead pytest. The collector only crashes when it happens to clear a
memoryview before the cffi buffer that still exports it, so those
subprocesses lower the GC thresholds (the order depends on which objects
a young collection promoted): with the thresholds below the old binding
died within a few dozen tampered reads on every run.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import sealio
from sealio.hazmat import kernel as _kernel
from sealio import primitives as P
from sealio.errors import IntegrityError
from sealio.primitives import AesCbc, AesGcm

TAG = 16
KEY = bytes(range(0xA0, 0xC0))
NONCE = bytes(range(12))
IV = bytes(range(16, 32))
PREFIX = b"prefix7"
# Thresholds under which the old binding crashed (see the module docstring).
GC_THRESHOLDS = ((50, 5, 5), (30, 5, 5), (50, 3, 3), (70, 10, 10))


def _native_kernels() -> list[str]:
    return [k for k in _kernel.available() if k != "fallback"]


def _run(code: str, *args: str, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout, env=full)


def _crashed(proc: subprocess.CompletedProcess[str]) -> str:
    return f"rc={proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"


# --------------------------------------------- no buffer outlives an error


def _sealio_frames(exc: BaseException) -> Iterator[types.FrameType]:
    pkg = os.path.dirname(sealio.__file__)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(pkg):
            yield tb.tb_frame
        tb = tb.tb_next


def _views(obj: Any, depth: int = 0) -> Iterator[memoryview]:
    if isinstance(obj, memoryview):
        yield obj
    elif depth < 3 and isinstance(obj, (list, tuple, dict)):
        for item in obj.values() if isinstance(obj, dict) else obj:
            yield from _views(item, depth + 1)


def _exported_views(exc: BaseException) -> list[str]:
    """Names of memoryviews in sealio's frames of the traceback that still
    export a buffer (release() refuses): the state in which a later garbage
    collection can clear the view under cffi and crash the interpreter.
    Only views sealio made itself are probed (release() is destructive)."""
    found = []
    for frame in _sealio_frames(exc):
        for name, value in frame.f_locals.items():
            for view in _views(value):
                try:
                    view.release()
                except BufferError:
                    found.append(f"{frame.f_code.co_name}:{name}")
    return found


def _failing_calls(kernel: str) -> dict[str, Callable[[], Any]]:
    """Every binding method driven into an error after its buffers were
    handed to the C core (a bad tag, bad padding, overlapping buffers)."""
    gcm, cbc = AesGcm(KEY, kernel=kernel), AesCbc(KEY, kernel=kernel)
    sealed = bytearray(gcm.encrypt(NONCE, bytes(100), b"aad"))
    sealed[3] ^= 1
    segs = bytearray(P.sealed_segments_size(300, 64))
    gcm.seal_segments_into(bytes(300), segs, 64, prefix=PREFIX, aad=b"aad")
    segs[70] ^= 1
    bad_pad = cbc.encrypt(IV, bytes(32), padding=False)
    buf = bytearray(4096)
    return {
        "gcm_decrypt_tag": lambda: gcm.decrypt_into(NONCE, sealed, bytearray(100), b"aad"),
        "gcm_decrypt_tag_view": lambda: gcm.decrypt_into(
            NONCE, memoryview(sealed), memoryview(bytearray(100)), b"aad"),
        "gcm_decrypt_alloc_tag": lambda: gcm.decrypt(NONCE, sealed, b"aad"),
        "gcm_decrypt_alloc_tag_view": lambda: gcm.decrypt(NONCE, memoryview(sealed), b"aad"),
        "gcm_open_segments_tag": lambda: gcm.open_segments_into(
            segs, bytearray(300), 64, prefix=bytearray(PREFIX), aad=bytearray(b"aad"), threads=2),
        "gcm_open_segments_tag_fast": lambda: gcm.open_segments_into(
            memoryview(segs), bytearray(300), 64, prefix=PREFIX, aad=b"aad", threads=2),
        "cbc_decrypt_padding": lambda: cbc.decrypt_into(IV, bad_pad, bytearray(32)),
        "gcm_encrypt_overlap": lambda: gcm.encrypt_into(
            NONCE, memoryview(buf)[:64], memoryview(buf)[1:], b"aad"),
        "gcm_decrypt_overlap": lambda: gcm.decrypt_into(
            NONCE, memoryview(buf)[:80], memoryview(buf)[1:], b"aad"),
        "gcm_seal_segments_overlap": lambda: gcm.seal_segments_into(
            memoryview(buf)[:300], memoryview(buf)[16:], 64, prefix=PREFIX),
        "gcm_open_segments_overlap": lambda: gcm.open_segments_into(
            memoryview(buf)[:380], memoryview(buf)[16:], 64, prefix=PREFIX),
        "cbc_encrypt_overlap": lambda: cbc.encrypt_into(IV, memoryview(buf)[:64], memoryview(buf)[16:]),
        "cbc_decrypt_overlap": lambda: cbc.decrypt_into(IV, memoryview(buf)[:64], memoryview(buf)[16:]),
        "cbc_many_overlap": lambda: P.aes_cbc_encrypt_many_into(
            [(cbc, IV, memoryview(buf)[:64]), (cbc, IV, memoryview(buf)[64:128])],
            [memoryview(buf)[200:280], memoryview(buf)[260:340]]),
    }


@pytest.mark.parametrize("call", list(_failing_calls("fallback")))
def test_no_buffer_stays_exported_after_an_error(kernel: str, call: str) -> None:
    """Issue 12, item 3: an error leaves the binding only after every buffer
    it exported to cffi is released; the old binding kept ``ffi.from_buffer``
    objects alive in the traceback (``_keep`` lists, pointer locals)."""
    fn = _failing_calls(kernel)[call]
    with pytest.raises((IntegrityError, ValueError)) as info:
        fn()
    assert _exported_views(info.value) == []


# --------------------------------------------------- tampered reads + gc

_READ_LOOP = """
    import gc, os, sys
    import sealio
    from sealio.errors import IntegrityError
    d = sys.argv[1]  # the test's tmp_path: the 8 MiB file goes with it
    rounds = int(sys.argv[2])
    thresholds = [tuple(int(x) for x in t.split(",")) for t in sys.argv[3:]]
    kr = sealio.LocalKeyring.create(os.path.join(d, "k.json"))
    kr.generate("m")
    path = os.path.join(d, "f")
    with sealio.open(path, "wb", keys=kr, master_key="m") as f:
        f.write(os.urandom(8 << 20))
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 1
    open(path, "wb").write(data)
    failures = 0
    for t in thresholds:
        gc.set_threshold(*t)
        for i in range(rounds):
            r = sealio.open(path, "rb", keys=kr)
            try:
                r.read_at(0, 8 << 20)
            except IntegrityError:
                failures += 1
            r.close()
            gc.collect()
    print("failures", failures)
"""


@pytest.mark.parametrize("threads", ["1", "2"])
def test_tampered_reads_with_gc_do_not_crash(threads: str, tmp_path: Path) -> None:
    """Issue 12, item 3: hundreds of failing 8 MiB reads, each followed by
    gc.collect(), in a fresh interpreter: every one raises IntegrityError
    and the process exits normally (it died with SIGSEGV before)."""
    rounds = 60
    proc = _run(_READ_LOOP, str(tmp_path), str(rounds), *(",".join(map(str, t)) for t in GC_THRESHOLDS),
                env={"SEALIO_THREADS": threads})
    assert proc.returncode == 0, _crashed(proc)
    assert proc.stdout.split() == ["failures", str(rounds * len(GC_THRESHOLDS))]
    assert "BufferError" not in proc.stderr


_VERIFY = """
    import gc, sys
    from sealio.cli import main
    gc.set_threshold(*(int(x) for x in sys.argv[1].split(",")))
    sys.exit(main(sys.argv[2:]))
"""


def test_verify_over_tampered_files_does_not_crash(tmp_path: Path) -> None:
    """Issue 12, item 3, through the CLI: ``sealio verify`` over 30 tampered
    files reports each one and exits 1, under each GC setting, instead of
    crashing part-way."""
    kr_path = tmp_path / "keys.json"
    kr = sealio.LocalKeyring.create(kr_path)
    kr.generate("m")
    tree = tmp_path / "sealed"
    tree.mkdir()
    payload = os.urandom(5 << 20)  # above the reader's parallel threshold
    for i in range(30):
        p = tree / f"f{i:02d}"
        with sealio.open(p, "wb", keys=kr, master_key="m") as f:
            f.write(payload)
        data = bytearray(p.read_bytes())
        data[len(data) * (i + 1) // 32] ^= 1 << (i % 8)
        p.write_bytes(data)
    for t in GC_THRESHOLDS * 2:
        proc = _run(_VERIFY, ",".join(map(str, t)), "verify", "--quiet", "--keyring", str(kr_path),
                    str(tree), env={"SEALIO_THREADS": "2"})
        assert proc.returncode == 1, _crashed(proc)
        assert proc.stderr.count("IntegrityError") == 30, _crashed(proc)
        assert "BufferError" not in proc.stderr


# ----------------------------------------------------- overlapping buffers

OFFSETS = range(-17, 18)
N = 300  # crosses the 16-block (256-byte) VAES stride and leaves a partial block
PAD = 64


def _window(buf: bytearray, start: int, n: int) -> memoryview:
    return memoryview(buf)[PAD + start:PAD + start + n]


def _gcm_ref(pt: bytes, aad: bytes = b"aad") -> bytes:
    return AESGCM(KEY).encrypt(NONCE, pt, aad)


@pytest.mark.parametrize("d", OFFSETS)
def test_gcm_encrypt_into_overlap(kernel: str, d: int) -> None:
    """Issue 12, item 4: out = plaintext + d. In place (d == 0) matches
    cryptography's AESGCM; any other overlap is ValueError and writes
    nothing (vaes/aesni returned a wrong ciphertext that authenticated)."""
    pt = os.urandom(N)
    buf = bytearray(N + 2 * PAD + TAG)
    src, out = _window(buf, 0, N), _window(buf, d, N + TAG)
    src[:] = pt
    gcm = AesGcm(KEY, kernel=kernel)
    if d == 0:
        assert gcm.encrypt_into(NONCE, src, out, b"aad") == N + TAG
        assert bytes(out) == _gcm_ref(pt)
    else:
        before = bytes(buf)
        with pytest.raises(ValueError, match="overlap"):
            gcm.encrypt_into(NONCE, src, out, b"aad")
        assert bytes(buf) == before


@pytest.mark.parametrize("d", OFFSETS)
def test_gcm_decrypt_into_overlap(kernel: str, d: int) -> None:
    pt = os.urandom(N)
    buf = bytearray(N + 2 * PAD + TAG)
    src, out = _window(buf, 0, N + TAG), _window(buf, d, N)
    src[:] = _gcm_ref(pt)
    gcm = AesGcm(KEY, kernel=kernel)
    if d == 0:
        assert gcm.decrypt_into(NONCE, src, out, b"aad") == N
        assert bytes(out) == pt
    else:
        before = bytes(buf)
        with pytest.raises(ValueError, match="overlap"):
            gcm.decrypt_into(NONCE, src, out, b"aad")
        assert bytes(buf) == before


@pytest.mark.parametrize("what", ["nonce", "aad"])
@pytest.mark.parametrize("op", ["encrypt", "decrypt"])
def test_gcm_output_over_nonce_or_aad(kernel: str, what: str, op: str) -> None:
    """The output may not cover the nonce or the AAD, even at the same start."""
    gcm = AesGcm(KEY, kernel=kernel)
    data = os.urandom(N) if op == "encrypt" else _gcm_ref(os.urandom(N))
    for start in (0, 5, N - 1):
        buf = bytearray(N + TAG + 32)
        out = memoryview(buf)
        nonce, aad = NONCE, b"aad"
        if what == "nonce":
            buf[start:start + 12] = NONCE
            nonce = out[start:start + 12]
        else:
            buf[start:start + 3] = b"aad"
            aad = out[start:start + 3]
        with pytest.raises(ValueError, match="overlap"):
            getattr(gcm, f"{op}_into")(nonce, data, out, aad)


SEG = 64


def _segments_ref(pt: bytes, first: int = 3) -> bytes:
    """Sealed segments made with cryptography alone (the STREAM nonce rule)."""
    out, n = b"", max(1, -(-len(pt) // SEG))
    for i in range(n):
        nonce = PREFIX + (first + i).to_bytes(4, "big") + bytes([i == n - 1])
        out += AESGCM(KEY).encrypt(nonce, pt[i * SEG:(i + 1) * SEG], b"aad")
    return out


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("d", OFFSETS)
def test_seal_segments_overlap(kernel: str, d: int, threads: int) -> None:
    """Segment batches: exactly in place works (sealed from the last segment
    back), any other overlap is ValueError and writes nothing."""
    pt = os.urandom(N)
    size = P.sealed_segments_size(N, SEG)
    buf = bytearray(size + 2 * PAD)
    src, out = _window(buf, 0, N), _window(buf, d, size)
    src[:] = pt
    gcm = AesGcm(KEY, kernel=kernel)
    kw: dict[str, Any] = {"prefix": PREFIX, "first_index": 3, "aad": b"aad", "threads": threads}
    if d == 0:
        assert gcm.seal_segments_into(src, out, SEG, **kw) == size
        assert bytes(out) == _segments_ref(pt)
    else:
        before = bytes(buf)
        with pytest.raises(ValueError, match="overlap"):
            gcm.seal_segments_into(src, out, SEG, **kw)
        assert bytes(buf) == before


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("d", OFFSETS)
def test_open_segments_overlap(kernel: str, d: int, threads: int) -> None:
    """Opening in place compacts the plaintext to the front of the buffer."""
    pt = os.urandom(N)
    sealed = _segments_ref(pt)
    buf = bytearray(len(sealed) + 2 * PAD)
    src, out = _window(buf, 0, len(sealed)), _window(buf, d, N)
    src[:] = sealed
    gcm = AesGcm(KEY, kernel=kernel)
    kw: dict[str, Any] = {"prefix": PREFIX, "first_index": 3, "aad": b"aad", "threads": threads}
    if d == 0:
        assert gcm.open_segments_into(src, out, SEG, **kw) == N
        assert bytes(out) == pt
    else:
        before = bytes(buf)
        with pytest.raises(ValueError, match="overlap"):
            gcm.open_segments_into(src, out, SEG, **kw)
        assert bytes(buf) == before


def test_open_segments_in_place_forged_leaves_no_plaintext(kernel: str) -> None:
    pt = os.urandom(N)
    buf = bytearray(_segments_ref(pt))
    buf[2 * (SEG + TAG) + 1] ^= 1
    with pytest.raises(IntegrityError, match="segment 5"):
        AesGcm(KEY, kernel=kernel).open_segments_into(buf, buf, SEG, prefix=PREFIX, first_index=3,
                                                      aad=b"aad")
    for i in range(0, N - 15, SEG):
        assert pt[i:i + 16] not in buf


def test_segments_output_over_prefix_aad_or_nonces(kernel: str) -> None:
    gcm = AesGcm(KEY, kernel=kernel)
    size = P.sealed_segments_size(N, SEG)
    for what in ("prefix", "aad", "nonces"):
        buf = bytearray(size + 8)
        out = memoryview(buf)
        kw: dict[str, Any] = {"aad": b"aad", "prefix": PREFIX}
        if what == "prefix":
            kw["prefix"] = out[10:17]
        elif what == "aad":
            kw["aad"] = out[size - 2:size + 1]
        else:
            del kw["prefix"]
            kw["nonces"] = out[:12 * 5]
        with pytest.raises(ValueError, match="overlap"):
            gcm.seal_segments_into(os.urandom(N), out, SEG, **kw)


def _cbc_ref(pt: bytes, padding: bool) -> bytes:
    if padding:
        n = 16 - len(pt) % 16
        pt += bytes([n]) * n
    enc = Cipher(algorithms.AES(KEY), modes.CBC(IV)).encryptor()
    return enc.update(pt) + enc.finalize()


CBC_N = 160


@pytest.mark.parametrize("padding", [False, True])
@pytest.mark.parametrize("d", OFFSETS)
def test_cbc_encrypt_into_overlap(kernel: str, d: int, padding: bool) -> None:
    pt = os.urandom(CBC_N)
    size = AesCbc.encrypted_size(CBC_N, padding)
    buf = bytearray(size + 2 * PAD)
    src, out = _window(buf, 0, CBC_N), _window(buf, d, size)
    src[:] = pt
    cbc = AesCbc(KEY, kernel=kernel)
    if d == 0:
        assert cbc.encrypt_into(IV, src, out, padding) == size
        assert bytes(out) == _cbc_ref(pt, padding)
    else:
        before = bytes(buf)
        with pytest.raises(ValueError, match="overlap"):
            cbc.encrypt_into(IV, src, out, padding)
        assert bytes(buf) == before


@pytest.mark.parametrize("padding", [False, True])
@pytest.mark.parametrize("d", OFFSETS)
def test_cbc_decrypt_into_overlap(kernel: str, d: int, padding: bool) -> None:
    pt = os.urandom(CBC_N)
    ct = _cbc_ref(pt, padding)
    buf = bytearray(len(ct) + 2 * PAD)
    src, out = _window(buf, 0, len(ct)), _window(buf, d, len(ct))
    src[:] = ct
    cbc = AesCbc(KEY, kernel=kernel)
    if d == 0:
        assert cbc.decrypt_into(IV, src, out, padding) == CBC_N
        assert bytes(out[:CBC_N]) == pt
    else:
        before = bytes(buf)
        with pytest.raises(ValueError, match="overlap"):
            cbc.decrypt_into(IV, src, out, padding)
        assert bytes(buf) == before


@pytest.mark.parametrize("op", ["encrypt", "decrypt"])
def test_cbc_output_over_iv(kernel: str, op: str) -> None:
    cbc = AesCbc(KEY, kernel=kernel)
    buf = bytearray(CBC_N + 64)
    buf[8:24] = IV
    with pytest.raises(ValueError, match="overlap"):
        getattr(cbc, f"{op}_into")(memoryview(buf)[8:24], os.urandom(CBC_N), buf, False)


@pytest.mark.parametrize("padding", [False, True])
@pytest.mark.parametrize("d", OFFSETS)
def test_cbc_encrypt_many_overlap(kernel: str, d: int, padding: bool) -> None:
    """Multi-buffer CBC: each job in place works; job 1's output shifted by
    d over job 0's buffers (or its own input) is ValueError, nothing written."""
    pts = [os.urandom(CBC_N), os.urandom(CBC_N)]
    size = AesCbc.encrypted_size(CBC_N, padding)
    buf = bytearray(4 * size + 2 * PAD)
    in0, in1 = _window(buf, 0, CBC_N), _window(buf, size, CBC_N)
    in0[:], in1[:] = pts
    outs = [_window(buf, 0, size), _window(buf, size + d, size)]
    cbc = AesCbc(KEY, kernel=kernel)
    if d == 0:
        assert P.aes_cbc_encrypt_many_into([(cbc, IV, in0), (cbc, IV, in1)], outs, padding) == \
            [size, size]
        assert [bytes(o) for o in outs] == [_cbc_ref(p, padding) for p in pts]
    else:
        before = bytes(buf)
        with pytest.raises(ValueError, match="overlap"):
            P.aes_cbc_encrypt_many_into([(cbc, IV, in0), (cbc, IV, in1)], outs, padding)
        assert bytes(buf) == before


def test_cbc_encrypt_many_checks_every_pair(kernel: str) -> None:
    """Among many jobs, one output over another job's input far away in the
    list is found; many disjoint jobs pass."""
    cbc = AesCbc(KEY, kernel=kernel)
    n, size = 200, AesCbc.encrypted_size(32)
    srcs = bytearray(32 * n)
    dsts = bytearray(size * n)
    jobs = [(cbc, IV, memoryview(srcs)[32 * i:32 * (i + 1)]) for i in range(n)]
    outs = [memoryview(dsts)[size * i:size * (i + 1)] for i in range(n)]
    assert P.aes_cbc_encrypt_many_into(jobs, outs) == [size] * n
    outs[150] = memoryview(srcs)[32 * 7 + 5:32 * 7 + 5 + size]
    with pytest.raises(ValueError, match="overlap"):
        P.aes_cbc_encrypt_many_into(jobs, outs)


# ------------------------------------------------------------------ bounds


@pytest.mark.parametrize("threads", [2**40, 2**32, 1025, -1])
def test_threads_out_of_range_is_value_error(kernel: str, threads: int) -> None:
    """Issue 12, item 5: threads=2**40 raised OverflowError from cffi."""
    gcm = AesGcm(KEY, kernel=kernel)
    out = bytearray(4096)
    with pytest.raises(ValueError, match="threads"):
        gcm.seal_segments_into(bytes(64), out, 32, prefix=PREFIX, threads=threads)
    with pytest.raises(ValueError, match="threads"):
        gcm.open_segments_into(bytes(96), out, 32, prefix=PREFIX, threads=threads)


@pytest.mark.parametrize("threads", [2.0, "2", None, True])
def test_threads_not_int_is_type_error(kernel: str, threads: Any) -> None:
    gcm = AesGcm(KEY, kernel=kernel)
    with pytest.raises(TypeError, match="threads"):
        gcm.seal_segments_into(bytes(64), bytearray(4096), 32, prefix=PREFIX, threads=threads)


def test_threads_bounds_accepted(kernel: str) -> None:
    gcm = AesGcm(KEY, kernel=kernel)
    out = bytearray(P.sealed_segments_size(64 * 8, 64))
    for threads in (0, 1, P.MAX_THREADS):
        assert gcm.seal_segments_into(bytes(512), out, 64, prefix=PREFIX, threads=threads) == len(out)


@pytest.mark.parametrize("first_index", [2**32, 2**64, -1, -(2**63)])
def test_first_index_out_of_range(kernel: str, first_index: int) -> None:
    """With explicit nonces the index still reaches C (for error messages):
    it is range-checked too, never an OverflowError."""
    gcm = AesGcm(KEY, kernel=kernel)
    out = bytearray(4096)
    with pytest.raises(ValueError, match="first_index"):
        gcm.seal_segments_into(bytes(64), out, 32, nonces=bytes(24), first_index=first_index)
    with pytest.raises(ValueError):
        gcm.seal_segments_into(bytes(64), out, 32, prefix=PREFIX, first_index=first_index)
    with pytest.raises(TypeError):
        gcm.seal_segments_into(bytes(64), out, 32, prefix=PREFIX, first_index=1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("segment_size", [2**40, 2**64, -1, 0])
def test_segment_size_out_of_range(kernel: str, segment_size: int) -> None:
    gcm = AesGcm(KEY, kernel=kernel)
    with pytest.raises(ValueError, match="segment_size"):
        gcm.seal_segments_into(bytes(64), bytearray(4096), segment_size, prefix=PREFIX)
    with pytest.raises(ValueError, match="segment_size"):
        gcm.open_segments_into(bytes(96), bytearray(4096), segment_size, prefix=PREFIX)


def test_size_helpers_refuse_negative_and_huge() -> None:
    """Size helpers used to size allocations: negative or absurd sizes are
    ValueError (they returned negative or astronomically large numbers)."""
    for bad in (-1, -(2**40), 2**64):
        with pytest.raises(ValueError):
            P.sealed_segments_size(bad, 64)
        with pytest.raises(ValueError):
            AesCbc.encrypted_size(bad)
    with pytest.raises(ValueError):
        P.sealed_segments_size(100, 0)
    with pytest.raises(ValueError):
        P.sealed_segments_size(100, -5)
    with pytest.raises(TypeError):
        P.sealed_segments_size(1.5, 64)  # type: ignore[arg-type]


def test_bad_arguments_refused_before_the_output_is_allocated(kernel: str) -> None:
    """encrypt()/decrypt() size their output from the input: a bad nonce
    (or data shorter than a tag) is refused before that allocation. The
    64 MiB input is calloc'ed and never touched, so only the output would
    show up in tracemalloc's peak; the old code allocated it first."""
    import tracemalloc

    import numpy as np

    big = np.zeros(64 << 20, dtype=np.uint8)
    gcm = AesGcm(KEY, kernel=kernel)
    tracemalloc.start()
    try:
        for call in (lambda: gcm.encrypt(bytes(11), big), lambda: gcm.decrypt(bytes(13), big),
                     lambda: gcm.encrypt("nonce", big)):
            tracemalloc.reset_peak()
            with pytest.raises((ValueError, TypeError)):
                call()
            assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()


# ------------------------------------------------------------- core dumps


def _vmflags(addr: int) -> list[str] | None:
    """The VmFlags of the /proc/self/smaps mapping holding ``addr``."""
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(" ", 1)[0]
            if "-" in head and not line.startswith("VmFlags"):
                try:
                    lo, hi = (int(x, 16) for x in head.split("-"))
                except ValueError:
                    continue
                inside = lo <= addr < hi
            elif inside and line.startswith("VmFlags:"):
                return line.split()[1:]
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="smaps and MADV_DONTDUMP are Linux's")
@pytest.mark.parametrize("cls", [AesGcm, AesCbc])
@pytest.mark.parametrize("native", _native_kernels())
def test_key_contexts_are_excluded_from_core_dumps(native: str, cls: type) -> None:
    """Issue 12, item 6: the C core's key schedules and GHASH tables sit on
    pages marked MADV_DONTDUMP ("dd" in smaps), so a core dump of a crashed
    reader does not carry them. (The fallback kernel keeps keys in OpenSSL.)"""
    kernel = native
    ffi, lib = _kernel.native()  # type: ignore[misc]
    assert lib.sealio_contexts_dontdump() == 1
    obj = cls(KEY, kernel=kernel)
    addr = int(ffi.cast("uintptr_t", obj._impl._ctx))
    assert addr % 4096 == 0
    flags = _vmflags(addr)
    assert flags is not None and "dd" in flags, flags
    heap = bytearray(1 << 10)  # an ordinary heap block is not marked: the check means something
    heap_flags = _vmflags(_buffers_address(heap))
    assert heap_flags is not None and "dd" not in heap_flags


def _buffers_address(b: bytearray) -> int:
    from sealio.hazmat import buffers as _buffers

    return _buffers.address(memoryview(b))
