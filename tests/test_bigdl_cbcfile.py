"""The verified, seekable CBC reader behind every BigDL format
(sealio.bigdl._cbcfile.CbcFile): random access against files written by
the independent reference, exact sizes, chunk re-checks that catch a file
changed after it was authenticated, and bounded state."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import bigdl_xref as xref
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sealio.bigdl import _cbcfile, common, legacy, native
from sealio.bigdl.keys import DataKey, PlaintextPrimaryKey
from sealio.errors import IntegrityError, UnauthenticatedWarning

PRIMARY = base64.b64encode(bytes(range(40, 56))).decode()
pytestmark = pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")


def _common(plain: bytes) -> bytes:
    dk = xref.plaintext_new_data_key()
    return xref.common_encrypt(dk, xref.plaintext_wrap(PRIMARY, dk), os.urandom(16), plain)


def _open_common(blob: bytes, chunk: int) -> _cbcfile.CbcFile:
    """A common-format reader with a small chunk, so tests cross many chunks."""
    return _reader_with_chunk(io.BytesIO(blob), PlaintextPrimaryKey(PRIMARY), chunk)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3000), st.sampled_from([16, 48, 64, 256, 1 << 20]),
       st.lists(st.tuples(st.integers(0, 3100), st.integers(0, 700)), min_size=1, max_size=12))
def test_random_access_matches_the_plaintext(n: int, chunk: int, reads: list[tuple[int, int]]) -> None:
    plain = os.urandom(n)
    with _open_common(_common(plain), chunk) as r:
        assert r.size == n and r.seekable()
        for offset, length in reads:
            r.seek(offset)
            got = r.read(length)
            assert got == plain[offset:offset + length]
            assert r.tell() == offset + len(got)
        r.seek(0)
        assert r.read() == plain
        r.seek(-min(n, 5), os.SEEK_END)
        assert r.read() == plain[-min(n, 5):]


@pytest.mark.parametrize("n", [1, 15, 16, 17, 31, 32, 33, 4096, 70_001])
def test_every_format_reads_whole_and_sized(tmp_path: Path, n: int) -> None:
    plain = os.urandom(n)
    dk = xref.plaintext_new_data_key()
    (tmp_path / "c").write_bytes(xref.common_encrypt(dk, xref.plaintext_wrap(PRIMARY, dk), os.urandom(16), plain))
    (tmp_path / "n").write_bytes(xref.native_encrypt(PRIMARY, os.urandom(16), plain))
    (tmp_path / "l").write_bytes(xref.legacy_encrypt(dk, "2.1", 1_600_000_000, os.urandom(16), plain))
    readers = [common.open_common_stream(tmp_path / "c", PlaintextPrimaryKey(PRIMARY)),
               legacy.open_legacy_stream(tmp_path / "l", DataKey(dk), "legacy-2.1")]
    with pytest.warns(UnauthenticatedWarning):
        readers.append(native.open_native_stream(tmp_path / "n", PRIMARY))
    for r in readers:
        with r:
            assert r.size == n
            assert r.read() == plain
            r.seek(n // 2)
            assert r.read(7) == plain[n // 2:n // 2 + 7]


def test_a_chunk_changed_after_authentication_is_refused_before_release(tmp_path: Path) -> None:
    """The MAC pass passes; then chunk 2's ciphertext is rewritten on disk.
    Chunks 0-1 still read; chunk 2 raises instead of releasing plaintext,
    whichever order it is reached in."""
    chunk = 64
    plain = os.urandom(chunk * 6 + 5)
    path = tmp_path / "p.cbc"
    path.write_bytes(_common(plain))
    keys = PlaintextPrimaryKey(PRIMARY)
    with open(path, "r+b") as f:
        r = _reader_with_chunk(f, keys, chunk)
        f.seek(400 + 2 * chunk + 3)
        byte = f.read(1)
        f.seek(400 + 2 * chunk + 3)
        f.write(bytes([byte[0] ^ 1]))
        f.flush()
        assert r.read(2 * chunk) == plain[:2 * chunk]
        with pytest.raises(IntegrityError, match="changed after it was authenticated"):
            r.read(1)
        r.seek(5 * chunk)
        assert r.read() == plain[5 * chunk:]
        r.seek(2 * chunk + 10)
        with pytest.raises(IntegrityError):
            r.read(1)


def test_a_changed_iv_block_does_not_reach_the_next_chunk(tmp_path: Path) -> None:
    """Chunk k's IV is chunk k-1's last ciphertext block, saved in the MAC
    pass: rewriting it on disk fails chunk k-1 and leaves chunk k intact."""
    chunk = 64
    plain = os.urandom(chunk * 4)
    path = tmp_path / "p.cbc"
    path.write_bytes(_common(plain))
    with open(path, "r+b") as f:
        r = _reader_with_chunk(f, PlaintextPrimaryKey(PRIMARY), chunk)
        f.seek(400 + 2 * chunk - 1)
        byte = f.read(1)
        f.seek(400 + 2 * chunk - 1)
        f.write(bytes([byte[0] ^ 0x80]))
        f.flush()
        r.seek(2 * chunk)
        assert r.read(chunk) == plain[2 * chunk:3 * chunk]
        r.seek(chunk)
        with pytest.raises(IntegrityError):
            r.read(1)


def _reader_with_chunk(f, keys, chunk):
    from sealio.bigdl.common import HEADER_SIZE, MAC_SIZE, parse_header
    from sealio.primitives import AesCbc

    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    header = parse_header(f.read(HEADER_SIZE))
    key = keys.decrypt_data_key(header.encrypted_data_key)
    f.seek(size - MAC_SIZE)
    tag = f.read(MAC_SIZE)
    return _cbcfile.CbcFile(f, False, HEADER_SIZE, size - MAC_SIZE, header.iv, AesCbc(key.aes_key(16)),
                            mac_key=key.hmac_key, tag=tag, chunk=chunk)


def test_bad_padding_under_a_valid_mac_is_an_integrity_error() -> None:
    """A well-MACed ciphertext whose last block does not unpad (here: the
    reference encrypts without padding) has no plaintext size: refused."""
    dk = xref.plaintext_new_data_key()
    hmac_key, aes_key = xref.split_data_key(dk)
    import hashlib
    import hmac

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    iv = os.urandom(16)
    body = bytes(range(32)) + b"\x00" * 15 + b"\x11"  # last byte 0x11 > 16: never valid padding
    enc = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
    ct = enc.update(body) + enc.finalize()
    edk = xref.plaintext_wrap(PRIMARY, dk)
    import struct
    header = struct.pack(">II", len(edk), 16) + edk.encode() + iv
    blob = header + b"\x80" * (400 - len(header)) + ct + hmac.new(hmac_key, ct, hashlib.sha256).digest()
    with pytest.raises(IntegrityError, match="bad CBC padding"):
        common.open_common_stream(io.BytesIO(blob), PlaintextPrimaryKey(PRIMARY))


def test_state_is_bounded_for_any_size() -> None:
    assert _cbcfile._chunk_size(10 << 30, _cbcfile.CHUNK) * _cbcfile.MAX_CHUNKS >= 10 << 30
    assert _cbcfile._chunk_size(10 << 30, _cbcfile.CHUNK) % 16 == 0
    assert _cbcfile._chunk_size(1000, 100) == 96


def test_whole_chunks_decrypt_once_when_read_sequentially() -> None:
    plain = os.urandom(64 * 10)
    with _open_common(_common(plain), 64) as r:
        out = b"".join(iter(lambda: r.read(17), b""))
        assert out == plain
        assert r.chunks_decrypted == 10  # the 11th chunk is the padding block alone: no plaintext


def test_closed_reader_and_pickling_refused() -> None:
    import pickle

    r = _open_common(_common(b"x" * 100), 64)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(r)
    r.close()
    with pytest.raises(ValueError):
        r.read(1)


def test_every_single_bit_flip_fails_closed_or_changes_nothing() -> None:
    """Flip one bit at every byte of a small common-format file and open it
    through the same path the filesystems use. Each outcome is one of:
    a SealioError; the original plaintext (0x80 fill bytes are covered by
    nothing and carry nothing); or, for the 16 IV bytes only, the same bit
    flipped in the first plaintext block (BigDL's MAC does not cover the IV,
    a documented gap). Never any other plaintext."""
    from sealio.bigdl import Opener
    from sealio.errors import SealioError

    plain = b"name,age,job\nann,30,Developer\nbob,41,Engineer\n"
    blob = _common(plain)
    opener = Opener("auto", keys=PlaintextPrimaryKey(PRIMARY))
    edk_len = int.from_bytes(blob[:4], "big")
    iv_at = 8 + edk_len
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0x04
        try:
            with opener.open_raw(io.BytesIO(bytes(bad))) as r:
                got = r.read()
        except SealioError:
            continue
        if iv_at <= i < iv_at + 16:
            expected = bytearray(plain)
            expected[i - iv_at] ^= 0x04
            assert got == bytes(expected), i
        else:
            assert got == plain and 8 + edk_len + 16 <= i < 400, i  # only the unused fill


# ------------------------------------------------ BigDL's three legacy MACs


@pytest.mark.parametrize("n", [1, 15, 16, 17, 100, 8192, 8193, 20_000])
def test_legacy_fernet_mac_covers_the_header(tmp_path: Path, n: int) -> None:
    """FernetEncrypt files: HMAC over header and ciphertext; fully
    authenticated, header included, no warning."""
    import warnings as w

    dk = xref.plaintext_new_data_key()
    plain = os.urandom(n)
    path = tmp_path / "f"
    path.write_bytes(xref.legacy_encrypt_fernet(dk, 1_650_000_000, os.urandom(16), plain))
    with w.catch_warnings():
        w.simplefilter("error", UnauthenticatedWarning)
        with legacy.open_legacy_stream(path, DataKey(dk), "legacy-2.2") as r:
            assert r.read() == plain and r.mac_variant == _cbcfile.MAC_HEADER_CIPHERTEXT
    blob = bytearray(path.read_bytes())
    blob[3] ^= 0x01  # the timestamp: covered by this variant's MAC
    with pytest.raises(IntegrityError, match="HMAC mismatch"):
        legacy.open_legacy_stream(io.BytesIO(bytes(blob)), DataKey(dk), "legacy-2.2")


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5000), st.sampled_from([16, 64, 1 << 20]))
def test_legacy_stream_mac_leaves_out_the_padding_and_warns(n: int, chunk: int) -> None:
    dk = xref.plaintext_new_data_key()
    plain = os.urandom(n)
    blob = xref.legacy_encrypt_stream(dk, 1_650_000_000, os.urandom(16), plain, piece=64)
    from sealio.bigdl.legacy import LEGACY_HEAD
    from sealio.primitives import AesCbc

    key = DataKey(dk)
    with pytest.warns(UnauthenticatedWarning, match="not fully authenticated"):
        r = _cbcfile.CbcFile(io.BytesIO(blob), False, LEGACY_HEAD, len(blob) - 32, blob[9:25],
                             AesCbc(key.aes_key(16)), mac_key=key.hmac_key, tag=blob[-32:],
                             macs=(_cbcfile.MAC_CIPHERTEXT, _cbcfile.MAC_UNPADDED), chunk=chunk)
    with r:
        assert r.mac_variant == _cbcfile.MAC_UNPADDED and r.read() == plain


def test_covered_bytes_of_a_stream_mac_file_are_still_checked(tmp_path: Path) -> None:
    dk = xref.plaintext_new_data_key()
    plain = b"x" * 100  # 112 ciphertext bytes; the MAC covers 100
    blob = xref.legacy_encrypt_stream(dk, 1_650_000_000, os.urandom(16), plain)
    for at in (25, 25 + 50, 25 + 99):
        bad = bytearray(blob)
        bad[at] ^= 0x10
        with pytest.raises(IntegrityError):
            legacy.open_legacy_stream(io.BytesIO(bytes(bad)), DataKey(dk), "legacy-2.2")
    path = tmp_path / "s"
    path.write_bytes(blob)
    with open(path, "r+b") as f, pytest.warns(UnauthenticatedWarning):
        r = legacy.open_legacy_stream(f, DataKey(dk), "legacy-2.2")
        f.seek(25 + 111)  # an uncovered byte of the final block, rewritten after the check
        f.write(bytes([blob[25 + 111] ^ 1]))
        f.flush()
        with pytest.raises(IntegrityError, match="changed after it was authenticated"):
            r.read()


def test_the_common_format_accepts_only_its_own_mac(tmp_path: Path) -> None:
    """A common-format file whose MAC follows a legacy construction is
    refused: each format accepts only what its writers produced."""
    import hashlib
    import hmac

    dk = xref.plaintext_new_data_key()
    plain = b"name,age\nann,30\n"
    blob = bytearray(xref.common_encrypt(dk, xref.plaintext_wrap(PRIMARY, dk), os.urandom(16), plain))
    hmac_key, _ = xref.split_data_key(dk)
    unpadded = bytes(blob[400:400 + len(plain)])
    blob[-32:] = hmac.new(hmac_key, unpadded, hashlib.sha256).digest()
    with pytest.raises(IntegrityError, match="HMAC mismatch"):
        common.open_common_stream(io.BytesIO(bytes(blob)), PlaintextPrimaryKey(PRIMARY))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_arbitrary_damage_only_ever_raises_sealio_errors(data: st.DataObject) -> None:
    """Random bytes, truncations, insertions and splices of a valid file,
    through the auto-detecting opener: the outcome is the exact plaintext
    (when nothing that matters changed) or a SealioError; never another
    exception type and never other plaintext."""
    from sealio.bigdl import Opener
    from sealio.errors import SealioError

    plain = data.draw(st.binary(min_size=1, max_size=300))
    blob = _common(plain)
    kind = data.draw(st.sampled_from(["random", "truncate", "insert", "splice"]))
    if kind == "random":
        bad = data.draw(st.binary(max_size=900))
    elif kind == "truncate":
        bad = blob[:data.draw(st.integers(0, len(blob) - 1))]
    elif kind == "insert":
        at = data.draw(st.integers(0, len(blob)))
        bad = blob[:at] + data.draw(st.binary(min_size=1, max_size=40)) + blob[at:]
    else:
        other = _common(data.draw(st.binary(min_size=1, max_size=300)))
        cut = data.draw(st.integers(400, min(len(blob), len(other))))
        bad = blob[:cut] + other[cut:]
    opener = Opener("auto", keys=PlaintextPrimaryKey(PRIMARY))
    try:
        with opener.open_raw(io.BytesIO(bad)) as r:
            got = r.read()
    except SealioError:
        return
    assert got == plain or (bad == b"" and got == b"")


# ------------------------------------------- regressions from code review


class _CountingAes:
    """An AesCbc that counts decryptions, to prove none happens before a MAC matches."""

    def __init__(self, key: bytes) -> None:
        from sealio.primitives import AesCbc

        self.inner, self.calls = AesCbc(key), 0

    def decrypt_into(self, *args, **kw):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self.inner.decrypt_into(*args, **kw)


@pytest.mark.parametrize("n", [1, 16, 100, 5000])
def test_a_forged_legacy_file_is_refused_without_looking_at_its_padding(n: int) -> None:
    """The unpadded-MAC variant tries every pad length by hashing alone: a
    file no MAC matches costs the same whatever its padding (no oracle)."""
    dk = xref.plaintext_new_data_key()
    blob = bytearray(xref.legacy_encrypt_stream(dk, 1, os.urandom(16), os.urandom(n)))
    blob[-1] ^= 0x01  # the tag
    key = DataKey(dk)
    aes = _CountingAes(key.aes_key(16))
    with pytest.raises(IntegrityError, match="HMAC mismatch"):
        _cbcfile.CbcFile(io.BytesIO(bytes(blob)), False, 25, len(blob) - 32, bytes(blob[9:25]), aes,  # type: ignore[arg-type]
                         mac_key=key.hmac_key, tag=bytes(blob[-32:]), macs=legacy.LEGACY_MACS,
                         header=bytes(blob[:25]), chunk=64)
    assert aes.calls == 0


def test_closing_during_a_read_never_skips_the_chunk_check() -> None:
    """close() from inside a read (here: the file's own readinto, after the
    chunk was rewritten) must not turn the re-check off for that chunk."""
    plain = bytes(200)
    blob = _common(plain)

    class Hooked(io.BytesIO):
        hook = None

        def readinto(self, b):  # type: ignore[no-untyped-def]
            n = super().readinto(b)
            if self.hook:
                hook, self.hook = self.hook, None
                hook()
            return n

    f = Hooked(blob)
    r = _reader_with_chunk(f, PlaintextPrimaryKey(PRIMARY), 64)
    assert r.read(64) == plain[:64]
    f.getbuffer()[400 + 64 + 5] ^= 0xFF
    f.hook = r.close
    with pytest.raises(IntegrityError):
        r.readinto(bytearray(64))


def test_an_unauthenticated_file_that_changes_is_refused_not_misread(tmp_path: Path) -> None:
    plain = os.urandom(100)
    path = tmp_path / "n"
    path.write_bytes(xref.native_encrypt(PRIMARY, os.urandom(16), plain))
    with open(path, "r+b") as f, pytest.warns(UnauthenticatedWarning):
        r = native.open_native_stream(f, PRIMARY)
        f.seek(0)
        f.write(os.urandom(16))  # a new IV: the first block, and with one block in a chunk, its length change
        f.truncate(16 + 16)
        f.flush()
        with pytest.raises(IntegrityError):
            r.read()


def test_non_utf8_meta_is_a_format_error(tmp_path: Path) -> None:
    from sealio.bigdl import read_meta
    from sealio.errors import FormatError

    (tmp_path / ".meta").write_bytes(b"\xff\xfe{}")
    with pytest.raises(FormatError, match="not UTF-8"):
        read_meta(tmp_path)


def test_data_keys_refuse_to_pickle() -> None:
    import pickle

    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(DataKey("secret-data-key-text-0123456789ab"))
