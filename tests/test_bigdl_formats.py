"""BigDL native and legacy 2.1/2.2 formats, .meta handling, detection."""

from __future__ import annotations

import base64
import os
import time

import pytest

import bigdl_ref as ref
from sealio import IntegrityError
from sealio.bigdl import (PlaintextPrimaryKey, detect_format, open_part, part_files, read_meta,
                          write_directory, write_meta)
from sealio.errors import FormatError, UnverifiedDataWarning

PRIMARY = base64.b64encode(bytes(range(32))).decode()
pytestmark = pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")


def _read(path, keys, **kw) -> bytes:
    with open_part(path, keys, **kw) as r:
        return r.read()


def test_native_format_reads_with_warning(tmp_path):
    plain = os.urandom(3333)
    (tmp_path / "part-00000.csv.cbc").write_bytes(ref.native_encrypt(PRIMARY, os.urandom(16), plain))
    write_meta(tmp_path, None)
    assert (tmp_path / ".meta").read_text() == ""
    assert detect_format(tmp_path) == "native"
    with pytest.warns(UnverifiedDataWarning, match="no MAC"):
        assert _read(tmp_path / "part-00000.csv.cbc", PlaintextPrimaryKey(PRIMARY), format="native") == plain


def test_native_truncated_rejected(tmp_path):
    blob = ref.native_encrypt(PRIMARY, os.urandom(16), b"x" * 100)
    (tmp_path / "p").write_bytes(blob[:-5])
    with pytest.raises(IntegrityError):
        _read(tmp_path / "p", PlaintextPrimaryKey(PRIMARY), format="native")


@pytest.mark.parametrize("version", ["2.1", "2.2"])
def test_legacy_formats(tmp_path, version):
    keys = PlaintextPrimaryKey(PRIMARY)
    dk = "q2Vx0bFhT4mZ8YwKc1RjNg=="  # fixed, so the wrong-version check below is deterministic
    edk = keys.wrap(dk)
    plain = bytes(range(256)) * 273
    blob = ref.legacy_encrypt(dk, version, int(time.time()), bytes(range(16)), plain)
    (tmp_path / "p").write_bytes(blob)
    assert detect_format(tmp_path / "p") == "legacy"
    assert _read(tmp_path / "p", keys, format=f"legacy-{version}", encrypted_data_key=edk) == plain
    other = "legacy-2.2" if version == "2.1" else "legacy-2.1"
    with pytest.raises(IntegrityError):  # the MAC key is shared; the AES key size is not: padding fails
        _read(tmp_path / "p", keys, format=other, encrypted_data_key=edk)
    raw = bytearray(blob)
    raw[40] ^= 4
    (tmp_path / "p").write_bytes(raw)
    with pytest.raises(IntegrityError):
        _read(tmp_path / "p", keys, format=f"legacy-{version}", encrypted_data_key=edk)


def test_keys_come_from_each_part_header_not_meta(tmp_path):
    """BigDL's append mode overwrites .meta: older parts must still read."""
    keys = PlaintextPrimaryKey(PRIMARY)
    first = write_directory(tmp_path, [b"old rows\n"], keys)
    second = write_directory(tmp_path, [b"new rows\n"], keys)
    assert read_meta(tmp_path) != ref.common_header(first[0].read_bytes())[0]
    parts = part_files(tmp_path)
    assert set(parts) == set(first + second)
    assert detect_format(tmp_path) == "common"
    assert {_read(p, keys) for p in parts} == {b"old rows\n", b"new rows\n"}


def test_meta_parsing_is_lenient_like_jackson(tmp_path):
    (tmp_path / ".meta").write_text('{"ENCRYPTEDdataKey": "abc", "other": 1}')
    assert read_meta(tmp_path) == "abc"
    (tmp_path / ".meta").write_text("not json")
    with pytest.raises(FormatError):
        read_meta(tmp_path)
    assert read_meta(tmp_path / "missing") is None if (tmp_path / "missing").mkdir() is None else False


def test_unknown_format_and_missing_key(tmp_path):
    (tmp_path / "p").write_bytes(b"\x00" * 64)
    keys = PlaintextPrimaryKey(PRIMARY)
    assert detect_format(tmp_path / "p") is None
    with pytest.raises(ValueError):
        open_part(tmp_path / "p", keys, format="orc")
    with pytest.raises(ValueError):
        open_part(tmp_path / "p", keys, format="legacy-2.2")
