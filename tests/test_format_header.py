"""Header layout, strict parsing, key derivation and the size arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sealio
import sealref
from sealio.format import header as H

VECTOR = json.loads((Path(__file__).resolve().parent / "data" / "format" / "05-aad-multi.json")
                    .read_text(encoding="utf-8"))
FILE = bytes.fromhex(VECTOR["file"])
HDR = FILE[:H.HEADER_SIZE]  # format 1.0
HDR11 = bytes.fromhex(json.loads((Path(__file__).resolve().parent / "data" / "format" / "44-v11-aad-multi.json")
                                 .read_text(encoding="utf-8"))["file"])[:H.HEADER_SIZE]


def test_layout_constants_match_format_md() -> None:
    assert H.MAGIC == bytes.fromhex("895345414c494f0a")
    offsets = [(H.OFF_VERSION, 8), (H.OFF_SUITE, 9), (H.OFF_SEGMENT_LOG2, 10), (H.OFF_HEADER_SIZE, 12),
               (H.OFF_SALT, 16), (H.OFF_PREFIX, 48), (H.OFF_MINOR, 55), (H.OFF_KEK_ID, 56),
               (H.OFF_MKID_LEN, 72), (H.OFF_MKID, 73), (H.OFF_WKEK_LEN, 233), (H.OFF_WKEK, 235),
               (H.OFF_COMMIT, 900), (H.OFF_DEK_NONCE, 932),
               (H.OFF_WRAPPED_DEK, 944), (H.OFF_MAC, 992)]
    for got, want in offsets:
        assert got == want
    doc = (Path(__file__).resolve().parents[1] / "docs" / "FORMAT.md").read_text(encoding="utf-8")
    for _, off in offsets:
        assert f"| {off:3d} |" in doc or f"|{off:4d} |" in doc


@pytest.mark.parametrize("hdr", [HDR, HDR11], ids=["1.0", "1.1"])
def test_parse_roundtrip(hdr: bytes) -> None:
    h = H.parse(hdr)
    assert h.segment_size == 4096 and h.master_key_id == "test-master"
    assert h.pack() == hdr
    assert h.replace(raw_body=None).body() == hdr[:992]
    assert h.version_string == ("1.1" if hdr is HDR11 else "1.0")


def test_require_commitment_is_checked_at_parse() -> None:
    """A 1.0 header is refused under require_commitment before any key is asked for."""
    with pytest.raises(sealio.UnsupportedFormatError, match="no key commitment"):
        H.parse(HDR, require_commitment=True)
    assert H.parse(HDR11, require_commitment=True).committed
    with pytest.raises(sealref.RefError) as ref:
        sealref.parse_header(HDR, require_commitment=True)
    assert ref.value.kind == "unsupported"


@pytest.mark.parametrize("length", list(range(0, 40)) + [100, 500, 1000, 1023])
def test_every_short_prefix_is_refused_cleanly(length: int) -> None:
    """A cut header is truncation (or not sealed when nothing is left), never a crash."""
    err = sealio.NotSealedError if length == 0 else sealio.IntegrityError
    with pytest.raises(err):
        H.parse(HDR[:length])
    with pytest.raises(sealref.RefError) as ref:
        sealref.parse_header(HDR[:length])
    assert ref.value.kind == ("not_sealed" if length == 0 else "payload")


def test_parse_rejects_malformed_fields() -> None:
    def bad(**changes: int) -> bytes:
        b = bytearray(HDR)
        for off, value in changes.items():
            b[int(off[1:])] = value
        return bytes(b)

    cases = {
        "segment 2**11": bad(o10=11), "segment 2**23": bad(o10=23),
        "header_size": bad(o15=1), "mkid_len 161": bad(o72=161),
        "mkid padding": bad(o200=1), "wkek_len 0": bad(o233=0, o234=0),
        "wkek_len 698": bad(o233=2, o234=0xBA), "wkek control char": bad(o240=0x0A),
        "mkid invalid utf8": bad(o73=0xFF),
    }
    b11 = bytearray(HDR11)
    b11[233:235] = (666).to_bytes(2, "big")  # would overlap the commitment
    cases["1.1 wkek_len 666"] = bytes(b11)
    cases["1.1 read as 1.0"] = HDR11[:55] + b"\x00" + HDR11[56:]  # commitment in the padding
    for name, data in cases.items():
        with pytest.raises(sealio.FormatError) as err:
            H.parse(data)
        assert type(err.value) is sealio.FormatError, name
        with pytest.raises(sealref.RefError) as ref:
            sealref.parse_header(data)
        assert ref.value.kind == "format", name
    for minor in (2, 3, 0x80, 0xFF):
        data = HDR11[:55] + bytes([minor]) + HDR11[56:]
        with pytest.raises(sealio.UnsupportedFormatError, match=f"1.{minor} "):
            H.parse(data)
        with pytest.raises(sealref.RefError) as ref:
            sealref.parse_header(data)
        assert ref.value.kind == "unsupported"


@pytest.mark.parametrize("hdr", [HDR, HDR11], ids=["1.0", "1.1"])
def test_derivation_binds_every_input(hdr: bytes) -> None:
    h = H.parse(hdr)
    dek = bytes(range(32))
    base = H.derive_keys(dek, h, b"a")
    variants = [
        H.derive_keys(dek, h, b"b"),
        H.derive_keys(dek, h, None),
        H.derive_keys(bytes(32), h, b"a"),
        H.derive_keys(dek, h.replace(segment_log2=13), b"a"),
        H.derive_keys(dek, h.replace(salt=bytes(32)), b"a"),
        H.derive_keys(dek, h.replace(nonce_prefix=bytes(7)), b"a"),
    ]
    assert H.derive_keys(dek, h, None) == H.derive_keys(dek, h, b"")
    for v in variants[2:]:
        assert v[0] != base[0] and v[1] != base[1]
        if h.committed:
            assert v.commitment != base.commitment
    assert variants[0] != base
    assert (base.commitment is not None) == h.committed
    assert "FileKeys(...)" == repr(base)  # no key bytes in reprs


def test_minor_versions_derive_unrelated_keys() -> None:
    """1.0 and 1.1 use different HKDF labels: a header whose minor byte is
    changed derives unrelated K_seg and K_hdr (a downgrade cannot keep keys)."""
    h11 = H.parse(HDR11)
    h10 = h11.replace(minor_version=0, commitment=b"", raw_body=None)
    dek = bytes(range(32))
    a, b = H.derive_keys(dek, h11, b"x"), H.derive_keys(dek, h10, b"x")
    assert a.k_seg != b.k_seg and a.k_hdr != b.k_hdr and a.commitment and b.commitment is None
    assert a.commitment not in (a.k_seg, a.k_hdr)


@pytest.mark.parametrize("seg", [4096, 8192])
def test_size_arithmetic_is_a_bijection(seg: int) -> None:
    """Exhaustive over file sizes up to four segments: valid exactly at
    sealed_size(L), and layout() inverts it."""
    valid = {H.sealed_size(n, seg): n for n in range(0, 4 * seg + 2)}
    for f in range(0, H.HEADER_SIZE + 4 * (seg + 16) + 2):
        if f in valid:
            assert H.layout(f, seg)[0] == valid[f]
            assert sealref.plaintext_size(f, seg)[0] == valid[f]
        else:
            with pytest.raises(sealio.IntegrityError):
                H.layout(f, seg)
            with pytest.raises(sealref.RefError):
                sealref.plaintext_size(f, seg)


@given(st.integers(0, 1 << 44), st.integers(12, 22))
def test_size_arithmetic_large(n: int, log2: int) -> None:
    seg = 1 << log2
    f = H.sealed_size(n, seg)
    plain, count = H.layout(f, seg)
    assert plain == n and count == max(1, -(-n // seg))
    assert sealref.plaintext_size(f, seg) == (plain, count)


def test_segment_count_limit() -> None:
    seg = 4096
    f = H.sealed_size((1 << 32) * seg, seg)
    assert H.layout(f, seg)[1] == 1 << 32
    with pytest.raises(sealio.FormatError):
        H.layout(f + 17, seg)  # one segment more than 2**32


def test_segment_size_argument() -> None:
    assert H.segment_size_log2(4096) == 12 and H.segment_size_log2(4 << 20) == 22
    for bad in (0, 2048, 8 << 20, 5000, -4096, True):
        with pytest.raises(ValueError):
            H.segment_size_log2(bad)


def test_writer_refuses_oversized_key_slot() -> None:
    h = H.parse(HDR)
    with pytest.raises(ValueError):
        h.replace(master_key_id="x" * 161, raw_body=None).pack()
    with pytest.raises(ValueError):
        h.replace(wrapped_kek="x" * 698, raw_body=None).pack()
    h11 = H.parse(HDR11)
    assert h11.replace(wrapped_kek="x" * 665, raw_body=None).pack()
    with pytest.raises(ValueError):
        h11.replace(wrapped_kek="x" * 666, raw_body=None).pack()
    with pytest.raises(ValueError):
        h11.replace(commitment=b"c" * 31, raw_body=None).pack()
    with pytest.raises(ValueError):
        h.replace(commitment=b"c" * 32, raw_body=None).pack()  # 1.0 has none
    with pytest.raises(ValueError):
        h.replace(minor_version=2, raw_body=None).pack()


def test_one_segment_arithmetic_for_header_primitives_and_io() -> None:
    """format.header, the primitives and the C core size segments alike
    (all through sealio.hazmat.segments)."""
    from sealio import primitives
    from sealio.hazmat import kernel, segments

    nat = kernel.native()
    for seg in (4096, 65536):
        for n in (0, 1, seg - 1, seg, seg + 1, 3 * seg, 3 * seg + 7):
            size = H.sealed_size(n, seg)
            assert size == H.HEADER_SIZE + primitives.sealed_segments_size(n, seg)
            assert H.layout(size, seg) == (n, segments.segment_count(n, seg))
            assert segments.opened_size(size - H.HEADER_SIZE, seg) == n
            if nat is not None:
                assert nat[1].sealio_segments_sealed_len(n, seg) == size - H.HEADER_SIZE


def test_header_is_immutable_and_compares_without_raw_body() -> None:
    """What the frozen dataclass gave, kept by the hand-written class."""
    h = H.parse(HDR11)
    with pytest.raises(AttributeError):
        h.salt = b"x" * 32  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del h.mac
    bare = h.replace(raw_body=None)
    assert bare == h and hash(bare) == hash(h) and bare.raw_body is None and h.raw_body is not None
    assert h.replace(master_key_id="other") != h
    assert "raw_body" not in repr(h) and repr(h).startswith("Header(segment_log2=")
    with pytest.raises(TypeError, match="no field"):
        h.replace(colour="red")
