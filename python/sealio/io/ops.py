"""What one does with a sealed file as a whole: :func:`open` it (binary or
text), :func:`rewrap` its key slot, :func:`inspect` its public header,
sniff it (:func:`is_sealed`), copy a stream through one buffer."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import IO, Any

from sealio.errors import FormatError, IntegrityError, NotSealedError
from sealio.format import header as H
from sealio.io.args import aad_bytes
from sealio.io.atomic import AtomicFileSink
from sealio.io.reader import SealedReader
from sealio.io.sources import source_for
from sealio.io.text import TextWriter
from sealio.io.writer import SealedWriter
from sealio.keys import key_manager
from sealio.kms import wrapped

__all__ = ["copy_stream", "inspect", "is_sealed", "open", "rewrap"]


def open(file: str | os.PathLike[str] | IO[bytes], mode: str = "rb", *, keys: Any,
         master_key: str | None = None, aad: bytes | str | None = None,
         segment_size: int | None = None, threads: int | None = None,
         require_commitment: bool = False, fsync: bool | None = None,
         encoding: str | None = None, errors: str | None = None,
         newline: str | None = None) -> Any:
    """Open a sealed file for reading (``"rb"``) or writing (``"wb"``, or
    ``"xb"``: a new file only, as :func:`open` does).

    ``keys`` is a :class:`~sealio.KmsClient` (e.g. :class:`~sealio.LocalKeyring`)
    or a :class:`~sealio.KeyManager`; ``master_key`` names the master key
    for writing (readers find it in the header). ``aad`` (bytes or str, e.g.
    the logical path) is bound into the file and must be given again to
    read it. ``segment_size`` (writing) is a power of two, 4 KiB..4 MiB,
    default 64 KiB. Text modes ``"r"``/``"rt"``/``"w"``/``"wt"`` wrap the
    binary stream in :class:`io.TextIOWrapper` (UTF-8 by default).
    ``threads`` (1..1024) bounds the decryption/encryption threads.
    Writers write format 1.1 (with a key commitment); readers read 1.0 and
    1.1, and ``require_commitment=True`` makes a reader refuse 1.0 files
    (:class:`UnsupportedFormatError`); it is a no-op for writers.
    A writer to a path publishes it by fsync and rename; ``fsync=False``
    skips the fsyncs (like ``cp``: faster, but a crash soon after may
    leave the file short, which a reader then refuses as truncated).
    Writers to a file object leave syncing to its owner. ``"x"`` modes
    raise :class:`FileExistsError` at open if the path exists, and at close
    if a file appeared there meanwhile (nothing is replaced).

    Raises :class:`NotSealedError` for a file that is not sealed,
    :class:`UnsupportedFormatError`, :class:`FormatError` or
    :class:`IntegrityError` as described in docs/FORMAT.md.
    """
    text = "b" not in mode
    base = mode.replace("b", "").replace("t", "")
    if base not in ("r", "w", "x") or ("b" in mode and "t" in mode) or len(mode) > 2:
        raise ValueError(f"invalid mode {mode!r}: use 'rb', 'wb', 'xb', 'r', 'w', 'x', 'rt', 'wt' or 'xt'")
    if not text and (encoding is not None or errors is not None or newline is not None):
        raise ValueError("encoding, errors and newline are for text modes only")
    raw: io.RawIOBase
    if base == "r":
        if segment_size is not None or master_key is not None or fsync is not None:
            raise ValueError("segment_size, master_key and fsync are for writing (the reader uses the header)")
        raw = SealedReader(file, keys, aad=aad, threads=threads, require_commitment=require_commitment)
        if not text:
            return raw
        return io.TextIOWrapper(io.BufferedReader(raw, 1 << 16), encoding=encoding or "utf-8",
                                errors=errors, newline=newline)
    raw = SealedWriter(file, keys, master_key=master_key, aad=aad, segment_size=segment_size,
                       threads=threads, fsync=True if fsync is None else bool(fsync), replace=base == "w")
    if not text:
        return raw
    return TextWriter(io.BufferedWriter(raw, 1 << 16), encoding=encoding or "utf-8",
                       errors=errors, newline=newline, write_through=False)


def rewrap(path: str | os.PathLike[str], keys: Any, *, new_master_key: str | None = None,
           new_keys: Any = None, aad: bytes | str | None = None, in_place: bool = False,
           require_commitment: bool = False) -> None:
    """Re-wrap a sealed file's DEK under ``new_master_key`` (default: the
    newest version of its current master key) without touching segments.
    The format version is kept (1.0 stays 1.0, 1.1 keeps its commitment);
    ``require_commitment=True`` refuses 1.0 files. The new file keeps the
    source's permission bits (never setuid/setgid/sticky).

    By default the file is copied to a temporary file with the new header
    and renamed into place (crash-safe). ``in_place=True`` overwrites the
    1024-byte header where it is (fast for huge files, but a crash in the
    middle of that write can destroy the header)."""
    mgr = key_manager(keys)
    target = key_manager(new_keys) if new_keys is not None else mgr
    with io.open(path, "rb") as fh:
        head = fh.read(H.HEADER_SIZE)
    new_header = mgr.rewrap_header(head, aad_bytes(aad), new_keys=target, new_master_key=new_master_key,
                                   require_commitment=require_commitment)
    assert len(new_header) == H.HEADER_SIZE
    if in_place:
        fd = os.open(path, os.O_WRONLY)
        try:
            if os.pwrite(fd, new_header, 0) != H.HEADER_SIZE:
                raise OSError("short write of the header")
            os.fsync(fd)
        finally:
            os.close(fd)
        return
    sink = AtomicFileSink(path, mode=os.stat(path).st_mode & 0o777)  # the source's bits, no special ones
    try:
        sink.write(memoryview(new_header))
        assert sink.fd is not None
        src = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(src).st_size
            offset = H.HEADER_SIZE
            while offset < size:
                n = os.sendfile(sink.fd, src, offset, min(size - offset, 1 << 30))
                if n == 0:
                    raise IntegrityError("sealed file shrank while being re-wrapped")
                offset += n
        finally:
            os.close(src)
        sink.publish()
    except BaseException:
        sink.abort()
        raise


def inspect(file: str | os.PathLike[str] | IO[bytes]) -> dict[str, Any]:
    """The public header fields and size arithmetic, without any key.

    Nothing here is authenticated (that needs the keys: ``verify``)."""
    src, name = source_for(file)
    try:
        head = bytearray(H.HEADER_SIZE)
        got = src.pread_into(0, memoryview(head))
        header = H.parse(memoryview(head)[:got])
        file_size = src.size()
    finally:
        src.close()
    info: dict[str, Any] = {
        "file": name,
        "format_version": header.version,
        "format_minor_version": header.minor_version,
        "format": header.version_string,  # "1.0" or "1.1"
        "key_commitment": header.committed,
        "algorithm": H.SUITE_NAMES[header.suite],
        "suite_id": header.suite,
        "segment_size": header.segment_size,
        "header_size": H.HEADER_SIZE,
        "file_size": file_size,
        "master_key_id": header.master_key_id,
        **wrapped.describe(header.wrapped_kek),  # the master key's version (or KMS key id)
        "kek_id": header.kek_id.hex(),
        "wrapped_kek_length": len(header.wrapped_kek),
    }
    try:
        plain, nseg = H.layout(file_size, header.segment_size)
        info.update(plaintext_size=plain, segment_count=nseg, size_valid=True)
    except (IntegrityError, FormatError):
        info.update(plaintext_size=None, segment_count=None, size_valid=False)
    return info


def is_sealed(file: str | os.PathLike[str]) -> bool:
    """Whether ``file`` starts with the sealed-file magic (cheap sniffing)."""
    with io.open(file, "rb") as fh:
        try:
            H.check_magic(fh.read(8))
        except NotSealedError:
            return False
    return True


def copy_stream(src: Any, dst: Any, *, chunk: int = 8 << 20,
                progress: Callable[[int], None] | None = None) -> int:
    """Copy a binary stream through one reused buffer; returns bytes copied."""
    buf = bytearray(chunk)
    mv = memoryview(buf)
    total = 0
    while True:
        n = src.readinto(mv)
        if not n:
            return total
        dst.write(mv[:n])
        total += n
        if progress is not None:
            progress(n)
