"""BigDL common format and key sources against the independent reference."""

from __future__ import annotations

import base64
import io
import os
import pickle
import warnings

import pytest

import bigdl_ref as ref
from sealio import IntegrityError
from sealio.bigdl import (CommonWriter, PlaintextPrimaryKey, SimpleKms, encrypt_parts, open_common,
                          read_header, read_meta, write_directory)
from sealio.bigdl.common import looks_common
from sealio.errors import FormatError, UnverifiedDataWarning, WeakKeyWarning

PRIMARY = base64.b64encode(bytes(range(16))).decode()
SIMPLE_PK = "abcdefghijkl4821"

pytestmark = pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")


def _read(path, keys, **kw) -> bytes:
    with open_common(path, keys, **kw) as r:
        return r.read()


# ------------------------------------------------------------------ keys


def test_plaintext_key_wrap_matches_reference():
    src = PlaintextPrimaryKey(PRIMARY)
    dk = ref.plaintext_new_data_key()
    edk = src.wrap(dk)
    assert edk == ref.plaintext_wrap(PRIMARY, dk)
    assert len(dk) == 24 and len(edk) == 44
    assert src.unwrap(edk) == dk
    dk2, edk2 = src.new_data_key()
    assert ref.plaintext_unwrap(PRIMARY, edk2) == dk2


def test_plaintext_key_wrong_primary_key_fails():
    edk = ref.plaintext_wrap(PRIMARY, ref.plaintext_new_data_key())
    other = PlaintextPrimaryKey(base64.b64encode(bytes(16)).decode())
    with pytest.raises((IntegrityError, FormatError)):
        other.unwrap(edk)


@pytest.mark.parametrize("pk", [SIMPLE_PK, "app-id-12chr0007", "ZZZZZZZZZZZZ9999"])
def test_simple_kms_arithmetic_matches_reference(pk):
    src = SimpleKms("app", "key", pk + "\n")
    for digits in ("0123456789012345", "9999999999999999", "5050505050505050"):
        edk = src.wrap(digits)
        assert edk == ref.simple_wrap(pk, digits)
        assert src.unwrap(edk) == ref.simple_unwrap(pk, edk)
    dk, edk = src.new_data_key()
    assert dk == ref.simple_unwrap(pk, edk) and len(dk) == 32


def test_simple_kms_known_answer():
    # pk "abcdefghijkl4821", data key digits all "0": ('a'-48)=49 -> 49 % 10 = 9 -> "57" ...
    edk = ref.simple_wrap(SIMPLE_PK, "0" * 16)
    assert edk == SimpleKms("a", "b", SIMPLE_PK).wrap("0" * 16)
    assert edk[:4] == "5748"  # 'a'(97-48=49)%10=9 -> 57; 'b'(50)%10=0 -> 48
    # unwrap uses only the first 16 characters and yields 32 characters
    assert len(SimpleKms("a", "b", SIMPLE_PK).unwrap(edk)) == 32


def test_weak_key_warning_and_no_key_material_in_repr():
    src = PlaintextPrimaryKey(PRIMARY)
    with pytest.warns(WeakKeyWarning, match="32 bits"):
        src.new_data_key()
    assert PRIMARY not in repr(src)
    with pytest.raises(TypeError):
        pickle.dumps(src)
    with pytest.warns(WeakKeyWarning, match="13 bits"):
        SimpleKms("a", "b", SIMPLE_PK).new_data_key()


# ---------------------------------------------------------------- format


@pytest.mark.parametrize("n", [1, 15, 16, 17, 1000, (1 << 20) + 5, 3 * (1 << 20)])
def test_reference_file_read_by_sealio(tmp_path, n):
    src = PlaintextPrimaryKey(PRIMARY)
    dk, edk = src.new_data_key()
    plain = os.urandom(n)
    path = tmp_path / "part-00000.csv.cbc"
    blob = ref.common_encrypt(dk, edk, os.urandom(16), plain)
    assert len(blob) == 400 + 16 * (n // 16 + 1) + 32
    path.write_bytes(blob)
    assert _read(path, src) == plain
    assert read_header(path).encrypted_data_key == edk


def test_sealio_writer_bytes_equal_reference(tmp_path):
    dk, edk = ref.plaintext_new_data_key(), "x" * 44
    iv = bytes(range(16))
    plain = b"name,age,job\n" + b"abc,30,Developer\n" * 5000
    with CommonWriter(tmp_path / "p", dk, edk, iv=iv) as w:
        for i in range(0, len(plain), 777):  # chunking must not change the bytes
            w.write(plain[i:i + 777])
    assert (tmp_path / "p").read_bytes() == ref.common_encrypt(dk, edk, iv, plain)
    assert ref.common_decrypt(dk, (tmp_path / "p").read_bytes()) == plain


def test_empty_part_is_zero_bytes(tmp_path):
    with CommonWriter(tmp_path / "p", "k" * 24, "e" * 44):
        pass
    assert (tmp_path / "p").read_bytes() == b""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnverifiedDataWarning)
        assert _read(tmp_path / "p", PlaintextPrimaryKey(PRIMARY)) == b""


