"""Differential tests: every sealio kernel against ``cryptography`` (OpenSSL).

``cryptography`` is the oracle: for random keys (16/24/32 bytes), nonces,
AAD and plaintexts, each kernel (forced one by one through the ``kernel``
fixture) must produce byte-identical output, through every kind of buffer
a caller may hand in: bytes, bytearray, memoryviews at odd offsets, numpy
arrays, and in place. Authentication failures must raise IntegrityError
and leave the output zeroed.

Lengths: every plaintext length 0..300 in a plain loop (each block
boundary and kernel tail path), then hypothesis draws up to 1 MiB. Set
``HYPOTHESIS_PROFILE=thorough`` for ~17x the examples (see conftest.py).
"""

from __future__ import annotations

import random
import re
import struct
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

import sealio
from sealio.primitives import AesCbc, AesGcm, aes_cbc_encrypt_many, sealed_segments_size

KEY_SIZES = (16, 24, 32)
TAG = 16
MiB = 1 << 20
# Lengths around block counts that kernels process at once (8-block AES-NI
# loop, 16/24-block VAES strides, their multiples and tails), +-1 byte.
BOUNDARIES = sorted({k * 16 + d
                     for k in (1, 2, 3, 4, 6, 7, 8, 9, 12, 15, 16, 17, 23, 24, 25, 31, 32,
                               33, 47, 48, 49, 64, 96, 128, 256, 4096)
                     for d in (-1, 0, 1)})


