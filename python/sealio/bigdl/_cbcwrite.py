"""Several BigDL CBC part files written side by side.

The common and native formats differ only in what comes before the
ciphertext (a 400-byte header, or the bare IV) and whether an HMAC of the
ciphertext follows. BigDL uses one data key per write call, so a call's
parts share a key and their CBC chains can run interleaved through the C
core's multi-buffer kernel: a chunk of each file per call, in bounded
memory. Each output appears atomically; a failing group publishes nothing.
An empty source gives a 0-byte file, as BigDL's Spark writer leaves an
empty partition.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import IO, Any

from sealio.bigdl._cbcfile import read_exact
from sealio.hazmat import AesCbc, aes_cbc_encrypt_many_into
from sealio.io.atomic import AtomicFileSink

__all__ = ["encrypt_streams"]

BLOCK = 16

Job = tuple[IO[bytes], int, "str | os.PathLike[str]"]


@dataclass
class _Part:
    src: IO[bytes]
    left: int
    sink: AtomicFileSink
    iv: bytes
    mac: Any
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)


def _source_shrank() -> OSError:
    return OSError("a source file shrank while it was being encrypted")


def encrypt_streams(jobs: Sequence[Job], aes: AesCbc, *, header: Callable[[bytes], bytes],
                    hmac_key: bytes | None, chunk: int, width: int,
                    progress: Callable[[int], None] | None = None) -> None:
    """Encrypt ``(source, size, destination)`` streams, each under a fresh
    IV: ``header(iv)`` first, then the CBC/PKCS5 ciphertext, then
    HMAC-SHA256(``hmac_key``, ciphertext) unless ``hmac_key`` is None;
    ``width`` chains at a time."""
    chunk = max(BLOCK, chunk - chunk % BLOCK)
    for lo in range(0, len(jobs), width):
        _encrypt_group(jobs[lo:lo + width], aes, header, hmac_key, chunk, progress)


def _encrypt_group(jobs: Sequence[Job], aes: AesCbc, header: Callable[[bytes], bytes], hmac_key: bytes | None,
                   chunk: int, progress: Callable[[int], None] | None) -> None:
    parts: list[_Part] = []
    try:
        for src, size, dst in jobs:
            iv = secrets.token_bytes(BLOCK)
            mac = None if hmac_key is None else hmac.new(hmac_key, digestmod=sha256)
            part = _Part(src, size, AtomicFileSink(dst), iv, mac)
            parts.append(part)
            if size:
                part.sink.write(memoryview(header(iv)))
                part.inbuf = bytearray(min(size, chunk))
                part.outbuf = bytearray(AesCbc.encrypted_size(min(size, chunk)))
        active = [p for p in parts if p.left]
        while active:
            for final in (False, True):
                group = [p for p in active if (p.left <= chunk) == final]
                if not group:
                    continue
                views = []
                for p in group:
                    v = memoryview(p.inbuf)[:min(p.left, chunk)]
                    read_exact(p.src, v, _source_shrank)
                    views.append(v)
                ns = aes_cbc_encrypt_many_into([(aes, p.iv, v) for p, v in zip(group, views)],
                                               [p.outbuf for p in group], padding=final)
                for p, v, n in zip(group, views, ns):
                    ct = memoryview(p.outbuf)[:n]
                    if p.mac is not None:
                        p.mac.update(ct)
                    p.sink.write(ct)
                    p.iv = bytes(ct[n - BLOCK:n])
                    p.left -= len(v)
                    if final and p.mac is not None:
                        p.sink.write(memoryview(p.mac.digest()))
                    if progress is not None:
                        progress(len(v))
            active = [p for p in active if p.left]
        for p in parts:
            p.sink.publish()
    except BaseException:
        for p in parts:
            p.sink.abort()
        raise
