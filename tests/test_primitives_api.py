"""The checked door of ``sealio.primitives``: argument types and lengths,
``*_into`` contracts, key hygiene (no pickling, no key in repr), and the
shape of ``cpu_features()``.

The rules follow pyca/cryptography: a wrong type is TypeError, a wrong
length ValueError, and failed authentication IntegrityError. They are
checked on every kernel because a native context must never see bad input.
"""

from __future__ import annotations

import copy
import pickle
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import sealio
from sealio.hazmat import kernel as _kernel
from sealio import primitives as P
from sealio.primitives import AesCbc, AesGcm

KEY = bytes(range(0xC0, 0xE0))  # 32 distinctive bytes, easy to spot in a leak
NONCE = bytes(12)
IV = bytes(16)
MSG = b"attack at dawn, bring snacks"

BAD_TYPES = ["a string", 16, None, 3.5, ["list"]]


def _gcm(kernel: str, key: bytes = KEY) -> AesGcm:
    return AesGcm(key, kernel=kernel)


# ------------------------------------------------------------------- types


@pytest.mark.parametrize("bad", BAD_TYPES, ids=repr)
def test_key_type(kernel: str, bad: Any) -> None:
    with pytest.raises(TypeError):
        AesGcm(bad, kernel=kernel)
    with pytest.raises(TypeError):
        AesCbc(bad, kernel=kernel)


@pytest.mark.parametrize("bad", BAD_TYPES, ids=repr)
def test_module_functions_key_type(bad: Any) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: P.aes_gcm_encrypt(bad, NONCE, MSG),
        lambda: P.aes_gcm_decrypt(bad, NONCE, bytes(32)),
        lambda: P.aes_gcm_encrypt_into(bad, NONCE, MSG, bytearray(64)),
        lambda: P.aes_gcm_decrypt_into(bad, NONCE, bytes(32), bytearray(64)),
        lambda: P.aes_cbc_encrypt(bad, IV, MSG),
        lambda: P.aes_cbc_decrypt(bad, IV, bytes(32)),
        lambda: P.aes_cbc_encrypt_into(bad, IV, MSG, bytearray(64)),
        lambda: P.aes_cbc_decrypt_into(bad, IV, bytes(32), bytearray(64)),
        lambda: P.aes_cbc_encrypt_many([(bad, IV, MSG)]),
    ]
    for call in calls:
        with pytest.raises(TypeError):
            call()


@pytest.mark.parametrize("bad", BAD_TYPES, ids=repr)
def test_gcm_nonce_plaintext_aad_types(kernel: str, bad: Any) -> None:
    gcm = _gcm(kernel)
    sealed = gcm.encrypt(NONCE, MSG)
    with pytest.raises(TypeError):
        gcm.encrypt(bad, MSG)
    with pytest.raises(TypeError):
        gcm.decrypt(bad, sealed)
    with pytest.raises(TypeError):
        gcm.encrypt(NONCE, bad)
    with pytest.raises(TypeError):
        gcm.decrypt(NONCE, bad)
    with pytest.raises(TypeError):
        gcm.encrypt_into(NONCE, bad, bytearray(64))
    with pytest.raises(TypeError):
        gcm.encrypt_into(NONCE, MSG, bad)
    if bad is not None:  # aad=None means "no AAD"
        with pytest.raises(TypeError):
            gcm.encrypt(NONCE, MSG, bad)
        with pytest.raises(TypeError):
            gcm.decrypt(NONCE, sealed, bad)


@pytest.mark.parametrize("bad", BAD_TYPES, ids=repr)
def test_cbc_iv_plaintext_types(kernel: str, bad: Any) -> None:
    cbc = AesCbc(KEY, kernel=kernel)
    with pytest.raises(TypeError):
        cbc.encrypt(bad, MSG)
    with pytest.raises(TypeError):
        cbc.decrypt(bad, bytes(32))
    with pytest.raises(TypeError):
        cbc.encrypt(IV, bad)
    with pytest.raises(TypeError):
        cbc.decrypt(IV, bad)
    with pytest.raises(TypeError):
        cbc.encrypt_into(IV, MSG, bad)
    with pytest.raises(TypeError):
        P.aes_cbc_encrypt_many([(KEY, bad, MSG)], kernel=kernel)
    with pytest.raises(TypeError):
        P.aes_cbc_encrypt_many([(KEY, IV, bad)], kernel=kernel)


