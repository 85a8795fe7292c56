"""Sealed file format v1: header layout, parsing, key derivation, size math.

Pure functions over bytes (see ``docs/FORMAT.md``); no I/O and no KMS.
Parsing is strict: every reserved or padding byte must be zero, every
length in range, so that one byte string has at most one meaning.

Two minor versions exist: 1.0 (header byte 55 zero) and 1.1 (byte 55 = 1),
which adds a 32-byte key commitment at offset 900, taken from the end of
the wrapped-KEK field. Writers write 1.1; readers read both and, with
``require_commitment``, refuse 1.0.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from typing import NamedTuple

from sealio.errors import FormatError, IntegrityError, NotSealedError, UnsupportedFormatError
from sealio.hazmat import segments
from sealio.hazmat.segments import MAX_SEGMENTS, PREFIX_SIZE, TAG_SIZE

MAGIC = b"\x89SEALIO\n"
VERSION = 1
MINOR_1_0 = 0  # no key commitment (read only)
MINOR_COMMITTED = 1  # 1.1: key commitment in the header (written by default)
MINOR_VERSIONS = (MINOR_1_0, MINOR_COMMITTED)
SUITE_AES256GCM_HKDF_SHA256_STREAM = 1
SUITE_NAMES = {SUITE_AES256GCM_HKDF_SHA256_STREAM: "AES-256-GCM/HKDF-SHA256/STREAM"}
HEADER_SIZE = 1024
MIN_SEGMENT_LOG2 = 12  # 4 KiB
MAX_SEGMENT_LOG2 = 22  # 4 MiB
DEFAULT_SEGMENT_LOG2 = 16  # 64 KiB: see FORMAT.md "Choice of the default segment size"

SALT_SIZE = 32
KEK_ID_SIZE = 16
KEY_SIZE = 32
MASTER_KEY_ID_MAX = 160
WRAPPED_KEK_MAX = 697  # version 1.0
WRAPPED_KEK_MAX_COMMITTED = 665  # version 1.1: the last 32 bytes hold the commitment
COMMIT_SIZE = 32
DEK_NONCE_SIZE = 12
WRAPPED_DEK_SIZE = KEY_SIZE + TAG_SIZE

# Field offsets (FORMAT.md, "Header layout").
OFF_VERSION = 8
OFF_SUITE = 9
OFF_SEGMENT_LOG2 = 10
OFF_RESERVED1 = 11
OFF_HEADER_SIZE = 12
OFF_SALT = 16
OFF_PREFIX = 48
OFF_MINOR = 55  # minor version (reserved, zero, in 1.0)
OFF_KEK_ID = 56
OFF_MKID_LEN = 72
OFF_MKID = 73
OFF_WKEK_LEN = 233
OFF_WKEK = 235
OFF_COMMIT = 900  # 1.1 only: key commitment (1.0: wrapped-KEK padding)
OFF_DEK_NONCE = 932
OFF_WRAPPED_DEK = 944
OFF_MAC = 992
MAC_SIZE = 32
assert OFF_MKID + MASTER_KEY_ID_MAX == OFF_WKEK_LEN
assert OFF_WKEK + WRAPPED_KEK_MAX == OFF_DEK_NONCE
assert OFF_WKEK + WRAPPED_KEK_MAX_COMMITTED == OFF_COMMIT
assert OFF_COMMIT + COMMIT_SIZE == OFF_DEK_NONCE
assert OFF_MAC + MAC_SIZE == HEADER_SIZE

KDF_INFO_LABEL = b"sealio/v1"  # 1.0: okm = K_seg || K_hdr
KDF_INFO_LABEL_COMMITTED = b"sealio/v1.1"  # 1.1: okm = K_seg || K_hdr || commitment
DEK_WRAP_AAD_LABEL = b"sealio/v1/dek"


def wrapped_kek_max(minor: int) -> int:
    """Longest wrapped KEK a header of minor version ``minor`` can hold."""
    return WRAPPED_KEK_MAX_COMMITTED if minor == MINOR_COMMITTED else WRAPPED_KEK_MAX


_FIELDS = ("segment_log2", "salt", "nonce_prefix", "kek_id", "master_key_id", "wrapped_kek", "dek_nonce",
           "wrapped_dek", "mac", "version", "suite", "minor_version", "commitment", "raw_body")


class Header:
    """A parsed header. Nothing here is secret: the DEK is only present
    wrapped, and the wrapped KEK is opaque to everyone but the KMS.

    Immutable, compared and hashed by every field but ``raw_body`` (the
    parsed bytes a reader authenticates); :meth:`replace` makes a changed
    copy. Written out rather than a frozen dataclass: importing
    ``dataclasses`` (and ``inspect`` with it) was 6 ms of every CLI start."""

    __slots__ = _FIELDS
    segment_log2: int
    salt: bytes
    nonce_prefix: bytes
    kek_id: bytes
    master_key_id: str
    wrapped_kek: str
    dek_nonce: bytes
    wrapped_dek: bytes
    mac: bytes
    version: int
    suite: int
    minor_version: int
    commitment: bytes  # 32 bytes in 1.1 (set by the writer after derivation), empty in 1.0
    raw_body: bytes | None

    def __init__(self, segment_log2: int, salt: bytes, nonce_prefix: bytes, kek_id: bytes, master_key_id: str,
                 wrapped_kek: str, dek_nonce: bytes, wrapped_dek: bytes, mac: bytes = b"\x00" * MAC_SIZE,
                 version: int = VERSION, suite: int = SUITE_AES256GCM_HKDF_SHA256_STREAM,
                 minor_version: int = MINOR_COMMITTED, commitment: bytes = b"",
                 raw_body: bytes | None = None) -> None:
        values = (segment_log2, salt, nonce_prefix, kek_id, master_key_id, wrapped_kek, dek_nonce, wrapped_dek,
                  mac, version, suite, minor_version, commitment, raw_body)
        for name, value in zip(_FIELDS, values):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Header is immutable (cannot set {name!r}): use replace()")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Header is immutable (cannot delete {name!r})")

    def _compared(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in _FIELDS[:-1])

    def __eq__(self, other: object) -> bool:
        if type(other) is not Header:
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS[:-1])
        return f"Header({shown})"

    def replace(self, **changes: object) -> Header:
        """A copy with ``changes`` (field names as keywords)."""
        unknown = set(changes) - set(_FIELDS)
        if unknown:
            raise TypeError(f"Header has no field(s) {', '.join(sorted(unknown))}")
        values = {name: getattr(self, name) for name in _FIELDS}
        values.update(changes)
        return Header(**values)  # type: ignore[arg-type]

    @property
    def segment_size(self) -> int:
        return 1 << self.segment_log2

    @property
    def committed(self) -> bool:
        """Whether this header carries a key commitment (version 1.1)."""
        return self.minor_version == MINOR_COMMITTED

    @property
    def version_string(self) -> str:
        return f"{self.version}.{self.minor_version}"

    def body(self) -> bytes:
        """The 992 bytes covered by the header MAC (header[0:992])."""
        mkid = self.master_key_id.encode("utf-8")
        wkek = self.wrapped_kek.encode("ascii")
        check_fields(self.segment_log2, self.salt, self.nonce_prefix, self.kek_id, mkid, wkek,
                     self.dek_nonce, self.wrapped_dek, minor=self.minor_version)
        commitment = self.commitment
        if self.committed:
            if len(commitment) not in (0, COMMIT_SIZE):  # empty: not derived yet (zeros)
                raise ValueError(f"commitment must be {COMMIT_SIZE} bytes")
        elif commitment:
            raise ValueError("a version 1.0 header has no commitment")
        out = bytearray(OFF_MAC)
        out[0:8] = MAGIC
        out[OFF_VERSION] = self.version
        out[OFF_SUITE] = self.suite
        out[OFF_SEGMENT_LOG2] = self.segment_log2
        struct.pack_into(">I", out, OFF_HEADER_SIZE, HEADER_SIZE)
        out[OFF_SALT:OFF_SALT + SALT_SIZE] = self.salt
        out[OFF_PREFIX:OFF_PREFIX + PREFIX_SIZE] = self.nonce_prefix
        out[OFF_MINOR] = self.minor_version
        out[OFF_KEK_ID:OFF_KEK_ID + KEK_ID_SIZE] = self.kek_id
        out[OFF_MKID_LEN] = len(mkid)
        out[OFF_MKID:OFF_MKID + len(mkid)] = mkid
        struct.pack_into(">H", out, OFF_WKEK_LEN, len(wkek))
        out[OFF_WKEK:OFF_WKEK + len(wkek)] = wkek
        if commitment:
            out[OFF_COMMIT:OFF_COMMIT + COMMIT_SIZE] = commitment
        out[OFF_DEK_NONCE:OFF_DEK_NONCE + DEK_NONCE_SIZE] = self.dek_nonce
        out[OFF_WRAPPED_DEK:OFF_WRAPPED_DEK + WRAPPED_DEK_SIZE] = self.wrapped_dek
        return bytes(out)

    def pack(self) -> bytes:
        return self.body() + self.mac


def check_fields(segment_log2: int, salt: bytes, prefix: bytes, kek_id: bytes, mkid: bytes,
                 wkek: bytes, dek_nonce: bytes, wrapped_dek: bytes, *, minor: int = MINOR_COMMITTED) -> None:
    """Writer-side checks: refuse to produce a header a reader would refuse."""
    if minor not in MINOR_VERSIONS:
        raise ValueError(f"minor version must be one of {MINOR_VERSIONS}")
    if not MIN_SEGMENT_LOG2 <= segment_log2 <= MAX_SEGMENT_LOG2:
        raise ValueError(f"segment_log2 must be in {MIN_SEGMENT_LOG2}..{MAX_SEGMENT_LOG2}")
    for name, value, size in (("salt", salt, SALT_SIZE), ("nonce_prefix", prefix, PREFIX_SIZE),
                              ("kek_id", kek_id, KEK_ID_SIZE), ("dek_nonce", dek_nonce, DEK_NONCE_SIZE),
                              ("wrapped_dek", wrapped_dek, WRAPPED_DEK_SIZE)):
        if len(value) != size:
            raise ValueError(f"{name} must be {size} bytes")
    if len(mkid) > MASTER_KEY_ID_MAX:
        raise ValueError(f"master key id is longer than {MASTER_KEY_ID_MAX} bytes in UTF-8")
    if not 1 <= len(wkek) <= wrapped_kek_max(minor):
        raise ValueError(f"wrapped KEK must be 1..{wrapped_kek_max(minor)} ASCII characters")


def segment_size_log2(segment_size: int) -> int:
    """log2 of an allowed segment size (a power of two, 4 KiB..4 MiB)."""
    if (not isinstance(segment_size, int) or isinstance(segment_size, bool) or segment_size <= 0
            or segment_size & (segment_size - 1)):
        raise ValueError("segment_size must be a power of two")
    log2 = segment_size.bit_length() - 1
    if not MIN_SEGMENT_LOG2 <= log2 <= MAX_SEGMENT_LOG2:
        raise ValueError("segment_size must be between 4 KiB and 4 MiB")
    return log2


def check_magic(data: bytes | memoryview) -> None:
    """NotSealedError unless ``data`` starts with the magic (or is a prefix
    of it, which is a truncated sealed file, not another format)."""
    head = bytes(data[:8])
    if head != MAGIC[:len(head)] or not head:
        raise NotSealedError("not a sealed file (no sealio magic): refusing to pass it through")


def parse(data: bytes | memoryview, *, require_commitment: bool = False) -> Header:
    """Parse and validate the 1024-byte header without any key.

    Raises NotSealedError (wrong magic), UnsupportedFormatError (unknown
    version, minor version or suite; a 1.0 header when
    ``require_commitment``), IntegrityError (a sealed file cut inside its
    header) or FormatError (any other malformed field). Neither the
    commitment nor the MAC is checked here: that needs the DEK
    (:func:`verify_commitment`, :func:`verify_mac`).
    """
    data = bytes(data[:HEADER_SIZE])
    check_magic(data)
    if len(data) < 12:
        raise IntegrityError("sealed file is truncated inside its header")
    version, suite = data[OFF_VERSION], data[OFF_SUITE]
    if version != VERSION:
        raise UnsupportedFormatError(
            f"sealed file format version {version} is not supported (this sealio reads version {VERSION})")
    if suite != SUITE_AES256GCM_HKDF_SHA256_STREAM:
        raise UnsupportedFormatError(f"sealed file cipher suite {suite} is not supported")
    if len(data) < HEADER_SIZE:
        raise IntegrityError("sealed file is truncated inside its header")
    minor = data[OFF_MINOR]
    if minor not in MINOR_VERSIONS:
        raise UnsupportedFormatError(
            f"sealed file format version 1.{minor} is not supported (this sealio reads 1.0 and 1.1)")
    if require_commitment and minor != MINOR_COMMITTED:
        raise UnsupportedFormatError(
            "sealed file format version 1.0 has no key commitment: refused because "
            "require_commitment is set (re-encrypt the file to upgrade it to 1.1)")
    (header_size,) = struct.unpack_from(">I", data, OFF_HEADER_SIZE)
    if header_size != HEADER_SIZE:
        raise FormatError(f"header size field is {header_size}, version 1 requires {HEADER_SIZE}")
    log2 = data[OFF_SEGMENT_LOG2]
    if not MIN_SEGMENT_LOG2 <= log2 <= MAX_SEGMENT_LOG2:
        raise FormatError(f"segment size 2**{log2} is outside 4 KiB..4 MiB")
    if data[OFF_RESERVED1]:
        raise FormatError("reserved header byte is not zero")
    mkid_len = data[OFF_MKID_LEN]
    if mkid_len > MASTER_KEY_ID_MAX:
        raise FormatError("master key id length is out of range")
    if any(data[OFF_MKID + mkid_len:OFF_WKEK_LEN]):
        raise FormatError("master key id padding is not zero")
    try:
        mkid = data[OFF_MKID:OFF_MKID + mkid_len].decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("master key id is not valid UTF-8") from None
    (wkek_len,) = struct.unpack_from(">H", data, OFF_WKEK_LEN)
    wkek_end = OFF_COMMIT if minor == MINOR_COMMITTED else OFF_DEK_NONCE
    if not 1 <= wkek_len <= wkek_end - OFF_WKEK:
        raise FormatError("wrapped KEK length is out of range")
    if any(data[OFF_WKEK + wkek_len:wkek_end]):
        raise FormatError("wrapped KEK padding is not zero")
    wkek = data[OFF_WKEK:OFF_WKEK + wkek_len]
    if not all(0x20 <= b < 0x7F for b in wkek):
        raise FormatError("wrapped KEK is not printable ASCII")
    return Header(
        segment_log2=log2,
        salt=data[OFF_SALT:OFF_SALT + SALT_SIZE],
        nonce_prefix=data[OFF_PREFIX:OFF_PREFIX + PREFIX_SIZE],
        kek_id=data[OFF_KEK_ID:OFF_KEK_ID + KEK_ID_SIZE],
        master_key_id=mkid,
        wrapped_kek=wkek.decode("ascii"),
        dek_nonce=data[OFF_DEK_NONCE:OFF_DEK_NONCE + DEK_NONCE_SIZE],
        wrapped_dek=data[OFF_WRAPPED_DEK:OFF_WRAPPED_DEK + WRAPPED_DEK_SIZE],
        mac=data[OFF_MAC:HEADER_SIZE],
        minor_version=minor,
        commitment=data[OFF_COMMIT:OFF_DEK_NONCE] if minor == MINOR_COMMITTED else b"",
        raw_body=data[:OFF_MAC],
    )


def dek_wrap_aad(kek_id: bytes) -> bytes:
    return DEK_WRAP_AAD_LABEL + kek_id


class FileKeys(NamedTuple):
    """What HKDF derives from a file's DEK. ``commitment`` is None in 1.0."""

    k_seg: bytes
    k_hdr: bytes
    commitment: bytes | None

    def __repr__(self) -> str:  # never print key material
        return "FileKeys(...)"


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869) from the standard library's HMAC: the one KDF
    of the format, without importing ``cryptography`` (~10 ms of every CLI
    start). Checked against Wycheproof's vectors and ``cryptography``."""
    if not 0 < length <= 255 * 32:
        raise ValueError("HKDF-SHA256 output must be 1..8160 bytes")
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()  # an empty salt is HashLen zeros, as RFC 5869 says
    okm, block = bytearray(), b""
    for i in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        okm += block
    return bytes(okm[:length])


