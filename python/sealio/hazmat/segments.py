"""STREAM segment arithmetic: the one place that knows how plaintext maps
onto sealed segments (``docs/FORMAT.md``, "Segments").

A plaintext of ``n`` bytes is cut into ``segment_size`` pieces, the last
one possibly short but present even when ``n == 0``; every piece gains a
16-byte tag. Segment ``i`` uses the nonce ``prefix(7) || BE32(i) || last``.
The primitives, the header module and the reader/writer all size their
buffers from these functions, so they cannot disagree.
"""

from __future__ import annotations

import struct

from sealio.errors import FormatError, IntegrityError

TAG_SIZE = 16
NONCE_SIZE = 12
PREFIX_SIZE = 7
MAX_SEGMENTS = 1 << 32  # 32-bit segment indexes

__all__ = [
    "MAX_SEGMENTS", "NONCE_SIZE", "PREFIX_SIZE", "TAG_SIZE", "layout", "opened_size", "sealed_count",
    "sealed_offset", "sealed_size", "segment_count", "stream_nonce",
]


def segment_count(plain_len: int, segment_size: int) -> int:
    """Segments that ``plain_len`` plaintext bytes make (at least one)."""
    return max(1, -(-plain_len // segment_size))


def sealed_size(plain_len: int, segment_size: int) -> int:
    """Sealed bytes (ciphertext and tags) of ``plain_len`` plaintext bytes."""
    return plain_len + TAG_SIZE * segment_count(plain_len, segment_size)


def sealed_count(sealed_len: int, segment_size: int) -> int:
    """Segments in ``sealed_len`` bytes of sealed segments (at least one)."""
    return max(1, -(-sealed_len // (segment_size + TAG_SIZE)))


def opened_size(sealed_len: int, segment_size: int) -> int:
    """Plaintext bytes in ``sealed_len`` bytes of sealed segments (may be
    negative for a truncated batch: callers check :func:`layout` first)."""
    return sealed_len - TAG_SIZE * sealed_count(sealed_len, segment_size)


def sealed_offset(index: int, segment_size: int) -> int:
    """Offset of segment ``index`` from the start of the segments."""
    return index * (segment_size + TAG_SIZE)


def layout(sealed_len: int, segment_size: int) -> tuple[int, int]:
    """(plaintext size, segment count) of ``sealed_len`` bytes of segments;
    IntegrityError when no complete stream has that size (truncation):
    every segment but a lone empty one holds at least one plaintext byte."""
    if sealed_len < TAG_SIZE:
        raise IntegrityError("sealed file is truncated (no final segment)")
    n = sealed_count(sealed_len, segment_size)
    last = sealed_len - (n - 1) * (segment_size + TAG_SIZE)
    if last < TAG_SIZE + 1 and not (last == TAG_SIZE and n == 1):
        raise IntegrityError("sealed file is truncated (size does not end on a segment)")
    if n > MAX_SEGMENTS:
        raise FormatError("sealed file has more than 2**32 segments")
    return sealed_len - TAG_SIZE * n, n


def stream_nonce(prefix: bytes | memoryview, index: int, last: bool) -> bytes:
    """STREAM nonce: prefix(7) || BE32(index) || last flag (1 byte)."""
    return bytes(prefix) + struct.pack(">IB", index, 1 if last else 0)