def _readonly_outputs(n: int) -> list[Any]:
    arr = np.zeros(n, dtype=np.uint8)
    arr.flags.writeable = False
    return [bytes(n), memoryview(bytes(n)), memoryview(bytearray(n)).toreadonly(), arr]


def test_readonly_out_is_type_error(kernel: str) -> None:
    """A read-only output buffer is a TypeError (never a silent copy)."""
    gcm, cbc = _gcm(kernel), AesCbc(KEY, kernel=kernel)
    sealed = gcm.encrypt(NONCE, MSG)
    ct = cbc.encrypt(IV, MSG)
    for out in _readonly_outputs(64):
        with pytest.raises(TypeError):
            gcm.encrypt_into(NONCE, MSG, out)
        with pytest.raises(TypeError):
            gcm.decrypt_into(NONCE, sealed, out)
        with pytest.raises(TypeError):
            cbc.encrypt_into(IV, MSG, out)
        with pytest.raises(TypeError):
            cbc.decrypt_into(IV, ct, out)
        with pytest.raises(TypeError):
            gcm.seal_segments_into(MSG, out, 16, prefix=bytes(7))


def test_numpy_and_multibyte_buffers_are_bytes(kernel: str) -> None:
    """Any C-contiguous buffer counts by bytes: a uint32 matrix is 64 bytes."""
    gcm = _gcm(kernel)
    mat = np.arange(16, dtype=np.uint32).reshape(4, 4)
    assert gcm.encrypt(NONCE, mat) == gcm.encrypt(NONCE, mat.tobytes())
    out = np.zeros(5, dtype=np.uint64)  # 40 bytes, room for 24 + 16
    assert gcm.encrypt_into(NONCE, MSG[:24], out) == 40
    assert out.tobytes() == gcm.encrypt(NONCE, MSG[:24])


def test_non_contiguous_buffer_is_value_error(kernel: str) -> None:
    gcm = _gcm(kernel)
    strided = memoryview(bytearray(64))[::2]
    with pytest.raises(ValueError):
        gcm.encrypt(NONCE, strided)
    with pytest.raises(ValueError):
        gcm.encrypt_into(NONCE, MSG, memoryview(bytearray(200))[::2])
    with pytest.raises(ValueError):
        gcm.encrypt(NONCE, np.zeros((8, 8), dtype=np.uint8)[:, 1])


# ----------------------------------------------------------------- lengths


@pytest.mark.parametrize("size", [0, 1, 15, 17, 20, 31, 33, 64])
def test_key_length(kernel: str, size: int) -> None:
    with pytest.raises(ValueError):
        AesGcm(bytes(size), kernel=kernel)
    with pytest.raises(ValueError):
        AesCbc(bytes(size), kernel=kernel)
    with pytest.raises(ValueError):
        P.aes_gcm_encrypt(bytes(size), NONCE, MSG)
    with pytest.raises(ValueError):
        P.aes_cbc_encrypt(bytes(size), IV, MSG)


@pytest.mark.parametrize("size", [16, 24, 32])
def test_key_lengths_accepted(kernel: str, size: int) -> None:
    gcm = AesGcm(bytes(size), kernel=kernel)
    assert gcm.decrypt(NONCE, gcm.encrypt(NONCE, MSG)) == MSG
    cbc = AesCbc(bytes(size), kernel=kernel)
    assert cbc.decrypt(IV, cbc.encrypt(IV, MSG)) == MSG


@pytest.mark.parametrize("size", [0, 8, 11, 13, 16])
def test_gcm_nonce_length(kernel: str, size: int) -> None:
    gcm = _gcm(kernel)
    sealed = gcm.encrypt(NONCE, MSG)
    with pytest.raises(ValueError):
        gcm.encrypt(bytes(size), MSG)
    with pytest.raises(ValueError):
        gcm.decrypt(bytes(size), sealed)
    with pytest.raises(ValueError):
        gcm.decrypt_into(bytes(size), sealed, bytearray(len(MSG)))
    with pytest.raises(ValueError):
        P.aes_gcm_encrypt(KEY, bytes(size), MSG)


@pytest.mark.parametrize("size", [0, 12, 15, 17, 32])
def test_cbc_iv_length(kernel: str, size: int) -> None:
    cbc = AesCbc(KEY, kernel=kernel)
    with pytest.raises(ValueError):
        cbc.encrypt(bytes(size), MSG)
    with pytest.raises(ValueError):
        cbc.decrypt(bytes(size), bytes(32))
    with pytest.raises(ValueError):
        P.aes_cbc_encrypt_many([(KEY, bytes(size), MSG)], kernel=kernel)


