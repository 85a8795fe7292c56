"""The tamper matrix: every header byte, bits in every segment and tag,
truncation at every boundary and +-1, dropped, duplicated, swapped and
spliced segments, wrong master key, wrong AAD. Each must raise (see
FORMAT.md section 8 for which exception) and no plaintext of a bad segment
may reach the caller."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

import sealio
import sealref
from sealio.format import header as H
from sealio.keys import KeyManager

SEG = 4096
SSEG = SEG + 16
PT = os.urandom(3 * SEG + 1000)  # segments 0, 1, 2 full; 3 final (1000 bytes)
NSEG = 4
AAD = b"tables/events/part-7.parquet"


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> sealio.LocalKeyring:
    kr = sealio.LocalKeyring.create(tmp_path_factory.mktemp("kr") / "k.json")
    kr.generate("main")
    kr.generate("other")
    return kr


def seal(keys: object, pt: bytes = PT, aad: bytes = AAD, master: str = "main") -> bytes:
    out = io.BytesIO()
    with sealio.open(out, "wb", keys=keys, master_key=master, aad=aad, segment_size=SEG) as w:
        w.write(pt)
    return out.getvalue()


@pytest.fixture(scope="module")
def sealed(keyring: sealio.LocalKeyring) -> bytes:
    data = seal(keyring)
    assert len(data) == H.sealed_size(len(PT), SEG)
    return data


def read_all(data: bytes, keys: object, aad: bytes = AAD) -> bytes:
    mgr = keys if isinstance(keys, KeyManager) else KeyManager(keys)
    with sealio.open(io.BytesIO(data), "rb", keys=mgr, aad=aad) as r:
        return r.read()


def segment(data: bytes, i: int) -> bytes:
    return data[H.HEADER_SIZE + i * SSEG:H.HEADER_SIZE + (i + 1) * SSEG]


def with_segments(data: bytes, segs: list[bytes]) -> bytes:
    return data[:H.HEADER_SIZE] + b"".join(segs)


def test_untampered_reads(sealed: bytes, keyring: sealio.LocalKeyring) -> None:
    assert read_all(sealed, keyring) == PT


# ------------------------------------------------------------------ header

MKID_REGION = range(H.OFF_MKID_LEN, H.OFF_WKEK_LEN)  # name length and name
WKEK_REGION = range(H.OFF_WKEK_LEN, H.OFF_DEK_NONCE)
EXACT = {
    **{i: sealio.NotSealedError for i in range(0, 8)},
    H.OFF_VERSION: sealio.UnsupportedFormatError,
    H.OFF_SUITE: sealio.UnsupportedFormatError,
    H.OFF_RESERVED1: sealio.FormatError,
    **{i: sealio.FormatError for i in range(H.OFF_HEADER_SIZE, H.OFF_SALT)},
    **{i: sealio.IntegrityError for i in range(H.OFF_SALT, H.OFF_MINOR)},
    **{i: sealio.IntegrityError for i in range(H.OFF_KEK_ID, H.OFF_MKID_LEN)},
    **{i: sealio.IntegrityError for i in range(H.OFF_COMMIT, H.HEADER_SIZE)},  # commitment, DEK slot, MAC
}


@pytest.mark.parametrize("bit", [0, 2, 7])
def test_every_header_byte(sealed: bytes, keyring: sealio.LocalKeyring, bit: int) -> None:
    keys = KeyManager(keyring)
    for off in range(H.HEADER_SIZE):
        bad = bytearray(sealed)
        bad[off] ^= 1 << bit
        with pytest.raises(sealio.SealioError) as err:
            with sealio.open(io.BytesIO(bytes(bad)), "rb", keys=keys, aad=AAD) as r:
                r.read()
        e = err.value
        if off in EXACT:
            assert type(e) is EXACT[off] or (EXACT[off] is sealio.FormatError and type(e) is sealio.FormatError), \
                (off, bit, type(e), e)
            continue
        if off == H.OFF_MINOR:  # 1.1 -> 1.0 puts the commitment into the KEK padding; else unknown
            want = sealio.FormatError if bit == 0 else sealio.UnsupportedFormatError
            assert type(e) is want, (off, bit, e)
            continue
        if off == H.OFF_SEGMENT_LOG2:  # 12 -> 13/14 is in range: then the binding catches it
            want = sealio.IntegrityError if H.MIN_SEGMENT_LOG2 <= 12 ^ (1 << bit) <= 22 else sealio.FormatError
            assert type(e) is want, (off, bit, e)
            continue
        # the key slot: malformed -> FormatError, does not authenticate ->
        # IntegrityError; a name or key version the keyring lacks ->
        # KeyNotFoundError (documented in FORMAT.md section 8)
        allowed: tuple[type[Exception], ...] = (sealio.IntegrityError, sealio.FormatError)
        if off in MKID_REGION or off in WKEK_REGION:
            allowed += (sealio.KeyNotFoundError,)
        assert isinstance(e, allowed), (off, bit, type(e), e)
        assert not isinstance(e, sealio.NotSealedError)


def test_header_padding_and_reserved_checked_before_mac(sealed: bytes, keyring: sealio.LocalKeyring) -> None:
    """Non-zero padding is refused as malformed even where the MAC would catch it too."""
    for off in (H.OFF_RESERVED1, H.OFF_WKEK_LEN - 1, H.OFF_COMMIT - 1):
        bad = bytearray(sealed)
        bad[off] = 0x20
        with pytest.raises(sealio.FormatError) as err:
            read_all(bytes(bad), keyring)
        assert type(err.value) is sealio.FormatError, off


def test_sealio_writes_version_1_1(sealed: bytes) -> None:
    h = H.parse(sealed)
    assert (h.version, h.minor_version, h.committed) == (1, 1, True)
    assert sealed[H.OFF_MINOR] == 1 and len(h.commitment) == 32 and any(h.commitment)


def test_unknown_version_message(sealed: bytes, keyring: sealio.LocalKeyring) -> None:
    bad = bytearray(sealed)
    bad[H.OFF_VERSION] = 2
    with pytest.raises(sealio.UnsupportedFormatError, match="version 2"):
        read_all(bytes(bad), keyring)
    bad = bytearray(sealed)
    bad[H.OFF_MINOR] = 2
    with pytest.raises(sealio.UnsupportedFormatError, match="version 1.2"):
        read_all(bytes(bad), keyring)
    bad = bytearray(sealed)
    bad[H.OFF_SUITE] = 7
    with pytest.raises(sealio.UnsupportedFormatError, match="suite 7"):
        read_all(bytes(bad), keyring)


# ---------------------------------------------------------------- segments


def _positions(clen: int) -> list[int]:
    """First, second, middle and last ciphertext byte, then every tag byte."""
    return sorted({0, 1, clen // 2, clen - 1}) + [clen + t for t in range(16)]


@pytest.mark.parametrize("index", range(NSEG))
def test_bit_flips_in_segments_and_tags(sealed: bytes, keyring: sealio.LocalKeyring, index: int) -> None:
    keys = KeyManager(keyring)
    clen = SEG if index < NSEG - 1 else len(PT) - (NSEG - 1) * SEG
    for pos in _positions(clen):
        bad = bytearray(sealed)
        bad[H.HEADER_SIZE + index * SSEG + pos] ^= 0x10
        src = io.BytesIO(bytes(bad))
        if index == NSEG - 1:  # the final segment is authenticated at open
            with pytest.raises(sealio.IntegrityError, match=f"segment {index} "):
                sealio.open(src, "rb", keys=keys, aad=AAD)
            continue
        with sealio.open(src, "rb", keys=keys, aad=AAD) as r:
            before = r.read_at(0, index * SEG)  # segments before the bad one are fine
            assert before == PT[:index * SEG]
            canary = bytearray(b"\xAA" * (2 * SEG))
            r.seek(index * SEG)
            with pytest.raises(sealio.IntegrityError, match=f"segment {index} "):
                r.readinto(canary)
            n = min(len(canary), len(PT) - index * SEG)
            assert canary[:n] == bytes(n), "plaintext left in the caller's buffer"
            assert canary[n:] == b"\xAA" * (len(canary) - n), "wrote past the end of the data"
            with pytest.raises(sealio.IntegrityError):  # sticky
                r.read_at(0, 10)


def test_no_plaintext_of_bad_segment_in_large_parallel_read(keyring: sealio.LocalKeyring) -> None:
    """A read big enough to go parallel: the whole output is zeroed on failure."""
    pt = os.urandom(6 << 20)
    data = bytearray(seal(keyring, pt=pt))
    bad_index = 700
    data[H.HEADER_SIZE + bad_index * SSEG + 10] ^= 1
    with sealio.open(io.BytesIO(bytes(data)), "rb", keys=keyring, aad=AAD, threads=4) as r:
        out = bytearray(len(pt))
        with pytest.raises(sealio.IntegrityError, match=f"segment {bad_index} "):
            r.readinto(out)
        assert not any(out)


def test_truncation_at_every_boundary(sealed: bytes, keyring: sealio.LocalKeyring) -> None:
    keys = KeyManager(keyring)
    cuts = {H.HEADER_SIZE + k * SSEG + d for k in range(NSEG + 1) for d in (-1, 0, 1)}
    cuts |= {0, 1, 7, 8, 12, 100, 1000, len(sealed) - 1, len(sealed) - 16, len(sealed) - 17}
    for cut in sorted(c for c in cuts if 0 <= c < len(sealed)):
        with pytest.raises((sealio.IntegrityError, sealio.NotSealedError)) as err:
            read_all(sealed[:cut], keys)
        if cut > 0:
            assert isinstance(err.value, sealio.IntegrityError), (cut, err.value)


def test_extension(sealed: bytes, keyring: sealio.LocalKeyring) -> None:
    for extra in (b"\x00", b"\x00" * 16, b"\x00" * 17, segment(sealed, 0)):
        with pytest.raises(sealio.IntegrityError):
            read_all(sealed + extra, keyring)


def test_drop_duplicate_swap(sealed: bytes, keyring: sealio.LocalKeyring) -> None:
    segs = [segment(sealed, i) for i in range(NSEG)]
    variants = []
    for i in range(NSEG):
        variants.append(("drop", i, [s for j, s in enumerate(segs) if j != i]))
        variants.append(("dup", i, segs[:i + 1] + [segs[i]] + segs[i + 1:]))
        for j in range(i + 1, NSEG):
            s2 = list(segs)
            s2[i], s2[j] = s2[j], s2[i]
            variants.append(("swap", (i, j), s2))
    for what, where, s in variants:
        with pytest.raises(sealio.IntegrityError):
            read_all(with_segments(sealed, s), keyring)
            raise AssertionError(f"{what} {where} was accepted")


def test_splice_from_another_file_same_keys(sealed: bytes, keyring: sealio.LocalKeyring) -> None:
    """Same keyring, same KEK (cached), same plaintext: still another file."""
    keys = KeyManager(keyring)
    a, b = seal(keys), seal(keys)
    assert H.parse(a).kek_id == H.parse(b).kek_id  # the KEK really is shared
    for i in range(NSEG):
        segs = [segment(a, j) for j in range(NSEG)]
        segs[i] = segment(b, i)
        with pytest.raises(sealio.IntegrityError):
            read_all(with_segments(a, segs), keys)
    # header of one file, segments of the other
    with pytest.raises(sealio.IntegrityError):
        read_all(b[:H.HEADER_SIZE] + a[H.HEADER_SIZE:], keys)


def test_last_flag_is_checked() -> None:
    """Files crafted with the reference under identical keys: a final flag on a
    middle segment, and a missing final flag, are both refused."""
    inp = sealref.VECTOR_INPUTS
    kms = sealref.DeterministicKms()
    seg = 1 << inp.segment_log2
    pt = sealref.pattern(3 * seg + 5)
    long_file = sealref.seal(pt, inp, kms)  # segments 0,1,2 (last=0), 3 (last=1)
    short_file = sealref.seal(pt[:2 * seg], inp, kms)  # segments 0, 1 (last=1)
    ss = seg + 16
    # final flag in the middle: short file's segment 1 followed by long file's 2 and 3
    mid_final = short_file + long_file[H.HEADER_SIZE + 2 * ss:]
    # no final flag: long file cut after segment 2 (its segment 1 has last=0)
    no_final = long_file[:H.HEADER_SIZE + 2 * ss]
    for data in (mid_final, no_final):
        with pytest.raises(sealio.IntegrityError):
            read_all(data, kms, aad=b"")
    assert read_all(short_file, kms, aad=b"") == pt[:2 * seg]  # sanity: the parts are valid


def test_wrong_master_key(sealed: bytes, tmp_path: Path) -> None:
    other = sealio.LocalKeyring.create(tmp_path / "other.json")
    other.generate("main")  # same name, different key
    with pytest.raises(sealio.IntegrityError):
        read_all(sealed, other)
    empty = sealio.LocalKeyring.create(tmp_path / "empty.json")
    with pytest.raises(sealio.KeyNotFoundError, match="main"):
        read_all(sealed, empty)


def test_master_key_id_swapped_to_an_existing_key(sealed: bytes, keyring: sealio.LocalKeyring) -> None:
    """Renaming the key slot to another key the keyring has: IntegrityError."""
    h = H.parse(sealed)
    forged = h.replace(master_key_id="other", raw_body=None).pack()
    with pytest.raises(sealio.IntegrityError):
        read_all(forged + sealed[H.HEADER_SIZE:], keyring)


@pytest.mark.parametrize("aad", [None, b"", b"tables/events/part-8.parquet", AAD + b"\x00"])
def test_wrong_aad(sealed: bytes, keyring: sealio.LocalKeyring, aad: bytes | None) -> None:
    with pytest.raises(sealio.IntegrityError, match="header failed authentication"):
        with sealio.open(io.BytesIO(sealed), "rb", keys=keyring, aad=aad):
            pass


def test_aad_str_is_utf8(keyring: sealio.LocalKeyring) -> None:
    data = seal(keyring, pt=b"x", aad="chemin/é".encode())
    with sealio.open(io.BytesIO(data), "rb", keys=keyring, aad="chemin/é") as r:
        assert r.read() == b"x"


def test_not_sealed_inputs(tmp_path: Path, keyring: sealio.LocalKeyring) -> None:
    for content in (b"", b"id,name\n1,a\n", b"PAR1" + bytes(2000), b"\x89PNG\r\n\x1a\n" + bytes(100)):
        p = tmp_path / "plain"
        p.write_bytes(content)
        with pytest.raises(sealio.NotSealedError, match="not a sealed file"):
            sealio.open(p, "rb", keys=keyring)
