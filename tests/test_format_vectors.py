"""The FORMAT.md test vectors and differential tests against the pure-Python
reference (tests/sealref.py): sealio and the reference must agree byte for
byte when given the same randomness, and each must read what the other
wrote."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sealio
import sealref
from sealio.format import header as H
from sealio.keys import KeyManager

VECTOR_DIR = Path(__file__).resolve().parent / "data" / "format"
VECTORS = sorted(VECTOR_DIR.glob("*.json"))
# SHA-256 over the 28 format-1.0 vector files (01-39) as committed before 1.1 existed
V10_DIGEST = "e839fa627bda7f1fc782b9bb89309db31d104fcb24bcc79c38dd8d2f9822f242"

# the sealio exception each reference error kind must map to
KIND_TO_ERROR: dict[str, type[Exception]] = {
    "not_sealed": sealio.NotSealedError,
    "unsupported": sealio.UnsupportedFormatError,
    "format": sealio.FormatError,
    "header": sealio.IntegrityError,
    "payload": sealio.IntegrityError,
}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


class TableKms:
    """Resolves wrapped KEKs by table lookup, as FORMAT.md section 11 says."""

    def __init__(self) -> None:
        self.table: dict[tuple[str, str], bytes] = {}

    def add(self, master_key_id: str, wrapped: str, kek: bytes) -> None:
        self.table[(master_key_id, wrapped)] = kek

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        raise AssertionError("readers never wrap")

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        try:
            return self.table[(master_key_identifier, wrapped_key)]
        except KeyError:
            raise sealio.IntegrityError("unknown wrapped key") from None


class ScriptedKeyManager(KeyManager):
    """A KeyManager whose randomness is a fixed script (for byte-exact output)."""

    def __init__(self, kms: Any, script: list[bytes]) -> None:
        super().__init__(kms)
        self.script = list(script)

    def _random(self, n: int) -> bytes:
        value = self.script.pop(0)
        assert len(value) == n, f"randomness requested in an unexpected order ({n} vs {len(value)})"
        return value


def script_for(inp: sealref.FileInputs) -> list[bytes]:
    """KEK, KEK id, DEK, DEK nonce, salt, prefix: the order of KeyManager.seal_header."""
    return [inp.kek, inp.kek_id, inp.dek, inp.dek_nonce, inp.salt, inp.nonce_prefix]


def inputs_of(v: dict[str, Any]) -> sealref.FileInputs:
    i = v["inputs"]
    return sealref.FileInputs(
        dek=bytes.fromhex(i["dek"]), kek=bytes.fromhex(i["kek"]), kek_id=bytes.fromhex(i["kek_id"]),
        salt=bytes.fromhex(i["salt"]), nonce_prefix=bytes.fromhex(i["nonce_prefix"]),
        dek_nonce=bytes.fromhex(i["dek_nonce"]), master_key_id=i["master_key_id"],
        segment_log2=i["segment_log2"], aad=bytes.fromhex(i["aad"]),
        minor=i.get("minor_version", 0))


def sealio_write(pt: bytes, inp: sealref.FileInputs) -> bytes:
    keys = ScriptedKeyManager(sealref.DeterministicKms(), script_for(inp))
    out = io.BytesIO()
    with sealio.open(out, "wb", keys=keys, master_key=inp.master_key_id, aad=inp.aad,
                     segment_size=1 << inp.segment_log2) as w:
        w.write(pt)
    assert not keys.script, "sealio drew more or less randomness than the format needs"
    return out.getvalue()


def sealio_read(data: bytes, kms: Any, aad: bytes, require_commitment: bool = False) -> bytes:
    with sealio.open(io.BytesIO(data), "rb", keys=KeyManager(kms), aad=aad,
                     require_commitment=require_commitment) as r:
        return r.read()


def test_vector_set_is_complete() -> None:
    names = [p.stem for p in VECTORS]
    assert len(names) == 45, names
    kinds = {load(p)["expect"].get("kind") for p in VECTORS}
    assert kinds == {None, "not_sealed", "unsupported", "format", "header", "payload"}
    minors = {load(p)["inputs"].get("minor_version", 0) for p in VECTORS}
    assert minors == {0, 1}  # 01-39 are format 1.0, 41-69 mostly 1.1 (65 and 69 alter a 1.0 file)


def test_version_1_0_vectors_are_unchanged() -> None:
    """The 1.0 vectors predate 1.1 and must stay byte-identical (old files
    keep reading): pinned by the SHA-256 of their concatenation."""
    import hashlib

    v10 = [p for p in VECTORS if int(p.stem[:2]) < 40]
    assert len(v10) == 28
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in v10)).hexdigest()
    assert digest == V10_DIGEST


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_reference_agrees_with_vector(path: Path) -> None:
    sealref.check_vector(load(path))


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_sealio_reads_vector(path: Path) -> None:
    v = load(path)
    kms = TableKms()
    kms.add(v["inputs"]["master_key_id"], v["inputs"]["wrapped_kek"], bytes.fromhex(v["inputs"]["kek"]))
    data, aad = bytes.fromhex(v["file"]), bytes.fromhex(v["read_aad"])
    strict = v.get("read_options", {}).get("require_commitment", False)
    if v["expect"]["result"] == "ok":
        assert sealio_read(data, kms, aad, strict) == bytes.fromhex(v["plaintext"])
    else:
        with pytest.raises(KIND_TO_ERROR[v["expect"]["kind"]]) as err:
            sealio_read(data, kms, aad, strict)
        if v["expect"]["kind"] in ("header", "payload", "format"):
            assert not isinstance(err.value, sealio.NotSealedError)


@pytest.mark.parametrize("path", [p for p in VECTORS if load(p)["expect"]["result"] == "ok"
                                  and load(p)["inputs"].get("minor_version") == 1],
                         ids=lambda p: p.stem)
def test_sealio_writes_vector_byte_for_byte(path: Path) -> None:
    """sealio writes format 1.1: its output is the 1.1 vectors byte for byte."""
    v = load(path)
    inp = inputs_of(v)
    assert sealref.DeterministicKms().wrap_key(inp.kek, inp.master_key_id) == v["inputs"]["wrapped_kek"]
    assert sealio_write(bytes.fromhex(v["plaintext"]), inp) == bytes.fromhex(v["file"])


def test_format_md_prints_vector_01() -> None:
    """The hex printed in FORMAT.md is the vector file, not a stale copy."""
    import hashlib

    doc = (Path(__file__).resolve().parents[1] / "docs" / "FORMAT.md").read_text(encoding="utf-8")
    for name in ("01-empty", "02-one-byte", "04-segment-plus-one", "41-v11-empty"):
        digest = hashlib.sha256(bytes.fromhex(load(VECTOR_DIR / f"{name}.json")["file"])).hexdigest()
        assert digest in doc, name
    for name in ("01-empty", "41-v11-empty"):
        data = bytes.fromhex(load(VECTOR_DIR / f"{name}.json")["file"])
        for off in range(0, 1024, 32):
            if any(data[off:off + 32]):
                assert f"{off:04x}: {data[off:off + 32].hex()}" in doc, (name, off)


def _random_inputs(draw: Any) -> sealref.FileInputs:
    b = lambda n: draw(st.binary(min_size=n, max_size=n))  # noqa: E731
    return sealref.FileInputs(
        dek=b(32), kek=b(32), kek_id=b(16), salt=b(32), nonce_prefix=b(7), dek_nonce=b(12),
        master_key_id=draw(st.text(min_size=0, max_size=40).filter(lambda s: len(s.encode()) <= 160)),
        segment_log2=draw(st.integers(12, 14)), aad=draw(st.binary(max_size=64)))


@st.composite
def cases(draw: Any) -> tuple[sealref.FileInputs, bytes]:
    inp = _random_inputs(draw)
    seg = 1 << inp.segment_log2
    n = draw(st.one_of(st.integers(0, 3 * seg + 3),
                       st.sampled_from([0, 1, seg - 1, seg, seg + 1, 2 * seg, 2 * seg + 1])))
    return inp, bytes(draw(st.binary(min_size=min(n, 64), max_size=min(n, 64))) * (n // 64 + 1))[:n]


@given(cases())
@settings(max_examples=40)
def test_random_inputs_byte_identical_and_cross_readable(case: tuple[sealref.FileInputs, bytes]) -> None:
    inp, pt = case
    kms = sealref.DeterministicKms()
    ref = sealref.seal(pt, inp, kms)
    assert sealio_write(pt, inp) == ref
    assert sealio_read(ref, kms, inp.aad) == pt
    assert len(ref) == H.sealed_size(len(pt), 1 << inp.segment_log2)


@given(st.binary(max_size=20000), st.binary(max_size=40), st.sampled_from([4096, 8192, 65536]))
@settings(max_examples=25)
def test_reference_reads_sealio_random_files(pt: bytes, aad: bytes, seg: int) -> None:
    """With real randomness and the C core: the reference reads sealio's output."""
    kms = sealref.DeterministicKms()
    out = io.BytesIO()
    with sealio.open(out, "wb", keys=kms, master_key="m", aad=aad, segment_size=seg) as w:
        w.write(pt)
    assert sealref.unseal(out.getvalue(), kms, aad) == pt


@pytest.mark.parametrize("name", ["07-unicode-key-id", "45-v11-unicode-key-id"])
def test_header_fields_roundtrip_through_parse(name: str) -> None:
    v = load(VECTOR_DIR / f"{name}.json")
    h = H.parse(bytes.fromhex(v["file"]))
    assert h.master_key_id == "clé-maître/v1"
    assert h.minor_version == v["inputs"].get("minor_version", 0)
    assert h.pack() == bytes.fromhex(v["file"])[:1024]
    assert h.replace(raw_body=None).pack() == h.pack()


def test_production_header_code_still_writes_1_0_bytes() -> None:
    """The 1.0 layout is not written by sealio any more, but _header can still
    pack and derive it exactly (the reader's derivation is the writer's)."""
    v = load(VECTOR_DIR / "05-aad-multi.json")
    data = bytes.fromhex(v["file"])
    h = H.parse(data).replace(raw_body=None)
    assert h.minor_version == 0 and not h.commitment
    keys = H.derive_keys(bytes.fromhex(v["inputs"]["dek"]), h, bytes.fromhex(v["inputs"]["aad"]))
    assert keys.commitment is None
    assert H.compute_mac(keys.k_hdr, h.body()) == data[992:1024]