def test_cbc_block_multiples(kernel: str) -> None:
    """Unpadded CBC needs whole blocks (ValueError); a padded ciphertext that
    is empty or not whole blocks cannot be authentic (IntegrityError)."""
    cbc = AesCbc(KEY, kernel=kernel)
    with pytest.raises(ValueError):
        cbc.encrypt(IV, bytes(17), padding=False)
    with pytest.raises(ValueError):
        cbc.decrypt(IV, bytes(17), padding=False)
    with pytest.raises(ValueError):
        P.aes_cbc_encrypt_many([(KEY, IV, bytes(32)), (KEY, IV, bytes(33))], padding=False,
                               kernel=kernel)
    for n in (0, 1, 15, 17, 31):
        with pytest.raises(sealio.IntegrityError):
            cbc.decrypt(IV, bytes(n))
    assert cbc.encrypt(IV, b"", padding=False) == b""
    assert cbc.decrypt(IV, b"", padding=False) == b""


def test_gcm_short_data_is_integrity_error(kernel: str) -> None:
    """Fewer than 16 bytes cannot hold a tag: IntegrityError, not ValueError."""
    gcm = _gcm(kernel)
    for n in (0, 1, 15):
        with pytest.raises(sealio.IntegrityError):
            gcm.decrypt(NONCE, bytes(n))
        with pytest.raises(sealio.IntegrityError):
            gcm.decrypt_into(NONCE, bytes(n), bytearray(16))


def test_out_too_small(kernel: str) -> None:
    gcm, cbc = _gcm(kernel), AesCbc(KEY, kernel=kernel)
    sealed = gcm.encrypt(NONCE, MSG)
    n = len(MSG)
    with pytest.raises(ValueError):
        gcm.encrypt_into(NONCE, MSG, bytearray(n + 15))
    with pytest.raises(ValueError):
        gcm.decrypt_into(NONCE, sealed, bytearray(n - 1))
    with pytest.raises(ValueError):
        P.aes_gcm_encrypt_into(KEY, NONCE, MSG, bytearray(n))
    with pytest.raises(ValueError):
        P.aes_gcm_decrypt_into(KEY, NONCE, sealed, bytearray(0))
    ct = cbc.encrypt(IV, bytes(32))  # 48 bytes: a whole padding block
    with pytest.raises(ValueError):
        cbc.encrypt_into(IV, bytes(32), bytearray(47))
    with pytest.raises(ValueError):
        cbc.encrypt_into(IV, bytes(32), bytearray(32))  # padding needs its own block
    with pytest.raises(ValueError):
        cbc.decrypt_into(IV, ct, bytearray(47))
    with pytest.raises(ValueError):
        gcm.seal_segments_into(bytes(100), bytearray(100 + 16 * 4 - 1), 32, prefix=bytes(7))
    seg = bytearray(100 + 16 * 4)
    gcm.seal_segments_into(bytes(100), seg, 32, prefix=bytes(7))
    with pytest.raises(ValueError):
        gcm.open_segments_into(seg, bytearray(99), 32, prefix=bytes(7))


# ----------------------------------------------------------- into contracts


