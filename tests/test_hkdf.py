"""The format's HKDF-SHA256 (standard-library HMAC, ``format.header``)
against Wycheproof's vectors (vendored in tests/data) and against
``cryptography``'s HKDF on random inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from sealio.format.header import hkdf_sha256

VECTORS = json.loads((Path(__file__).parent / "data" / "hkdf_sha256_test.json").read_text())
CASES = [t for g in VECTORS["testGroups"] for t in g["tests"]]


def test_every_vector_is_used() -> None:
    assert len(CASES) == VECTORS["numberOfTests"] == 86


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"tc{c['tcId']}")
def test_wycheproof(case: dict) -> None:
    ikm, salt, info = (bytes.fromhex(case[k]) for k in ("ikm", "salt", "info"))
    if case["result"] == "invalid":
        with pytest.raises(ValueError):
            hkdf_sha256(ikm, salt, info, case["size"])
    else:
        assert hkdf_sha256(ikm, salt, info, case["size"]).hex() == case["okm"]


@settings(max_examples=200, deadline=None)
@given(ikm=st.binary(max_size=80), salt=st.binary(max_size=80), info=st.binary(max_size=300),
       length=st.integers(1, 700))
def test_agrees_with_cryptography(ikm: bytes, salt: bytes, info: bytes, length: int) -> None:
    want = HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)
    assert hkdf_sha256(ikm, salt, info, length) == want


@pytest.mark.parametrize("length", [0, -1, 255 * 32 + 1])
def test_refuses_lengths_outside_rfc5869(length: int) -> None:
    with pytest.raises(ValueError):
        hkdf_sha256(b"k", b"s", b"i", length)