def derive_keys(dek: bytes, header: Header, aad: bytes | None) -> FileKeys:
    """K_seg, K_hdr (and in 1.1 the key commitment) from one HKDF-SHA256.

    ``info`` binds the label (which names the minor version), header[0:16]
    (magic, version, suite, segment size, header size), the nonce prefix and
    SHA-256 of the caller's AAD, so a reader with a different view of any of
    them derives unrelated keys. 1.0: L = 64; 1.1: label "sealio/v1.1",
    L = 96, commitment = okm[64:96].
    """
    fixed = bytes(MAGIC) + bytes([header.version, header.suite, header.segment_log2, 0]) \
        + struct.pack(">I", HEADER_SIZE)
    label = KDF_INFO_LABEL_COMMITTED if header.committed else KDF_INFO_LABEL
    info = label + fixed + header.nonce_prefix + hashlib.sha256(aad or b"").digest()
    length = 2 * KEY_SIZE + (COMMIT_SIZE if header.committed else 0)
    okm = hkdf_sha256(dek, header.salt, info, length)
    return FileKeys(okm[:KEY_SIZE], okm[KEY_SIZE:2 * KEY_SIZE],
                    okm[2 * KEY_SIZE:] if header.committed else None)


def verify_commitment(keys: FileKeys, header: Header) -> None:
    """Constant-time check of a 1.1 header's key commitment (a no-op for
    1.0); IntegrityError on mismatch. Runs before the MAC is checked and
    before any segment is decrypted."""
    if not header.committed:
        return
    if keys.commitment is None or not hmac.compare_digest(keys.commitment, header.commitment):
        raise IntegrityError("sealed file header failed authentication (key commitment does not match: "
                             "tampered header, wrong key or wrong AAD)")


def compute_mac(k_hdr: bytes, body: bytes) -> bytes:
    return hmac.new(k_hdr, body, hashlib.sha256).digest()


def verify_mac(k_hdr: bytes, header: Header) -> None:
    """Constant-time header MAC check; IntegrityError on mismatch."""
    body = header.raw_body if header.raw_body is not None else header.body()
    if not hmac.compare_digest(compute_mac(k_hdr, body), header.mac):
        raise IntegrityError("sealed file header failed authentication "
                             "(tampered header, wrong key or wrong AAD)")


def layout(file_size: int, segment_size: int) -> tuple[int, int]:
    """(plaintext size, segment count) of a sealed file of ``file_size``
    bytes; IntegrityError when no valid file has that size (truncation)."""
    return segments.layout(file_size - HEADER_SIZE, segment_size)


def sealed_size(plain_size: int, segment_size: int) -> int:
    """File size of a sealed file holding ``plain_size`` bytes (inverse of layout)."""
    return HEADER_SIZE + segments.sealed_size(plain_size, segment_size)