def test_into_return_values_and_bounds(kernel: str) -> None:
    """``*_into`` return the bytes written and leave the rest of a larger
    output alone."""
    gcm, cbc = _gcm(kernel), AesCbc(KEY, kernel=kernel)
    n = len(MSG)
    out = bytearray(b"\xee" * (n + 16 + 9))
    assert gcm.encrypt_into(NONCE, MSG, out, b"hdr") == n + 16
    assert bytes(out[: n + 16]) == gcm.encrypt(NONCE, MSG, b"hdr")
    assert out[n + 16 :] == b"\xee" * 9
    back = bytearray(b"\xee" * (n + 5))
    assert gcm.decrypt_into(NONCE, out[: n + 16], back, b"hdr") == n
    assert bytes(back[:n]) == MSG and back[n:] == b"\xee" * 5
    assert P.aes_gcm_encrypt_into(KEY, NONCE, MSG, out) == n + 16
    assert P.aes_gcm_decrypt_into(KEY, NONCE, bytes(out[: n + 16]), back) == n

    for length, padded in ((0, 16), (15, 16), (16, 32), (28, 32), (33, 48)):
        pt = MSG[:length] if length <= n else bytes(length)
        out = bytearray(64)
        assert cbc.encrypt_into(IV, pt, out) == padded
        assert P.aes_cbc_encrypt_into(KEY, IV, pt, out) == padded
        assert AesCbc.encrypted_size(length) == padded
        back = bytearray(64)
        assert cbc.decrypt_into(IV, out[:padded], back) == length
        assert P.aes_cbc_decrypt_into(KEY, IV, bytes(out[:padded]), back) == length
        assert bytes(back[:length]) == pt
    out = bytearray(32)
    assert cbc.encrypt_into(IV, bytes(32), out, padding=False) == 32
    assert cbc.decrypt_into(IV, out, bytearray(32), padding=False) == 32

    plain = bytes(range(100))
    sealed = bytearray(P.sealed_segments_size(100, 32))
    assert len(sealed) == 100 + 4 * 16
    assert gcm.seal_segments_into(plain, sealed, 32, prefix=bytes(7)) == len(sealed)
    back = bytearray(100)
    assert gcm.open_segments_into(sealed, back, 32, prefix=bytes(7)) == 100
    assert bytes(back) == plain


def test_aad_none_is_empty(kernel: str) -> None:
    gcm = _gcm(kernel)
    assert gcm.encrypt(NONCE, MSG, None) == gcm.encrypt(NONCE, MSG, b"") == gcm.encrypt(NONCE, MSG)
    assert gcm.decrypt(NONCE, gcm.encrypt(NONCE, MSG), None) == MSG


def test_one_shot_functions_return_bytes(kernel: str) -> None:
    gcm = _gcm(kernel)
    assert type(gcm.encrypt(NONCE, bytearray(MSG))) is bytes
    assert type(gcm.decrypt(NONCE, gcm.encrypt(NONCE, MSG))) is bytes
    assert type(P.aes_gcm_encrypt(KEY, NONCE, MSG)) is bytes
    assert type(P.aes_cbc_encrypt(KEY, IV, MSG)) is bytes
    many = P.aes_cbc_encrypt_many([(KEY, IV, MSG)] * 3, kernel=kernel)
    assert all(type(c) is bytearray for c in many)  # fresh, owned: no copy into bytes
    assert len({id(c) for c in many}) == 3
    assert P.aes_cbc_encrypt_many([], kernel=kernel) == []


# --------------------------------------------------------- segment checks


def test_segment_argument_checks(kernel: str) -> None:
    gcm = _gcm(kernel)
    out = bytearray(4096)
    with pytest.raises(TypeError):  # neither prefix nor nonces
        gcm.seal_segments_into(bytes(64), out, 32)
    with pytest.raises(TypeError):  # both
        gcm.seal_segments_into(bytes(64), out, 32, prefix=bytes(7), nonces=bytes(24))
    with pytest.raises(ValueError):
        gcm.seal_segments_into(bytes(64), out, 32, prefix=bytes(6))
    with pytest.raises(ValueError):
        gcm.seal_segments_into(bytes(64), out, 32, prefix=bytes(8))
    with pytest.raises(ValueError):  # 2 segments need 24 nonce bytes
        gcm.seal_segments_into(bytes(64), out, 32, nonces=bytes(36))
    with pytest.raises(ValueError):
        gcm.seal_segments_into(bytes(64), out, 0, prefix=bytes(7))
    with pytest.raises(TypeError):
        gcm.seal_segments_into(bytes(64), out, True, prefix=bytes(7))
    with pytest.raises(TypeError):
        gcm.seal_segments_into(bytes(64), out, 32.0, prefix=bytes(7))  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # a non-final batch holds whole segments
        gcm.seal_segments_into(bytes(65), out, 32, prefix=bytes(7), final=False)
    with pytest.raises(ValueError):
        gcm.seal_segments_into(b"", out, 32, prefix=bytes(7), final=False)
    with pytest.raises(ValueError):  # indexes past 2^32
        gcm.seal_segments_into(bytes(64), out, 32, prefix=bytes(7), first_index=2**32 - 1)
    with pytest.raises(ValueError):
        gcm.seal_segments_into(bytes(64), out, 32, prefix=bytes(7), first_index=-1)
    with pytest.raises(ValueError):
        gcm.seal_segments_into(bytes(64), out, 32, prefix=bytes(7), threads=-1)
    # The last possible index is fine.
    n = gcm.seal_segments_into(bytes(64), out, 32, prefix=bytes(7), first_index=2**32 - 2)
    assert n == 64 + 32
    back = bytearray(64)
    assert gcm.open_segments_into(out[:n], back, 32, prefix=bytes(7), first_index=2**32 - 2) == 64


