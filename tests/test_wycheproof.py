"""Project Wycheproof vectors (AES-GCM, AES-CBC-PKCS5) on every kernel.

Each test walks the whole file, collects every mismatch with its tcId and
fails once with the full list, and asserts how many cases it ran: the
published counts are fixed, so an empty or truncated loop cannot pass.
"""

from __future__ import annotations

import collections

import pytest

import sealio
from sealio import primitives as P
from sealio.primitives import AesCbc, AesGcm
from _vectors import AeadCase, CbcCase, aead_cases, cbc_cases

# Published shape of the vendored files (C2SP/wycheproof testvectors_v1).
GCM_TOTAL = 316
GCM_SUPPORTED = {"valid": 116, "invalid": 81}  # 96-bit IV, 128-bit tag
GCM_OTHER_IV = 119
CBC_TOTAL = {"valid": 72, "invalid": 144}


def _supported(c: AeadCase) -> bool:
    return c.iv_bits == 96 and c.tag_bits == 128


def _gcm_case(gcm: AesGcm, c: AeadCase) -> str | None:
    """Check one 96-bit-IV case; return a description of what went wrong."""
    expected = c.ct + c.tag
    if c.result == "valid":
        got = gcm.encrypt(c.iv, c.msg, c.aad)
        if got != expected:
            return f"encrypt: got {got.hex()}, want {expected.hex()}"
        try:
            pt = gcm.decrypt(c.iv, expected, c.aad)
        except sealio.IntegrityError:
            return "decrypt rejected a valid ciphertext"
        if pt != c.msg:
            return f"decrypt: got {pt.hex()}, want {c.msg.hex()}"
        # Same case through the in-place door: ciphertext overwritten by plaintext.
        buf = bytearray(expected)
        n = gcm.decrypt_into(c.iv, buf, buf, c.aad)
        if n != len(c.msg) or bytes(buf[:n]) != c.msg:
            return "in-place decrypt_into gave a different plaintext"
        return None
    if c.result == "invalid":
        out = bytearray(b"\xa5" * len(c.ct))
        try:
            gcm.decrypt_into(c.iv, expected, out, c.aad)
        except sealio.IntegrityError:
            if any(out):
                return "IntegrityError raised but the output was not zeroed"
        else:
            return "decrypt accepted an invalid ciphertext"
        # An honest encryption of msg can never be the rejected ct||tag.
        if gcm.encrypt(c.iv, c.msg, c.aad) == expected:
            return "encrypt produced the ciphertext that decrypt must reject"
        return None
    return f"unexpected result kind {c.result!r}"


def test_gcm_vector_file_shape() -> None:
    """The file holds all three key sizes and the IV sizes the tests split on."""
    cases = aead_cases()
    assert len(cases) == GCM_TOTAL
    assert {c.key_bits for c in cases if _supported(c)} == {128, 192, 256}
    assert {c.tag_bits for c in cases} == {128}
    assert {c.iv_bits for c in cases if not _supported(c)} >= {0, 8, 64, 128, 1024}


def test_gcm_wycheproof(kernel: str) -> None:
    """Every 96-bit-IV / 128-bit-tag case: exact ct||tag and plaintext when
    valid, IntegrityError (output zeroed) when invalid, for 16/24/32-byte keys."""
    ran: collections.Counter[str] = collections.Counter()
    failures = []
    keys: dict[bytes, AesGcm] = {}
    for c in aead_cases():
        if not _supported(c):
            continue
        gcm = keys.get(c.key) or keys.setdefault(c.key, AesGcm(c.key, kernel=kernel))
        assert gcm.kernel == kernel
        why = _gcm_case(gcm, c)
        if why:
            failures.append(f"{c}: {why}")
        ran[c.result] += 1
    assert not failures, f"{len(failures)} Wycheproof AES-GCM failures on {kernel}:\n" + "\n".join(failures)
    assert dict(ran) == GCM_SUPPORTED