def examples(n: int) -> Any:
    """Hypothesis settings with ``n`` examples in the default profile (60
    examples), scaled with the active profile's ``max_examples``."""
    return settings(max_examples=max(5, n * settings().max_examples // 60))


# --------------------------------------------------------------- reference


def ref_gcm_encrypt(key: bytes, nonce: bytes, pt: bytes, aad: bytes) -> bytes:
    return AESGCM(key).encrypt(nonce, pt, aad)


def ref_cbc_encrypt(key: bytes, iv: bytes, pt: bytes, padding: bool) -> bytes:
    if padding:
        padder = sym_padding.PKCS7(128).padder()
        pt = padder.update(pt) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(pt) + enc.finalize()


def ref_cbc_decrypt_raw(key: bytes, iv: bytes, ct: bytes) -> bytes:
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return dec.update(ct) + dec.finalize()


def ref_stream_nonce(prefix: bytes, index: int, last: bool) -> bytes:
    """The STREAM rule of sealio.h, written out independently of sealio."""
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


# ----------------------------------------------------------------- buffers

IN_KINDS = ("bytes", "bytearray", "unaligned", "numpy", "numpy_unaligned")
OUT_KINDS = ("bytearray", "unaligned", "numpy", "numpy_unaligned")


def make_input(kind: str, data: bytes) -> Any:
    """``data`` as the requested kind of read-only or writable buffer."""
    n = len(data)
    if kind == "bytes":
        return data
    if kind == "bytearray":
        return bytearray(data)
    if kind == "unaligned":
        view = memoryview(bytearray(n + 7))[3 : 3 + n]
        view[:] = data
        return view
    if kind == "numpy":
        return np.frombuffer(data, dtype=np.uint8).copy()
    if kind == "numpy_unaligned":
        arr = np.empty(n + 7, dtype=np.uint8)[3 : 3 + n]
        arr[:] = np.frombuffer(data, dtype=np.uint8)
        return arr
    raise AssertionError(kind)


def make_output(kind: str, n: int, fill: int = 0xA5) -> Any:
    """A writable buffer of exactly ``n`` bytes, pre-filled with ``fill`` so
    that bytes left unwritten (or not zeroed) are visible."""
    return make_input(kind if kind != "bytes" else "bytearray", bytes([fill]) * n)


def content(buf: Any) -> bytes:
    return bytes(memoryview(buf).cast("B"))


def rand_bytes(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n)


def flip_bit(data: bytes, pos: int, bit: int = 0) -> bytes:
    b = bytearray(data)
    b[pos] ^= 1 << bit
    return bytes(b)


# -------------------------------------------------------------- strategies

key_st = st.sampled_from(KEY_SIZES).flatmap(lambda n: st.binary(min_size=n, max_size=n))
nonce_st = st.binary(min_size=12, max_size=12)
iv_st = st.binary(min_size=16, max_size=16)
aad_st = st.one_of(st.just(b""), st.binary(max_size=80), st.binary(min_size=200, max_size=600))
length_st = st.one_of(
    st.integers(0, 600),
    st.sampled_from(BOUNDARIES),
    st.integers(0, 64 * 1024),
    st.integers(64 * 1024, MiB),
    st.just(MiB),
)
seed_st = st.integers(0, 2**32 - 1)


# ===================================================================== GCM


def test_gcm_every_length_0_to_300(kernel: str) -> None:
    """Each length 0..300 with a fresh key (sizes rotating), nonce and AAD:
    one-shot and ``*_into`` (unaligned output) equal cryptography, and the
    ciphertext decrypts back."""
    for n in range(301):
        rng = random.Random(n)
        key = rand_bytes(rng, KEY_SIZES[n % 3])
        nonce = rand_bytes(rng, 12)
        aad = rand_bytes(rng, rng.choice((0, 1, 15, 16, 17, 33, 64)))
        pt = rand_bytes(rng, n)
        want = ref_gcm_encrypt(key, nonce, pt, aad)
        gcm = AesGcm(key, kernel=kernel)
        assert gcm.encrypt(nonce, pt, aad) == want, f"encrypt, length {n}"
        out = make_output("unaligned", n + TAG)
        assert gcm.encrypt_into(nonce, pt, out, aad) == n + TAG
        assert content(out) == want, f"encrypt_into, length {n}"
        assert gcm.decrypt(nonce, want, aad) == pt, f"decrypt, length {n}"
        back = make_output("numpy_unaligned", n)
        assert gcm.decrypt_into(nonce, make_input("unaligned", want), back, aad) == n
        assert content(back) == pt, f"decrypt_into, length {n}"


@examples(80)
@given(key=key_st, nonce=nonce_st, aad=aad_st, n=length_st, seed=seed_st,
       in_kind=st.sampled_from(IN_KINDS), out_kind=st.sampled_from(OUT_KINDS))
def test_gcm_matches_cryptography(kernel: str, key: bytes, nonce: bytes, aad: bytes, n: int,
                                  seed: int, in_kind: str, out_kind: str) -> None:
    """Random key/nonce/AAD/length (to 1 MiB) through every buffer kind."""
    pt = rand_bytes(random.Random(seed), n)
    want = ref_gcm_encrypt(key, nonce, pt, aad)
    gcm = AesGcm(key, kernel=kernel)

    out = make_output(out_kind, n + TAG)
    assert gcm.encrypt_into(nonce, make_input(in_kind, pt), out, make_input(in_kind, aad)) == n + TAG
    assert content(out) == want

    back = make_output(out_kind, n)
    assert gcm.decrypt_into(nonce, make_input(in_kind, want), back, aad) == n
    assert content(back) == pt


@examples(60)
@given(key=key_st, nonce=nonce_st, aad=aad_st,
       n=st.one_of(st.sampled_from(BOUNDARIES), st.integers(0, 70_000)), seed=seed_st,
       offset=st.integers(0, 15))
def test_gcm_in_place(kernel: str, key: bytes, nonce: bytes, aad: bytes, n: int, seed: int,
                      offset: int) -> None:
    """Encrypt then decrypt in one buffer at an arbitrary offset: the output
    pointer equals the input pointer (allowed by sealio.h)."""
    pt = rand_bytes(random.Random(seed), n)
    want = ref_gcm_encrypt(key, nonce, pt, aad)
    gcm = AesGcm(key, kernel=kernel)
    buf = memoryview(bytearray(n + TAG + offset))[offset:]
    buf[:n] = pt
    assert gcm.encrypt_into(nonce, buf[:n], buf, aad) == n + TAG
    assert bytes(buf) == want
    assert gcm.decrypt_into(nonce, buf, buf[:n], aad) == n
    assert bytes(buf[:n]) == pt


TAMPER = ("tag", "ciphertext", "aad", "nonce", "key", "truncate", "extend")


@examples(100)
@given(key=key_st, nonce=nonce_st, aad=aad_st,
       n=st.one_of(st.integers(0, 300), st.integers(0, 40_000)), seed=seed_st,
       what=st.sampled_from(TAMPER), bit=st.integers(0, 7), out_kind=st.sampled_from(OUT_KINDS),
       data=st.data())
def test_gcm_tampering_raises_and_zeroes(kernel: str, key: bytes, nonce: bytes, aad: bytes,
                                         n: int, seed: int, what: str, bit: int, out_kind: str,
                                         data: st.DataObject) -> None:
    """Any change to tag, ciphertext, AAD, nonce or key, or a truncated or
    extended message, raises IntegrityError and zeroes the output."""
    rng = random.Random(seed)
    pt = rand_bytes(rng, n)
    sealed = ref_gcm_encrypt(key, nonce, pt, aad)
    if what == "ciphertext" and n == 0:
        what = "tag"
    if what == "tag":
        sealed = flip_bit(sealed, n + data.draw(st.integers(0, TAG - 1), label="pos"), bit)
    elif what == "ciphertext":
        sealed = flip_bit(sealed, data.draw(st.integers(0, n - 1), label="pos"), bit)
    elif what == "aad":
        aad = flip_bit(aad, data.draw(st.integers(0, len(aad) - 1), label="pos"), bit) if aad else b"\x00"
    elif what == "nonce":
        nonce = flip_bit(nonce, data.draw(st.integers(0, 11), label="pos"), bit)
    elif what == "key":
        key = flip_bit(key, data.draw(st.integers(0, len(key) - 1), label="pos"), bit)
    elif what == "truncate":
        sealed = sealed[:-1]
    elif what == "extend":
        sealed = sealed + b"\x00"
    gcm = AesGcm(key, kernel=kernel)
    out = make_output(out_kind, max(0, len(sealed) - TAG))
    with pytest.raises(sealio.IntegrityError):
        gcm.decrypt_into(nonce, sealed, out, aad)
    assert not any(content(out)), "IntegrityError but the output was not zeroed"
    with pytest.raises(sealio.IntegrityError):
        gcm.decrypt(nonce, sealed, aad)


@pytest.mark.parametrize("what", ["tag", "ciphertext"])
def test_gcm_tampered_in_place_leaves_no_plaintext(kernel: str, what: str) -> None:
    """In-place decryption of a forged message must not leave plaintext (or
    the ciphertext it overwrote) in the buffer: it is zeroed."""
    rng = random.Random(7)
    key, nonce, pt = rand_bytes(rng, 32), rand_bytes(rng, 12), rand_bytes(rng, 5000)
    sealed = ref_gcm_encrypt(key, nonce, pt, b"")
    sealed = flip_bit(sealed, len(pt) + 3 if what == "tag" else 4321)
    buf = bytearray(sealed)
    with pytest.raises(sealio.IntegrityError):
        AesGcm(key, kernel=kernel).decrypt_into(nonce, buf, buf)
    assert not any(buf[: len(pt)])


# ---------------------------------------------------------- segment batch


@st.composite
def segment_batches(draw: st.DrawFn) -> dict[str, Any]:
    """A STREAM batch: segment size, count, final flag, nonce mode."""
    seg = draw(st.one_of(st.integers(1, 300), st.integers(301, 20_000),
                         st.sampled_from([16, 4096, 65536])), label="segment_size")
    k = draw(st.integers(1, 24), label="segments")
    k = min(k, max(1, MiB // seg))
    final = draw(st.booleans(), label="final")
    if final:
        last = draw(st.integers(0 if k == 1 else 1, seg), label="last_len")
        plain_len = (k - 1) * seg + last
    else:
        plain_len = k * seg
    mode = draw(st.sampled_from(["prefix", "nonces"]), label="mode")
    spec: dict[str, Any] = {
        "segment_size": seg, "count": k, "final": final, "plain_len": plain_len,
        "aad": draw(st.one_of(st.just(b""), st.binary(max_size=40)), label="aad"),
        "threads": draw(st.sampled_from([0, 1, 2, 2, 4]), label="threads"),
        "mode": mode,
    }
    if mode == "prefix":
        spec["prefix"] = draw(st.binary(min_size=7, max_size=7), label="prefix")
        spec["first_index"] = draw(st.one_of(st.just(0), st.integers(0, 2**32 - k),
                                             st.just(2**32 - k)), label="first_index")
    else:
        spec["nonces"] = draw(st.binary(min_size=12 * k, max_size=12 * k), label="nonces")
        spec["first_index"] = 0
    return spec


def ref_seal_segments(key: bytes, pt: bytes, spec: dict[str, Any]) -> list[bytes]:
    """One cryptography AESGCM call per segment, nonces by the STREAM rule."""
    aead = AESGCM(key)
    seg, k = spec["segment_size"], spec["count"]
    sealed = []
    for i in range(k):
        if spec["mode"] == "nonces":
            nonce = spec["nonces"][12 * i : 12 * i + 12]
        else:
            nonce = ref_stream_nonce(spec["prefix"], spec["first_index"] + i,
                                     spec["final"] and i == k - 1)
        sealed.append(aead.encrypt(nonce, pt[i * seg : (i + 1) * seg], spec["aad"]))
    return sealed


def seg_kwargs(spec: dict[str, Any], **over: Any) -> dict[str, Any]:
    kw: dict[str, Any] = {"final": spec["final"], "aad": spec["aad"], "threads": spec["threads"]}
    if spec["mode"] == "nonces":
        kw["nonces"] = spec["nonces"]
    else:
        kw["prefix"] = spec["prefix"]
        kw["first_index"] = spec["first_index"]
    kw.update(over)
    return kw


@examples(80)
@given(key=key_st, spec=segment_batches(), seed=seed_st, out_kind=st.sampled_from(OUT_KINDS),
       data=st.data())
def test_segments_match_cryptography(kernel: str, key: bytes, spec: dict[str, Any], seed: int,
                                     out_kind: str, data: st.DataObject) -> None:
    """seal_segments_into equals a loop of cryptography AESGCM with the
    STREAM nonce rule; open_segments_into inverts it; a flipped bit in one
    segment raises IntegrityError naming that segment and zeroes the output."""
    seg, k = spec["segment_size"], spec["count"]
    pt = rand_bytes(random.Random(seed), spec["plain_len"])
    parts = ref_seal_segments(key, pt, spec)
    assert len(parts) == k
    want = b"".join(parts)
    assert sealed_segments_size(len(pt), seg) == len(want)
    gcm = AesGcm(key, kernel=kernel)

    out = make_output(out_kind, len(want))
    assert gcm.seal_segments_into(pt, out, seg, **seg_kwargs(spec)) == len(want)
    assert content(out) == want

    back = make_output(out_kind, len(pt))
    assert gcm.open_segments_into(make_input("unaligned", want), back, seg, **seg_kwargs(spec)) == len(pt)
    assert content(back) == pt

    # Tamper one segment: the error names its stream index, nothing is released.
    j = data.draw(st.integers(0, k - 1), label="tampered_segment")
    start = sum(len(p) for p in parts[:j])
    pos = start + data.draw(st.integers(0, len(parts[j]) - 1), label="pos")
    bad = flip_bit(want, pos, data.draw(st.integers(0, 7), label="bit"))
    back = make_output(out_kind, len(pt))
    with pytest.raises(sealio.IntegrityError, match=rf"\bsegment {spec['first_index'] + j}\b"):
        gcm.open_segments_into(bad, back, seg, **seg_kwargs(spec))
    assert not any(content(back)), "IntegrityError but the output was not zeroed"


@examples(40)
@given(key=key_st, spec=segment_batches().filter(lambda s: s["mode"] == "prefix"), seed=seed_st)
def test_segments_last_flag_and_index_are_authenticated(kernel: str, key: bytes,
                                                        spec: dict[str, Any], seed: int) -> None:
    """The last flag and the segment index are part of the nonce: opening a
    batch with the other ``final`` or a shifted ``first_index`` fails."""
    seg = spec["segment_size"]
    pt = rand_bytes(random.Random(seed), spec["plain_len"])
    gcm = AesGcm(key, kernel=kernel)
    sealed = bytearray(sealed_segments_size(len(pt), seg))
    gcm.seal_segments_into(pt, sealed, seg, **seg_kwargs(spec))
    back = bytearray(len(pt))
    with pytest.raises(sealio.IntegrityError):
        gcm.open_segments_into(sealed, back, seg, **seg_kwargs(spec, final=not spec["final"]))
    shifted = (spec["first_index"] + 1) % (2**32 - spec["count"] + 1)
    with pytest.raises(sealio.IntegrityError):
        gcm.open_segments_into(sealed, back, seg, **seg_kwargs(spec, first_index=shifted))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("final", [True, False])
def test_segments_many_segments_threads(kernel: str, threads: int, final: bool) -> None:
    """A batch large enough that two threads really split it (300 segments
    of 4 KiB plus a short tail), against the cryptography loop; then a
    reordering of two segments is caught at the first moved one."""
    rng = random.Random(threads * 2 + final)
    key, prefix = rand_bytes(rng, 32), rand_bytes(rng, 7)
    seg, k = 4096, 300
    plain_len = (k - 1) * seg + (123 if final else seg)
    spec = {"segment_size": seg, "count": k, "final": final, "plain_len": plain_len,
            "aad": b"hdr", "threads": threads, "mode": "prefix", "prefix": prefix,
            "first_index": 1000}
    pt = rand_bytes(rng, plain_len)
    parts = ref_seal_segments(key, pt, spec)
    gcm = AesGcm(key, kernel=kernel)
    out = bytearray(sealed_segments_size(plain_len, seg))
    assert gcm.seal_segments_into(pt, out, seg, **seg_kwargs(spec)) == len(out)
    assert bytes(out) == b"".join(parts)
    back = np.empty(plain_len, dtype=np.uint8)
    assert gcm.open_segments_into(out, back, seg, **seg_kwargs(spec)) == plain_len
    assert back.tobytes() == pt

    swapped = parts[:]
    swapped[150], swapped[151] = swapped[151], swapped[150]
    back[:] = 0xA5
    with pytest.raises(sealio.IntegrityError, match=r"\bsegment 1150\b"):
        gcm.open_segments_into(b"".join(swapped), back, seg, **seg_kwargs(spec))
    assert not back.any()


# ===================================================================== CBC


def test_cbc_every_length_0_to_300(kernel: str) -> None:
    """Each length 0..300, padded, and the whole-block ones unpadded."""
    for n in range(301):
        rng = random.Random(n)
        key, iv, pt = rand_bytes(rng, KEY_SIZES[n % 3]), rand_bytes(rng, 16), rand_bytes(rng, n)
        cbc = AesCbc(key, kernel=kernel)
        for padding in (True, False) if n % 16 == 0 else (True,):
            want = ref_cbc_encrypt(key, iv, pt, padding)
            assert cbc.encrypt(iv, pt, padding) == want, f"encrypt, length {n}, padding {padding}"
            out = make_output("unaligned", len(want))
            assert cbc.encrypt_into(iv, pt, out, padding) == len(want)
            assert content(out) == want
            assert cbc.decrypt(iv, want, padding) == pt, f"decrypt, length {n}, padding {padding}"
            back = make_output("numpy_unaligned", len(want))
            assert cbc.decrypt_into(iv, make_input("unaligned", want), back, padding) == n
            assert content(back)[:n] == pt


@examples(80)
@given(key=key_st, iv=iv_st, n=length_st, padding=st.booleans(), seed=seed_st,
       in_kind=st.sampled_from(IN_KINDS), out_kind=st.sampled_from(OUT_KINDS))
def test_cbc_matches_cryptography(kernel: str, key: bytes, iv: bytes, n: int, padding: bool,
                                  seed: int, in_kind: str, out_kind: str) -> None:
    """Random key/IV/length (to 1 MiB), padding on and off, every buffer kind.
    Unpadded decryption of a padded ciphertext returns the padded block."""
    if not padding:
        n -= n % 16
    pt = rand_bytes(random.Random(seed), n)
    want = ref_cbc_encrypt(key, iv, pt, padding)
    cbc = AesCbc(key, kernel=kernel)

    out = make_output(out_kind, len(want))
    assert cbc.encrypt_into(iv, make_input(in_kind, pt), out, padding) == len(want)
    assert content(out) == want

    back = make_output(out_kind, len(want))
    assert cbc.decrypt_into(iv, make_input(in_kind, want), back, padding) == n
    assert content(back)[:n] == pt
    if padding:
        raw = make_output(out_kind, len(want))
        assert cbc.decrypt_into(iv, want, raw, padding=False) == len(want)
        assert content(raw) == ref_cbc_decrypt_raw(key, iv, want)


@examples(60)
@given(key=key_st, iv=iv_st, n=st.one_of(st.sampled_from(BOUNDARIES), st.integers(0, 70_000)),
       padding=st.booleans(), seed=seed_st, offset=st.integers(0, 15))
def test_cbc_in_place(kernel: str, key: bytes, iv: bytes, n: int, padding: bool, seed: int,
                      offset: int) -> None:
    """Encrypt and decrypt with the output pointer equal to the input's."""
    if not padding:
        n -= n % 16
    pt = rand_bytes(random.Random(seed), n)
    want = ref_cbc_encrypt(key, iv, pt, padding)
    cbc = AesCbc(key, kernel=kernel)
    buf = memoryview(bytearray(len(want) + offset))[offset:]
    buf[:n] = pt
    assert cbc.encrypt_into(iv, buf[:n], buf, padding) == len(want)
    assert bytes(buf) == want
    assert cbc.decrypt_into(iv, buf, buf, padding) == n
    assert bytes(buf[:n]) == pt


@st.composite
def bad_padding_blocks(draw: st.DrawFn) -> bytes:
    """A final plaintext block whose PKCS#7 padding is wrong in one of the
    ways a constant-time check must catch."""
    block = bytearray(draw(st.binary(min_size=16, max_size=16)))
    how = draw(st.sampled_from(["zero", "too_long", "mismatch"]))
    if how == "zero":
        block[15] = 0
    elif how == "too_long":
        block[15] = draw(st.integers(17, 255))
    else:
        p = draw(st.integers(2, 16))
        block[16 - p :] = bytes([p]) * p
        i = draw(st.integers(16 - p, 14))
        block[i] = draw(st.integers(0, 255).filter(lambda v: v != p))
    return bytes(block)


@examples(100)
@given(key=key_st, iv=iv_st, prefix_blocks=st.integers(0, 40), last=bad_padding_blocks(),
       seed=seed_st, out_kind=st.sampled_from(OUT_KINDS))
def test_cbc_bad_padding_raises_and_zeroes(kernel: str, key: bytes, iv: bytes, prefix_blocks: int,
                                           last: bytes, seed: int, out_kind: str) -> None:
    """Ciphertexts whose decryption ends in invalid PKCS#7 padding raise
    IntegrityError (as cryptography's unpadder does) and zero the output."""
    raw = rand_bytes(random.Random(seed), 16 * prefix_blocks) + last
    unpadder = sym_padding.PKCS7(128).unpadder()
    with pytest.raises(ValueError):  # the oracle agrees the padding is bad
        unpadder.update(raw) + unpadder.finalize()
    ct = ref_cbc_encrypt(key, iv, raw, padding=False)
    out = make_output(out_kind, len(ct))
    with pytest.raises(sealio.IntegrityError):
        AesCbc(key, kernel=kernel).decrypt_into(iv, ct, out)
    assert not any(content(out)), "IntegrityError but the output was not zeroed"


@st.composite
def cbc_jobs(draw: st.DrawFn) -> tuple[list[tuple[bytes, bytes, bytes]], bool]:
    """1..40 independent chains with mixed key sizes and lengths 0..5000."""
    padding = draw(st.booleans(), label="padding")
    count = draw(st.integers(1, 40), label="jobs")
    seed = draw(seed_st, label="seed")
    rng = random.Random(seed)
    jobs = []
    for _ in range(count):
        n = draw(st.one_of(st.integers(0, 64), st.integers(0, 5000)))
        if not padding:
            n -= n % 16
        jobs.append((rand_bytes(rng, rng.choice(KEY_SIZES)), rand_bytes(rng, 16), rand_bytes(rng, n)))
    return jobs, padding


@examples(60)
@given(batch=cbc_jobs(), shared=st.booleans(), in_kind=st.sampled_from(IN_KINDS))
def test_cbc_encrypt_many_matches_per_chain(kernel: str, batch: tuple[list[tuple[bytes, bytes, bytes]], bool],
                                            shared: bool, in_kind: str) -> None:
    """Multi-buffer CBC: each chain's output equals cryptography on that
    chain alone, whatever the mix of lengths and keys (raw keys, or
    pre-built AesCbc objects, one shared by several chains)."""
    jobs, padding = batch
    if shared:  # every other job reuses the first job's key object
        first = AesCbc(jobs[0][0], kernel=kernel)
        jobs = [(jobs[0][0] if i % 2 == 0 else k, iv, pt) for i, (k, iv, pt) in enumerate(jobs)]
        keyed: list[tuple[Any, Any, Any]] = [
            (first if k == jobs[0][0] else AesCbc(k, kernel=kernel), iv, make_input(in_kind, pt))
            for k, iv, pt in jobs]
    else:
        keyed = [(k, iv, make_input(in_kind, pt)) for k, iv, pt in jobs]
    got = aes_cbc_encrypt_many(keyed, padding, kernel=kernel)
    assert len(got) == len(jobs)
    for i, ((k, iv, pt), ct) in enumerate(zip(jobs, got, strict=True)):
        assert ct == ref_cbc_encrypt(k, iv, pt, padding), f"job {i} of {len(jobs)} ({len(pt)} B)"


@pytest.mark.parametrize("jobs", [1, 2, 7, 8, 9, 16, 40])
def test_cbc_encrypt_many_equal_lengths(kernel: str, jobs: int) -> None:
    """Lane counts around the interleave widths, equal 4 KiB chains (the
    benchmark's shape) and one empty chain among them."""
    rng = random.Random(jobs)
    batch = [(rand_bytes(rng, 16 << (i % 2)), rand_bytes(rng, 16), rand_bytes(rng, 0 if i == 3 else 4096))
             for i in range(jobs)]
    got = aes_cbc_encrypt_many([(AesCbc(k, kernel=kernel), iv, pt) for k, iv, pt in batch])
    assert got == [ref_cbc_encrypt(k, iv, pt, True) for k, iv, pt in batch]


# ============================================================ concurrency


def _hammer(n_threads: int, work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_shared_objects_across_threads(kernel: str) -> None:
    """One AesGcm and one AesCbc used from four threads at once (the native
    kernels run without the GIL): every result is still exact."""
    rng = random.Random(99)
    key = rand_bytes(rng, 32)
    gcm, cbc = AesGcm(key, kernel=kernel), AesCbc(key, kernel=kernel)
    msgs = [[rand_bytes(rng, rng.randrange(0, 100_000)) for _ in range(12)] for _ in range(4)]

    def work(t: int) -> None:
        for i, pt in enumerate(msgs[t]):
            nonce = struct.pack(">II", t, i) + b"nonc"
            want = ref_gcm_encrypt(key, nonce, pt, b"")
            assert gcm.encrypt(nonce, pt) == want
            assert gcm.decrypt(nonce, want) == pt
            assert cbc.encrypt(nonce + b"\x00" * 4, pt) == ref_cbc_encrypt(key, nonce + b"\x00" * 4, pt, True)

    _hammer(4, work)


def test_error_messages_carry_no_secrets(kernel: str) -> None:
    """IntegrityError text names no key, nonce or plaintext bytes."""
    key, nonce, pt = bytes(range(32)), bytes(range(100, 112)), b"SECRET-PLAINTEXT" * 4
    sealed = flip_bit(ref_gcm_encrypt(key, nonce, pt, b""), len(pt))
    with pytest.raises(sealio.IntegrityError) as info:
        AesGcm(key, kernel=kernel).decrypt(nonce, sealed)
    text = str(info.value) + repr(info.value)
    for secret in (key, nonce, pt):
        assert secret.hex() not in text and repr(secret)[2:-1][:20] not in text
    assert not re.search(r"SECRET", text)
