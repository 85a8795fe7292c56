"""BigDL output directories laid out as BigDL's Spark writer leaves them,
for tests (never imports sealio; the bytes come from the independent
reference, tests/bigdl_xref.py).

A Spark job under BigDL PPML writes, through Hadoop's local
``ChecksumFileSystem``: one ``part-NNNNN-<job uuid>-c000.<ext>.cbc`` per
partition (CryptoCodec's extension), a **0-byte part for an empty
partition** in every CBC format (the codec writes its header with the
first byte of data), ``_SUCCESS``, the ``.meta`` that BigDL's
``KeyLoader.writeEncryptedDataKey`` writes after the job (Jackson's pretty
print; ``""`` for the native format under a plaintext primary key; none
for the 2.1/2.2 formats, which keep the data key in a separate file), and
a ``.<name>.crc`` sidecar for every file Hadoop wrote.
"""

from __future__ import annotations

import base64
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bigdl_xref as xref

JOB_UUID = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
PRIMARY = base64.b64encode(bytes(range(0x30, 0x40))).decode()  # plaintext primary key (AES-128)
EPOCH = 1_650_000_000
FORMATS = ("common", "native", "legacy-2.2")


def hadoop_crc(data: bytes, bytes_per_checksum: int = 512) -> bytes:
    """A Hadoop ``ChecksumFileSystem`` sidecar: ``crc\\0``, BE32 bytes per
    checksum, then the CRC-32 of each chunk (an empty file: the header only)."""
    out = bytearray(b"crc\x00" + struct.pack(">i", bytes_per_checksum))
    for i in range(0, len(data), bytes_per_checksum):
        out += struct.pack(">I", zlib.crc32(data[i:i + bytes_per_checksum]))
    return bytes(out)


def _hadoop_write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    (path.parent / f".{path.name}.crc").write_bytes(hadoop_crc(data))


@dataclass(frozen=True)
class SparkOutput:
    """What was written: the directory, each part's path and plaintext (b""
    for an empty partition), and the data key text (None for native)."""

    path: Path
    parts: dict[Path, bytes]
    data_key: str | None

    @property
    def empty_parts(self) -> list[Path]:
        return [p for p, plain in self.parts.items() if not plain]


def write_spark_output(d: Path, partitions: Sequence[bytes], fmt: str, *, ext: str = "csv") -> SparkOutput:
    """``partitions`` (b"" = an empty partition) as BigDL's Spark writer
    leaves them in ``fmt`` (common, native, legacy-2.2), under
    :data:`PRIMARY` (the legacy data key is the reference's own)."""
    d.mkdir(parents=True)
    dk = xref.plaintext_new_data_key()
    edk = xref.plaintext_wrap(PRIMARY, dk)
    parts: dict[Path, bytes] = {}
    for i, plain in enumerate(partitions):
        part = d / f"part-{i:05d}-{JOB_UUID}-c000.{ext}.cbc"
        iv = os.urandom(16)
        if not plain:
            blob = b""  # the codec never wrote its header: an empty partition is a 0-byte file
        elif fmt == "common":
            blob = xref.common_encrypt(dk, edk, iv, plain)
        elif fmt == "native":
            blob = xref.native_encrypt(PRIMARY, iv, plain)
        elif fmt == "legacy-2.2":
            blob = xref.legacy_encrypt(dk, "2.2", EPOCH, iv, plain)
        else:
            raise ValueError(fmt)
        _hadoop_write(part, blob)
        parts[part] = plain
    _hadoop_write(d / "_SUCCESS", b"")
    if fmt == "common":
        _hadoop_write(d / ".meta", xref.meta_text(edk).encode())
    elif fmt == "native":
        _hadoop_write(d / ".meta", xref.meta_text("").encode())
    return SparkOutput(d, parts, None if fmt == "native" else dk)


def people_partitions(n_parts: int = 4, rows: int = 40, empty: Sequence[int] = (1, 3),
                      header: bool = True) -> list[bytes]:
    """SimpleQuery's people CSV in ``n_parts`` partitions, those in
    ``empty`` with no rows (Spark writes no header for them either)."""
    jobs = ("Developer", "Engineer", "Researcher")
    out = []
    for p in range(n_parts):
        if p in empty:
            out.append(b"")
            continue
        lines = ["name,age,job"] if header else []
        lines += [f"p{p}r{r},{18 + (p * 7 + r) % 43},{jobs[(p + r) % 3]}" for r in range(rows)]
        out.append(("\n".join(lines) + "\n").encode())
    return out


def json_partitions(n_parts: int = 3, rows: int = 20, empty: Sequence[int] = (1,)) -> list[bytes]:
    """The same people as JSON lines (``df.write.json``)."""
    out = []
    for p in range(n_parts):
        out.append(b"" if p in empty else "".join(
            f'{{"name":"p{p}r{r}","age":{18 + r}}}\n' for r in range(rows)).encode())
    return out