def test_gcm_wycheproof_one_shot_functions() -> None:
    """The module-level functions (default kernel) agree with the vectors too."""
    ran = 0
    for c in aead_cases():
        if not (_supported(c) and c.result == "valid"):
            continue
        assert P.aes_gcm_encrypt(c.key, c.iv, c.msg, c.aad) == c.ct + c.tag, str(c)
        assert P.aes_gcm_decrypt(c.key, c.iv, c.ct + c.tag, c.aad) == c.msg, str(c)
        ran += 1
    assert ran == GCM_SUPPORTED["valid"]


def test_gcm_wycheproof_other_iv_sizes_refused(kernel: str) -> None:
    """Only 12-byte nonces are accepted: every other IV size (0, 1, 2, 4, 6,
    8, 10, 15, 16, 20, 32, 64, 128, 257 bytes) is a ValueError, never a
    silently different GHASH-derived counter."""
    ran = 0
    for c in aead_cases():
        if _supported(c):
            continue
        gcm = AesGcm(c.key, kernel=kernel)
        with pytest.raises(ValueError):
            gcm.encrypt(c.iv, c.msg, c.aad)
        with pytest.raises(ValueError):
            gcm.decrypt(c.iv, c.ct + c.tag, c.aad)
        with pytest.raises(ValueError):
            gcm.decrypt_into(c.iv, c.ct + c.tag, bytearray(len(c.ct)), c.aad)
        ran += 1
    assert ran == GCM_OTHER_IV


def _cbc_case(cbc: AesCbc, c: CbcCase) -> str | None:
    if c.result == "valid":
        got = cbc.encrypt(c.iv, c.msg)
        if got != c.ct:
            return f"encrypt: got {got.hex()}, want {c.ct.hex()}"
        try:
            pt = cbc.decrypt(c.iv, c.ct)
        except sealio.IntegrityError:
            return "decrypt rejected valid padding"
        if pt != c.msg:
            return f"decrypt: got {pt.hex()}, want {c.msg.hex()}"
        return None
    if c.result == "invalid":
        out = bytearray(b"\xa5" * max(len(c.ct), 16))
        try:
            cbc.decrypt_into(c.iv, c.ct, out)
        except sealio.IntegrityError:
            if any(out[: len(c.ct)]):
                return "IntegrityError raised but the output was not zeroed"
            return None
        return "decrypt accepted invalid padding"
    return f"unexpected result kind {c.result!r}"


def test_cbc_wycheproof(kernel: str) -> None:
    """Every AES-CBC-PKCS5 case: exact ciphertext and plaintext when valid,
    IntegrityError (output zeroed) on bad padding."""
    ran: collections.Counter[str] = collections.Counter()
    keys: collections.Counter[int] = collections.Counter()
    failures = []
    for c in cbc_cases():
        cbc = AesCbc(c.key, kernel=kernel)
        assert cbc.kernel == kernel
        why = _cbc_case(cbc, c)
        if why:
            failures.append(f"{c}: {why}")
        ran[c.result] += 1
        keys[c.key_bits] += 1
    assert not failures, f"{len(failures)} Wycheproof AES-CBC failures on {kernel}:\n" + "\n".join(failures)
    assert dict(ran) == CBC_TOTAL
    assert set(keys) == {128, 192, 256}


def test_cbc_wycheproof_multibuffer(kernel: str) -> None:
    """All valid CBC vectors as one multi-buffer batch: each chain keeps its
    own key (all three sizes mixed) and IV."""
    valid = [c for c in cbc_cases() if c.result == "valid"]
    assert len(valid) == CBC_TOTAL["valid"]
    jobs = [(AesCbc(c.key, kernel=kernel), c.iv, c.msg) for c in valid]
    got = P.aes_cbc_encrypt_many(jobs)
    bad = [str(c) for c, ct in zip(valid, got, strict=True) if ct != c.ct]
    assert not bad, "multi-buffer CBC mismatches:\n" + "\n".join(bad)