def test_segment_truncation_is_integrity_error(kernel: str) -> None:
    gcm = _gcm(kernel)
    sealed = bytearray(P.sealed_segments_size(96, 32))
    gcm.seal_segments_into(bytes(96), sealed, 32, prefix=bytes(7))
    back = bytearray(96)
    for cut in (1, 15, 16, 17, 48):
        with pytest.raises(sealio.IntegrityError):
            gcm.open_segments_into(sealed[:-cut], back, 32, prefix=bytes(7))
    with pytest.raises(sealio.IntegrityError):  # a tag alone is short of a non-final segment
        gcm.open_segments_into(sealed[:48 + 16], back, 32, prefix=bytes(7), final=False)
    with pytest.raises(sealio.IntegrityError):
        gcm.open_segments_into(b"", back, 32, prefix=bytes(7))


def test_empty_final_batch_is_one_segment(kernel: str) -> None:
    """Empty plaintext still seals one (empty) final segment: just a tag."""
    gcm = _gcm(kernel)
    out = bytearray(16)
    assert gcm.seal_segments_into(b"", out, 4096, prefix=bytes(7)) == 16
    assert bytes(out) == gcm.encrypt(bytes(7) + bytes(4) + b"\x01", b"")
    assert gcm.open_segments_into(out, bytearray(0), 4096, prefix=bytes(7)) == 0


# ------------------------------------------------------------- key hygiene


@pytest.mark.parametrize("cls", [AesGcm, AesCbc])
def test_not_picklable_or_copyable(kernel: str, cls: type) -> None:
    obj = cls(KEY, kernel=kernel)
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError):
            pickle.dumps(obj, protocol=proto)
    with pytest.raises(TypeError):
        copy.copy(obj)
    with pytest.raises(TypeError):
        copy.deepcopy(obj)


@pytest.mark.parametrize("cls", [AesGcm, AesCbc])
def test_repr_shows_no_key(kernel: str, cls: type) -> None:
    obj = cls(KEY, kernel=kernel)
    for text in (repr(obj), str(obj)):
        assert kernel in text
        assert KEY.hex() not in text and KEY.hex()[:8] not in text
        assert repr(KEY)[2:-1][:12] not in text
        assert len(text) < 60
    assert not hasattr(obj, "__dict__")  # nowhere to stash a readable key copy
    assert obj.kernel == kernel


# ------------------------------------------------------------ cpu_features


def test_cpu_features_shape() -> None:
    feats = P.cpu_features()
    assert set(feats) >= {"features", "native_extension", "available_kernels", "kernel", "requested"}
    assert set(feats["features"]) == {"aesni", "pclmulqdq", "sse4_1", "avx", "avx2", "vaes",
                                      "vpclmulqdq", "avx512f", "avx512vl"}
    assert all(type(v) is bool for v in feats["features"].values())
    assert type(feats["native_extension"]) is bool
    kernels = feats["available_kernels"]
    assert kernels[-1] == "fallback" and set(kernels) <= set(_kernel.KERNELS)
    assert kernels == [k for k in _kernel.KERNELS if k in kernels]  # best first
    assert feats["kernel"] in kernels
    assert feats["requested"] in ("auto", *_kernel.KERNELS)
    if not feats["native_extension"]:
        assert kernels == ["fallback"] and not any(feats["features"].values())
    # The features imply the kernels: the C probe and the kernel list agree.
    f = feats["features"]
    base = f["aesni"] and f["pclmulqdq"] and f["sse4_1"]
    assert ("aesni" in kernels) == base
    assert ("vaes" in kernels) == (base and f["avx"] and f["avx2"] and f["vaes"] and f["vpclmulqdq"])
    assert P.cpu_features() == feats  # stable within a process


def test_default_objects_use_the_reported_kernel() -> None:
    """What cpu_features() calls the active kernel is what objects get."""
    active = P.cpu_features()["kernel"]
    assert AesGcm(KEY).kernel == active
    assert AesCbc(KEY).kernel == active


