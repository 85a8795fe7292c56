"""BigDL's other file formats, format detection and one ``open_part``.

* ``native`` (``spark.bigdl.encryter.type=nativeaescbc``): IV(16) ||
  AES-CBC/PKCS5 under the raw primary key. No header, no MAC: read with an
  :class:`~sealio.errors.UnverifiedDataWarning`.
* ``legacy-2.1`` / ``legacy-2.2``: 0x80 || int64 BE epoch seconds || IV(16)
  || CBC ciphertext || HMAC-SHA256(ciphertext). The data key comes from a
  separate dataKey file; 2.2 uses AES-128 (text[16:32]), 2.1 AES-256
  (text[16:48], zero-padded).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import IO

from sealio.bigdl.cbcstream import CbcRangeReader, open_source
from sealio.bigdl.common import HEADER_SIZE, looks_common, open_common
from sealio.bigdl.keys import KeySource, PlaintextPrimaryKey, split_data_key
from sealio.bigdl.meta import read_meta
from sealio.errors import FormatError, IntegrityError
from sealio.primitives import AesCbc

__all__ = ["FORMATS", "detect_format", "open_legacy", "open_native", "open_part"]

FORMATS = ("common", "native", "legacy-2.1", "legacy-2.2")
LEGACY_PREFIX = 1 + 8 + 16
MAC_SIZE = 32


def open_native(file: str | os.PathLike[str] | IO[bytes], primary: PlaintextPrimaryKey) -> CbcRangeReader:
    """Plaintext of a native-format file (unauthenticated: the format has no MAC)."""
    f, owns = open_source(file)
    try:
        size = f.seek(0, os.SEEK_END)
        f.seek(0)
        iv = f.read(16)
        if size < 32 or size % 16:
            raise IntegrityError("BigDL native file: not IV plus whole AES blocks (truncated?)")
        return CbcRangeReader(f, owns, 16, size, iv, AesCbc(primary.primary_key), mac_key=None, tag=None,
                              what=str(getattr(f, "name", "BigDL native file")))
    except BaseException:
        if owns:
            f.close()
        raise


def open_legacy(file: str | os.PathLike[str] | IO[bytes], data_key: str, version: str, *,
                verify_mac: bool = True) -> CbcRangeReader:
    """Plaintext of a BigDL 2.1 or 2.2 file, HMAC verified first."""
    if version not in ("2.1", "2.2"):
        raise ValueError("version must be '2.1' or '2.2'")
    f, owns = open_source(file)
    try:
        size = f.seek(0, os.SEEK_END)
        f.seek(0)
        head = f.read(LEGACY_PREFIX)
        if len(head) < LEGACY_PREFIX or head[0] != 0x80:
            raise FormatError("not a BigDL 2.1/2.2 file: it does not start with 0x80")
        if size < LEGACY_PREFIX + 16 + MAC_SIZE:
            raise IntegrityError("BigDL legacy file: truncated")
        f.seek(size - MAC_SIZE)
        tag = f.read(MAC_SIZE)
        hmac_key, aes_key = split_data_key(data_key, 32 if version == "2.1" else 16)
        return CbcRangeReader(f, owns, LEGACY_PREFIX, size - MAC_SIZE, head[9:25], AesCbc(aes_key),
                              mac_key=hmac_key, tag=tag, verify_mac=verify_mac,
                              what=str(getattr(f, "name", "BigDL legacy file")))
    except BaseException:
        if owns:
            f.close()
        raise


def _looks_legacy(head: bytes, size: int) -> bool:
    if len(head) < LEGACY_PREFIX or head[0] != 0x80:
        return False
    body = size - LEGACY_PREFIX - MAC_SIZE
    epoch = struct.unpack_from(">q", head, 1)[0]
    return body >= 16 and body % 16 == 0 and 946684800 <= epoch <= 4102444800  # 2000..2100


def detect_format(path: str | os.PathLike[str]) -> str | None:
    """The format of a part file, or of a directory's parts, when the bytes
    say so unambiguously: ``common``; ``native`` (only from an empty
    ``.meta``); ``legacy`` (2.1 and 2.2 look alike: the caller must choose);
    None when unknown."""
    p = Path(path)
    if p.is_dir():
        if read_meta(p) == "":
            return "native"
        parts = part_files(p)
        return detect_format(parts[0]) if parts else None
    if p.parent.joinpath(".meta").exists() and read_meta(p.parent) == "":
        return "native"
    size = p.stat().st_size
    with open(p, "rb") as f:
        head = f.read(HEADER_SIZE)
    if looks_common(head, size):
        return "common"
    if _looks_legacy(head, size):
        return "legacy"
    return None


def part_files(directory: str | os.PathLike[str]) -> list[Path]:
    """A BigDL output directory's data files, in name order (hidden and
    ``_``-prefixed files such as ``.meta``, ``_SUCCESS``, ``.crc`` skipped)."""
    return sorted(q for q in Path(directory).iterdir()
                  if q.is_file() and not q.name.startswith((".", "_")) and not q.name.endswith(".sealio-tmp"))


def open_part(path: str | os.PathLike[str] | IO[bytes], keys: KeySource, *, format: str = "common",
              verify_mac: bool = True, encrypted_data_key: str | None = None) -> CbcRangeReader:
    """Open one BigDL part file of ``format`` for reading.

    ``common`` takes its key from the file's own header; the legacy formats
    need ``encrypted_data_key`` (the dataKey file's text); ``native`` needs
    a :class:`PlaintextPrimaryKey`."""
    if format == "common":
        return open_common(path, keys, verify_mac=verify_mac)
    if format == "native":
        if not isinstance(keys, PlaintextPrimaryKey):
            raise ValueError("the native format is encrypted with a plaintext primary key")
        return open_native(path, keys)
    if format in ("legacy-2.1", "legacy-2.2"):
        if encrypted_data_key is None:
            raise ValueError("the legacy formats need the encrypted data key (the dataKey file)")
        return open_legacy(path, keys.unwrap(encrypted_data_key), format[-3:], verify_mac=verify_mac)
    raise ValueError(f"unknown BigDL format {format!r}: one of {', '.join(FORMATS)}")
