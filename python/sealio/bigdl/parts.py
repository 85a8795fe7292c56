"""Write several common-format part files at once with multi-buffer CBC.

One CBC chain is serial; BigDL writes many part files per job, so their
chains are encrypted side by side in the C core
(:func:`sealio.primitives.aes_cbc_encrypt_many_into`), a chunk of each
file per call, in bounded memory (``width`` files x 2 chunks).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sealio.bigdl.common import build_header
from sealio.bigdl.keys import KeySource, split_data_key
from sealio.bigdl.meta import write_meta
from sealio.primitives import AesCbc, aes_cbc_encrypt_many_into
from sealio.streams import _AtomicFileSink

__all__ = ["encrypt_parts", "part_name", "write_directory"]

CHUNK = 1 << 20
WIDTH = 8


def part_name(index: int, job_id: str, suffix: str = "csv") -> str:
    """Spark's part-file name with BigDL's ``.cbc`` suffix (BigDL reads
    only files ending in ``.cbc``)."""
    return f"part-{index:05d}-{job_id}-c000.{suffix}.cbc"


@dataclass
class _Part:
    src: IO[bytes]
    left: int
    sink: _AtomicFileSink
    iv: bytes
    mac: Any
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)


def _read_exact(f: IO[bytes], view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise OSError("a source file shrank while it was being encrypted")
        got += n


def encrypt_parts(jobs: Sequence[tuple[IO[bytes], int, str | os.PathLike[str]]], data_key: str,
                  encrypted_data_key: str, *, chunk: int = CHUNK, width: int = WIDTH,
                  progress: Callable[[int], None] | None = None) -> None:
    """Encrypt ``(source, size, destination)`` jobs into common-format part
    files under one data key (fresh IV each). Outputs appear atomically;
    on failure none of this group's outputs is published."""
    chunk = max(16, chunk - chunk % 16)
    hmac_key, aes_key = split_data_key(data_key)
    aes = AesCbc(aes_key)
    for lo in range(0, len(jobs), width):
        _encrypt_group(jobs[lo:lo + width], aes, hmac_key, encrypted_data_key, chunk, progress)


def _encrypt_group(jobs: Sequence[tuple[IO[bytes], int, Any]], aes: AesCbc, hmac_key: bytes, edk: str,
                   chunk: int, progress: Callable[[int], None] | None) -> None:
    parts: list[_Part] = []
    try:
        for src, size, dst in jobs:
            iv = secrets.token_bytes(16)
            part = _Part(src, size, _AtomicFileSink(dst), iv, hmac.new(hmac_key, digestmod=hashlib.sha256))
            parts.append(part)
            if size:
                part.sink.write(memoryview(build_header(edk, iv)))
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
                    _read_exact(p.src, v)
                    views.append(v)
                ns = aes_cbc_encrypt_many_into([(aes, p.iv, v) for p, v in zip(group, views)],
                                               [p.outbuf for p in group], padding=final)
                for p, v, n in zip(group, views, ns):
                    ct = memoryview(p.outbuf)[:n]
                    p.mac.update(ct)
                    p.sink.write(ct)
                    p.iv = bytes(ct[n - 16:n])
                    p.left -= len(v)
                    if final:
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


def write_directory(directory: str | os.PathLike[str], parts: Sequence[bytes | bytearray | memoryview],
                    keys: KeySource, *, suffix: str = "csv") -> list[Path]:
    """Write in-memory partitions as a BigDL directory: one data key for
    the call (as BigDL), a ``.meta`` naming it, part files in order."""
    import io

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    data_key, edk = keys.new_data_key()
    job_id = str(uuid.uuid4())
    paths = [d / part_name(i, job_id, suffix) for i in range(len(parts))]
    encrypt_parts([(io.BytesIO(bytes(p)), len(p), path) for p, path in zip(parts, paths)], data_key, edk)
    write_meta(d, edk)
    return paths
