"""Loaders for the vendored Project Wycheproof vectors in ``tests/data``.

The files are read as published (see ``tests/data/NOTICE.wycheproof``) and
turned into small typed records, so the tests never index raw JSON. Every
loader checks that it produced exactly ``numberOfTests`` cases: a truncated
or re-shaped file then fails loudly instead of shrinking a test loop.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"


@functools.lru_cache(maxsize=None)
def load(name: str) -> dict[str, Any]:
    """The parsed JSON of ``tests/data/<name>`` (cached: files are read-only)."""
    with open(DATA_DIR / name, encoding="utf-8") as fh:
        return json.load(fh)


@dataclass(frozen=True)
class AeadCase:
    """One Wycheproof AEAD case (``aead_test_schema_v1``)."""

    tc_id: int
    key: bytes
    iv: bytes
    aad: bytes
    msg: bytes
    ct: bytes
    tag: bytes
    result: str  # "valid", "invalid" or "acceptable"
    flags: tuple[str, ...]
    comment: str
    key_bits: int
    iv_bits: int
    tag_bits: int

    def __str__(self) -> str:  # used in failure reports
        return (f"tcId {self.tc_id} ({self.result}, key {self.key_bits}, iv {self.iv_bits}, "
                f"msg {len(self.msg)} B, aad {len(self.aad)} B, {'/'.join(self.flags)}: "
                f"{self.comment!r})")


@dataclass(frozen=True)
class CbcCase:
    """One Wycheproof IND-CPA cipher case (``ind_cpa_test_schema_v1``)."""

    tc_id: int
    key: bytes
    iv: bytes
    msg: bytes
    ct: bytes
    result: str
    flags: tuple[str, ...]
    comment: str
    key_bits: int

    def __str__(self) -> str:
        return (f"tcId {self.tc_id} ({self.result}, key {self.key_bits}, msg {len(self.msg)} B, "
                f"ct {len(self.ct)} B, {'/'.join(self.flags)}: {self.comment!r})")


def _check_count(doc: dict[str, Any], cases: list[Any], name: str) -> None:
    if len(cases) != doc["numberOfTests"]:
        raise AssertionError(
            f"{name}: parsed {len(cases)} cases, the file declares {doc['numberOfTests']}")
    ids = [c.tc_id for c in cases]
    if len(set(ids)) != len(ids):
        raise AssertionError(f"{name}: duplicate tcId")


@functools.lru_cache(maxsize=None)
def aead_cases(name: str = "aes_gcm_test.json") -> tuple[AeadCase, ...]:
    """Every case of an AEAD vector file, in file order."""
    doc = load(name)
    cases = [
        AeadCase(
            tc_id=t["tcId"], key=bytes.fromhex(t["key"]), iv=bytes.fromhex(t["iv"]),
            aad=bytes.fromhex(t["aad"]), msg=bytes.fromhex(t["msg"]),
            ct=bytes.fromhex(t["ct"]), tag=bytes.fromhex(t["tag"]), result=t["result"],
            flags=tuple(t["flags"]), comment=t["comment"], key_bits=g["keySize"],
            iv_bits=g["ivSize"], tag_bits=g["tagSize"],
        )
        for g in doc["testGroups"] for t in g["tests"]
    ]
    _check_count(doc, cases, name)
    return tuple(cases)


@functools.lru_cache(maxsize=None)
def cbc_cases(name: str = "aes_cbc_pkcs5_test.json") -> tuple[CbcCase, ...]:
    """Every case of an IND-CPA (AES-CBC-PKCS5) vector file, in file order."""
    doc = load(name)
    cases = [
        CbcCase(
            tc_id=t["tcId"], key=bytes.fromhex(t["key"]), iv=bytes.fromhex(t["iv"]),
            msg=bytes.fromhex(t["msg"]), ct=bytes.fromhex(t["ct"]), result=t["result"],
            flags=tuple(t["flags"]), comment=t["comment"], key_bits=g["keySize"],
        )
        for g in doc["testGroups"] for t in g["tests"]
    ]
    _check_count(doc, cases, name)
    return tuple(cases)