def test_unknown_kernel_argument() -> None:
    for bad in ("avx512", "AESNI", "", "native"):
        with pytest.raises(ValueError):
            AesGcm(KEY, kernel=bad)
        with pytest.raises(ValueError):
            AesCbc(KEY, kernel=bad)
    assert AesGcm(KEY, kernel="auto").kernel == _kernel.available()[0]


# -------------------------------------------------------------- the GIL


def _cpu_share_during(call: Callable[[], Any], calls: int) -> float:
    """Main-thread CPU time / worker CPU time while a worker runs ``call``
    ``calls`` times and the main thread spins. A call that releases the GIL
    leaves the main thread running alongside (ratio ~1, or its fair share
    on a busy machine); a call that holds it leaves the main thread blocked
    on the GIL for the whole call (ratio ~ switch interval / call time)."""
    state = {"running": False, "done": False}
    worker_cpu = [0.0]

    def worker() -> None:
        state["running"] = True
        t0 = time.thread_time()
        for _ in range(calls):
            call()
        worker_cpu[0] = time.thread_time() - t0
        state["done"] = True

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # a held GIL then leaves the main thread ~0.1 ms a call
    try:
        t = threading.Thread(target=worker)
        t.start()
        while not state["running"]:
            pass
        t0 = time.thread_time()
        while not state["done"]:
            pass
        main_cpu = time.thread_time() - t0
        t.join()
    finally:
        sys.setswitchinterval(old)
    return main_cpu / max(worker_cpu[0], 1e-9)


def _long_calls(kernel: str, src: Any, out: Any) -> dict[str, Callable[[], Any]]:
    gcm, cbc = AesGcm(KEY, kernel=kernel), AesCbc(KEY, kernel=kernel)
    sealed = np.frombuffer(gcm.encrypt(NONCE, src), dtype=np.uint8)
    return {
        "gcm_encrypt": lambda: gcm.encrypt_into(NONCE, src, out),
        "gcm_decrypt": lambda: gcm.decrypt_into(NONCE, sealed, out),
        "cbc_encrypt": lambda: cbc.encrypt_into(IV, src, out, padding=False),
        "cbc_decrypt": lambda: cbc.decrypt_into(IV, src, out, padding=False),
    }


def test_native_calls_release_the_gil() -> None:
    """The native kernels run without the GIL (what lets threads scale):
    while a worker thread is inside 32 MiB GCM and CBC calls, the main
    thread keeps running Python code. Measured in per-thread CPU time, so
    other load on the machine slows both threads alike."""
    natives = [k for k in _kernel.available() if k != "fallback"]
    n = 32 << 20
    src = np.zeros(n, dtype=np.uint8)
    out = np.empty(n + 16, dtype=np.uint8)
    for kernel in natives:
        for name, op in _long_calls(kernel, src, out).items():
            share = _cpu_share_during(op, calls=6)
            assert share > 0.5, f"{kernel} {name}: main thread got {share:.2f} of the worker's CPU"


def test_cbc_encrypt_many_into_writes_caller_buffers(kernel: str) -> None:
    jobs = [(KEY, IV, MSG), (bytes(range(16)), bytes(16), MSG[:16])]
    outs = [bytearray(AesCbc_size(len(MSG)) + 7), np.zeros(AesCbc_size(16), dtype=np.uint8)]
    written = P.aes_cbc_encrypt_many_into(jobs, outs, kernel=kernel)
    assert written == [AesCbc_size(len(MSG)), AesCbc_size(16)]
    for (k, iv, pt), out, n in zip(jobs, outs, written):
        assert bytes(memoryview(out)[:n]) == P.aes_cbc_encrypt(k, iv, pt)


def test_cbc_encrypt_many_into_refuses_bad_outputs(kernel: str) -> None:
    with pytest.raises(ValueError, match="too small"):
        P.aes_cbc_encrypt_many_into([(KEY, IV, MSG)], [bytearray(len(MSG))], kernel=kernel)
    with pytest.raises(TypeError, match="writable"):
        P.aes_cbc_encrypt_many_into([(KEY, IV, MSG)], [bytes(AesCbc_size(len(MSG)))], kernel=kernel)
    with pytest.raises(ValueError, match="1 jobs but 2"):
        P.aes_cbc_encrypt_many_into([(KEY, IV, MSG)], [bytearray(64), bytearray(64)], kernel=kernel)