def test_writer_aborts_on_exception(tmp_path):
    with pytest.raises(RuntimeError):
        with CommonWriter(tmp_path / "p", "k" * 24, "e" * 44) as w:
            w.write(b"x" * 100)
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def _ref_file(tmp_path, n=5000):
    src = PlaintextPrimaryKey(PRIMARY)
    dk, edk = src.new_data_key()
    plain = os.urandom(n)
    path = tmp_path / "part.cbc"
    path.write_bytes(ref.common_encrypt(dk, edk, os.urandom(16), plain))
    return src, path, plain


@pytest.mark.parametrize("offset", [0, 9, 400, 2000, -40, -1])
def test_tampering_is_rejected(tmp_path, offset):
    src, path, _ = _ref_file(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 1
    path.write_bytes(raw)
    with pytest.raises((IntegrityError, FormatError)):
        _read(path, src)


@pytest.mark.parametrize("cut", [16, 32, 48, 4000])
def test_truncation_is_rejected(tmp_path, cut):
    src, path, _ = _ref_file(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[:-cut])
    with pytest.raises(IntegrityError):
        _read(path, src)


def test_iv_is_outside_the_mac_a_known_weakness(tmp_path):
    """BigDL's MAC does not cover the header: a flipped IV bit changes only
    the first plaintext block and no reader can notice (docs/BIGDL.md)."""
    src, path, plain = _ref_file(tmp_path)
    raw = bytearray(path.read_bytes())
    iv_at = 8 + 44
    raw[iv_at] ^= 1
    path.write_bytes(raw)
    got = _read(path, src)
    assert got[:16] != plain[:16]
    assert got[16:] == plain[16:]  # known format weakness, see docs/BIGDL.md


def test_salvage_opt_out_warns(tmp_path):
    src, path, plain = _ref_file(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1  # break only the MAC
    path.write_bytes(raw)
    with pytest.raises(IntegrityError):
        _read(path, src)
    with pytest.warns(UnverifiedDataWarning):
        assert _read(path, src, verify_mac=False) == plain


def test_file_object_source_and_no_plaintext_before_check(tmp_path):
    src, path, plain = _ref_file(tmp_path, 100_000)
    raw = bytearray(path.read_bytes())
    raw[-33] ^= 1  # last ciphertext byte: only the MAC (or padding) can tell
    with pytest.raises(IntegrityError):
        open_common(io.BytesIO(bytes(raw)), src)
    with open_common(io.BytesIO(path.read_bytes()), src) as r:
        assert r.read(10) == plain[:10]
        assert r.read() == plain[10:]


def test_looks_common(tmp_path):
    _, path, _ = _ref_file(tmp_path)
    raw = path.read_bytes()
    assert looks_common(raw[:400], len(raw))
    assert not looks_common(b"\x80" + raw[1:400], len(raw))
    assert not looks_common(raw[:400], len(raw) - 1)


# ------------------------------------------------------ several part files


def test_encrypt_parts_multibuffer_read_by_reference(tmp_path):
    src = PlaintextPrimaryKey(PRIMARY)
    dk, edk = src.new_data_key()
    plains = [os.urandom(n) for n in (0, 1, 16, 5000, 70_000, 70_001, 200_000, 3, 31, 64)]
    jobs = [(io.BytesIO(p), len(p), tmp_path / f"part-{i:05d}.cbc") for i, p in enumerate(plains)]
    seen = []
    encrypt_parts(jobs, dk, edk, chunk=4096, width=4, progress=seen.append)
    assert sum(seen) == sum(map(len, plains))
    for i, p in enumerate(plains):
        blob = (tmp_path / f"part-{i:05d}.cbc").read_bytes()
        assert ref.common_decrypt(dk, blob) == p
        assert ref.common_header(blob)[0] == edk if p else blob == b""


def test_write_directory_meta_and_reference(tmp_path):
    src = SimpleKms("app", "key", SIMPLE_PK)
    paths = write_directory(tmp_path / "out", [b"a,b\n1,2\n", b"", b"x" * 100], src)
    edk = read_meta(tmp_path / "out")
    assert (tmp_path / "out/.meta").read_text() == ref.meta_text(edk)
    dk = ref.simple_unwrap(SIMPLE_PK, edk)
    assert ref.common_decrypt(dk, paths[0].read_bytes()) == b"a,b\n1,2\n"
    assert ref.common_decrypt(dk, paths[2].read_bytes()) == b"x" * 100
    assert all(p.name.endswith(".csv.cbc") for p in paths)
