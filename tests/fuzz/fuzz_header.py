"""Fuzz target: the sealed-file header parser (``sealio.format.header``), no keys.

Input: the first bytes of a would-be sealed file; the last 9 bytes also
give a file size and a segment size for ``layout``.

Properties: ``check_magic``/``parse`` raise only ``SealioError``
subclasses; a header that parses packs back to exactly its 1024 input
bytes (FORMAT.md: one byte string has at most one meaning); ``layout``
raises only ``SealioError`` and, when it accepts a size, ``sealed_size``
maps its answer back to that size.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["sealio"]):
    from sealio.format import header as H
    from sealio.errors import SealioError

import _harness


def one_input(data: bytes) -> None:
    with _harness.allowed(SealioError):
        H.check_magic(data)
    with _harness.allowed(SealioError):
        header = H.parse(data)
        packed = header.pack()
        if packed != data[:H.HEADER_SIZE]:
            raise AssertionError("a parsed header does not pack back to its bytes")
        if H.parse(packed) != header:
            raise AssertionError("re-parsing a packed header changed it")
    if len(data) >= 9:
        file_size = int.from_bytes(data[-9:-1], "big")
        log2 = H.MIN_SEGMENT_LOG2 + data[-1] % (H.MAX_SEGMENT_LOG2 - H.MIN_SEGMENT_LOG2 + 1)
        seg = 1 << log2
        with _harness.allowed(SealioError):
            plain, n = H.layout(file_size, seg)
            if H.sealed_size(plain, seg) != file_size or n < 1 or plain < 0:
                raise AssertionError(f"layout({file_size}, {seg}) = {(plain, n)} is not invertible")


if __name__ == "__main__":
    _harness.main(one_input)