def AesCbc_size(n: int) -> int:  # noqa: N802 (reads like the method it calls)
    return P.AesCbc.encrypted_size(n, True)


# ------------------------------------------- one-shot fast paths (issue 14)
#
# The native kernels take ``bytes`` nonces/AAD with bytes, bytearray or
# memoryview data on a short path that leaves length, overlap and limit
# checks to the C core (sealio_gcm_seal/open). These tests pin that the
# short path is really taken and that it agrees with the checked path in
# results and in every error.

_SHAPES: dict[str, Callable[[bytes], Any]] = {
    "bytes": bytes,
    "bytearray": bytearray,
    "memoryview": lambda b: memoryview(bytearray(b)),
    "readonly memoryview": lambda b: memoryview(b),
    "numpy (checked path)": lambda b: np.frombuffer(bytearray(b), dtype=np.uint8),
    "int32 memoryview": lambda b: memoryview(np.frombuffer(bytearray(b), dtype=np.int32)),
}


def test_native_one_shots_take_the_fast_path() -> None:
    """A current build exposes sealio_gcm_seal/open, so the short path is on
    (a stale binding without them silently used the checked path only)."""
    for kernel in (k for k in _kernel.available() if k != "fallback"):
        assert _gcm(kernel)._impl.fast is True
    assert getattr(_gcm("fallback")._impl, "fast", False) is False


@pytest.mark.parametrize("shape", list(_SHAPES))
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 255, 256, 4099])
def test_fast_and_checked_paths_agree(kernel: str, shape: str, size: int) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    pt = bytes((i * 7 + size) & 0xFF for i in range(size - size % 4))  # int32 views need 4 | size
    ref = AESGCM(KEY).encrypt(NONCE, pt, b"hdr")
    gcm = _gcm(kernel)
    src = _SHAPES[shape](pt)
    assert gcm.encrypt(NONCE, src, b"hdr") == ref
    out = bytearray(len(ref) + 3)
    assert gcm.encrypt_into(NONCE, src, out, b"hdr") == len(ref)
    assert bytes(out[:len(ref)]) == ref and out[len(ref):] == bytes(3)
    sealed = _SHAPES[shape](ref[:len(ref) - len(ref) % 4] if "int32" in shape else ref)
    if "int32" not in shape or len(ref) % 4 == 0:
        back = gcm.decrypt(NONCE, sealed, b"hdr")
        assert type(back) is bytes and back == pt
        dst = np.full(len(pt) + 5, 0xAB, dtype=np.uint8)
        assert gcm.decrypt_into(NONCE, sealed, dst, b"hdr") == len(pt)
        assert bytes(dst[:len(pt)]) == pt and bytes(dst[len(pt):]) == b"\xab" * 5


def test_allocating_forms_return_fresh_bytes(kernel: str) -> None:
    """Each result is a new, independent bytes object (the native path
    writes into a bytes object it has just made; none may be shared)."""
    gcm = _gcm(kernel)
    a, b = gcm.encrypt(NONCE, MSG), gcm.encrypt(NONCE, MSG)
    assert type(a) is bytes and a == b and a is not b
    c, d = gcm.decrypt(NONCE, a), gcm.decrypt(NONCE, b)
    assert c == d == MSG and c is not d and c is not MSG
    assert hash(a) == hash(bytes(bytearray(a)))  # a normal, hashable bytes object
    assert gcm.decrypt(NONCE, gcm.encrypt(NONCE, b"")) == b""
    assert gcm.decrypt(NONCE, gcm.encrypt(NONCE, b"x")) == b"x"


