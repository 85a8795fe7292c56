"""Fuzz target: ``sealio.open(..., "rb")`` and ``SealedReader`` on arbitrary
bytes, with a real LocalKeyring, so inputs mutated from the sealed seeds
get past the magic, the header MAC and the key unwrap.

Input: ``mode (1) ‖ offset (BE64, signed) ‖ size (BE64, signed) ‖ file``.
mode bit 0: read from a path (else a BytesIO); bits 1-2: read pattern
(``read()``, ``read_at``, ``seek``+buffered reads, ``readinto_at``); bits
3-4: ``threads`` (None, 1, 2, None); bit 7: the AAD the seeds that set it
were sealed with.

Properties: opening raises only ``SealioError`` subclasses; a positional
or seek call raises ``ValueError`` only for the negative offset or size
its docstring names, otherwise only ``SealioError``; a read never returns
more than asked nor past the size; after a failure the reader stays
failed (every later read raises ``IntegrityError``).
"""

from __future__ import annotations

import gc
import io
import shutil
import struct

import atheris

with atheris.instrument_imports(include=["sealio"]):
    import sealio
    from sealio.errors import IntegrityError, SealioError

import _harness
import make_corpus

PREFIX = make_corpus.OPEN_PREFIX
_ring_path = _harness.scratch_dir() / "open.keyring.json"
shutil.copyfile(make_corpus.OPEN_KEYRING, _ring_path)
_ring_path.chmod(0o600)
KEYS = sealio.LocalKeyring(_ring_path)
FILE = _harness.scratch_dir() / "input.sealed"
MAX_BUFFER = 1 << 20  # what this caller is willing to allocate for readinto_at
_failures = 0


def _reads(r: sealio.SealedReader, pattern: int, offset: int, size: int) -> None:
    total = r.size
    if pattern == 0:
        data = r.read()
        if len(data) != total:
            raise AssertionError(f"read() returned {len(data)} of {total} bytes")
    elif pattern == 1:
        expect = ValueError if offset < 0 or size < 0 else ()
        with _harness.allowed(*((expect,) if expect else ())):
            data = r.read_at(offset, size)
            if len(data) > max(0, min(size, total - offset)):
                raise AssertionError("read_at returned more than asked for or past the end")
    elif pattern == 2:
        if offset < 0:
            with _harness.allowed(ValueError):
                r.seek(offset)
            return
        r.seek(offset)
        buffered = io.BufferedReader(r, 1 << 14)
        got = buffered.read(max(0, min(size, MAX_BUFFER)))
        if len(got) > max(0, total - offset):
            raise AssertionError("a sequential read ran past the end")
    else:
        buf = bytearray(max(0, min(abs(size), MAX_BUFFER)))
        with _harness.allowed(*((ValueError,) if offset < 0 else ())):
            n = r.readinto_at(offset, buf)
            if not 0 <= n <= len(buf):
                raise AssertionError(f"readinto_at returned {n} for a {len(buf)}-byte buffer")


def one_input(data: bytes) -> None:
    global _failures
    if len(data) < PREFIX.size:
        return
    mode, offset, size = PREFIX.unpack_from(data)
    body = data[PREFIX.size:]
    aad = make_corpus.OPEN_AAD if mode & 0x80 else None
    threads = (None, 1, 2, None)[(mode >> 3) & 3]
    if mode & 1:
        FILE.write_bytes(body)
        source: object = FILE
    else:
        source = io.BytesIO(body)
    try:
        with sealio.open(source, "rb", keys=KEYS, aad=aad, threads=threads) as r:
            try:
                _reads(r, (mode >> 1) & 3, offset, size)
            except IntegrityError:
                # sticky: the reader must refuse every later read
                try:
                    r.read_at(0, 1)
                except IntegrityError:
                    pass
                else:
                    if r.size:
                        raise AssertionError("a reader read again after an authentication failure") from None
                raise
    except SealioError:
        _failures += 1
        if _failures % 64 == 0:  # tampered reads then a collection once crashed the process (issue 12)
            gc.collect()


if __name__ == "__main__":
    _harness.main(one_input)