def test_fast_path_errors_match_the_checked_path(kernel: str) -> None:
    """The same exception types and messages whichever path a call takes."""
    gcm = _gcm(kernel)
    sealed = gcm.encrypt(NONCE, MSG, b"a")
    with pytest.raises(ValueError, match="nonce must be 12 bytes"):
        gcm.encrypt(bytes(11), MSG)
    with pytest.raises(ValueError, match="nonce must be 12 bytes"):
        gcm.decrypt_into(bytes(13), sealed, bytearray(len(MSG)), b"a")
    with pytest.raises(ValueError, match="too small"):
        gcm.encrypt_into(NONCE, MSG, bytearray(len(MSG) + 15))
    with pytest.raises(ValueError, match="too small"):
        gcm.decrypt_into(NONCE, sealed, bytearray(len(MSG) - 1), b"a")
    with pytest.raises(TypeError, match="writable"):
        gcm.encrypt_into(NONCE, MSG, memoryview(bytes(len(MSG) + 16)))
    with pytest.raises(ValueError, match="C-contiguous"):
        gcm.encrypt(NONCE, memoryview(bytearray(64))[::2])
    with pytest.raises(sealio.IntegrityError, match="shorter than its 16-byte tag"):
        gcm.decrypt(NONCE, bytes(15))
    bad = bytearray(sealed)
    bad[0] ^= 1
    out = bytearray(b"\xee" * len(MSG))
    for data in (bytes(bad), bad, memoryview(bad)):
        with pytest.raises(sealio.IntegrityError, match="authentication failed"):
            gcm.decrypt(NONCE, data, b"a")
        with pytest.raises(sealio.IntegrityError, match="authentication failed"):
            gcm.decrypt_into(NONCE, data, out, b"a")
        assert out == bytes(len(MSG))  # zeroed: no unauthenticated plaintext
    buf = bytearray(200)
    with pytest.raises(ValueError, match="out overlaps plaintext"):
        gcm.encrypt_into(NONCE, memoryview(buf)[:64], memoryview(buf)[8:], b"a")
    assert buf == bytearray(200)


@pytest.mark.parametrize("shape", ["bytes", "bytearray", "memoryview"])
def test_segment_fast_path_agrees_with_fallback(kernel: str, shape: str) -> None:
    """bytes prefix/AAD and int arguments take the native short path; its
    output and every refusal match the checked path (and cryptography's)."""
    seg, prefix = 64, b"prefix7"
    pt = bytes(range(256)) + b"tail"
    ref = bytearray(P.sealed_segments_size(len(pt), seg))
    AesGcm(KEY, kernel="fallback").seal_segments_into(pt, ref, seg, prefix=prefix, first_index=9,
                                                      aad=b"h")
    gcm = _gcm(kernel)
    src = _SHAPES[shape](pt)
    out = bytearray(len(ref) + 4)
    assert gcm.seal_segments_into(src, out, seg, prefix=prefix, first_index=9, aad=b"h",
                                  threads=2) == len(ref)
    assert out[:len(ref)] == ref and out[len(ref):] == bytes(4)
    back = bytearray(len(pt))
    assert gcm.open_segments_into(_SHAPES[shape](bytes(ref)), back, seg, prefix=prefix,
                                  first_index=9, aad=b"h") == len(pt)
    assert bytes(back) == pt
    with pytest.raises(ValueError, match="non-final batch must hold whole segments"):
        gcm.seal_segments_into(src, out, seg, prefix=prefix, final=False)
    with pytest.raises(ValueError, match="too small"):
        gcm.seal_segments_into(src, bytearray(len(ref) - 1), seg, prefix=prefix)
    with pytest.raises(ValueError, match="32 bits"):
        gcm.seal_segments_into(src, out, seg, prefix=prefix, first_index=(1 << 32) - 2)
    with pytest.raises(ValueError, match="prefix must be 7 bytes"):
        gcm.seal_segments_into(src, out, seg, prefix=b"short")
    with pytest.raises(sealio.IntegrityError, match="truncated"):
        gcm.open_segments_into(bytes(ref[:-len(b"tail") - 16 - 1]), back, seg, prefix=prefix,
                               first_index=9, aad=b"h", final=False)
    with pytest.raises(ValueError, match="too small"):
        gcm.open_segments_into(bytes(ref), bytearray(len(pt) - 1), seg, prefix=prefix,
                               first_index=9, aad=b"h")
    bad = bytearray(ref)
    bad[2 * (seg + 16) + 5] ^= 1
    back[:] = b"\xee" * len(back)
    with pytest.raises(sealio.IntegrityError, match="segment 11 failed authentication"):
        gcm.open_segments_into(_SHAPES[shape](bytes(bad)), back, seg, prefix=prefix,
                               first_index=9, aad=b"h", threads=2)
    assert back == bytearray(len(pt))  # zeroed: no unauthenticated plaintext
    with pytest.raises(ValueError, match="overlap"):
        buf = bytearray(1024)
        gcm.seal_segments_into(memoryview(buf)[:300], memoryview(buf)[16:], seg, prefix=prefix)
    with pytest.raises(TypeError):
        gcm.seal_segments_into(src, out, seg, prefix=prefix, threads=True)
