"""The ``pyarrow.fs`` adapter of a :class:`~sealio.fs.policy.StoragePolicy`.

:class:`PolicyFileSystemHandler` translates pyarrow's ``FileSystemHandler``
calls into the policy's (sizes, listings, reads, writes, copies); it wraps
any pyarrow filesystem, or an fsspec one through ``FSSpecHandler``. Files on
local disk are read through file descriptors and written by atomic rename;
elsewhere through the base filesystem's own streams. Every file object
handed to Arrow is tracked by :mod:`sealio.fs.shutdown`, so the process
exits only once Arrow's threads are out of Python (pyarrow #45214).
:func:`EncryptedFileSystem` is the adapter over sealed files
(re-exported as :mod:`sealio.arrow`).
"""

from __future__ import annotations

import os
import posixpath
import threading
from concurrent.futures import Future
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from sealio.errors import SealioError
from sealio.fs import shutdown
from sealio.fs.policy import SealedCodec, StoragePolicy
from sealio.keys import KeyManager
from sealio.io.pool import executor
from sealio.io.reader import SealedReader

__all__ = ["ArrowReadable", "EncryptedFileSystem", "EncryptedFileSystemHandler", "PolicyFileSystemHandler",
           "as_arrow_fs", "local_root"]


def as_arrow_fs(base: Any) -> pafs.FileSystem:
    """``base`` as a pyarrow filesystem: a pyarrow one as it is, an fsspec
    one through ``pyarrow.fs.FSSpecHandler``."""
    if isinstance(base, pafs.FileSystem):
        return base
    try:
        import fsspec
    except ImportError:  # fsspec is optional: then no base can be an fsspec filesystem
        raise TypeError(f"base must be a pyarrow.fs.FileSystem, not {type(base).__name__} (fsspec "
                        "filesystems need fsspec, which is not installed: pip install 'sealio[fsspec]')") from None
    if isinstance(base, fsspec.AbstractFileSystem):
        return pafs.PyFileSystem(pafs.FSSpecHandler(base))
    raise TypeError(f"base must be a pyarrow.fs.FileSystem or an fsspec filesystem, not {type(base).__name__}")


def _foreground_writes(fs: pafs.FileSystem) -> pafs.FileSystem:
    """``fs`` with S3 background writes off.

    Our output streams are closed from inside Arrow's I/O threads (the
    handler is called there); an S3 stream with background writes waits in
    ``close()`` for uploads queued on that same thread pool, which deadlocks
    once every I/O thread is such a writer (many partitions, or a small
    ``pa.set_io_thread_count``). Uploading in the writing thread avoids it."""
    if isinstance(fs, pafs.SubTreeFileSystem):
        inner = _foreground_writes(fs.base_fs)
        return fs if inner is fs.base_fs else pafs.SubTreeFileSystem(fs.base_path, inner)
    if isinstance(fs, pafs.S3FileSystem):
        rebuild, (options,) = fs.__reduce__()
        if options.get("background_writes"):
            return rebuild(dict(options, background_writes=False))
    return fs


def local_root(fs: pafs.FileSystem) -> str | None:
    """The local directory that paths of ``fs`` are relative to ("" for
    LocalFileSystem itself), or None when ``fs`` is not on local disk."""
    if isinstance(fs, pafs.LocalFileSystem):
        return ""
    if isinstance(fs, pafs.SubTreeFileSystem) and isinstance(fs.base_fs, pafs.LocalFileSystem):
        return fs.base_path
    return None


DIRECT_MIN = 256 << 10  # reads this large decrypt straight into Arrow's buffer (no window copy)



class ArrowReadable:
    """The object ``pa.PythonFile`` reads from: a seekable plaintext reader
    plus ``read_buffer``, which Arrow takes without a copy. Readers without
    positional reads (BigDL's) fill each buffer sequentially."""

    def __init__(self, reader: Any, on_close: Any = None) -> None:
        self.reader = reader
        self._on_close = on_close
        shutdown.track(self)

    def read(self, nbytes: int | None = -1) -> bytes:
        with shutdown.call():
            return self.reader.read(nbytes)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.reader.seek(pos, whence)

    def tell(self) -> int:
        return self.reader.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self.reader.closed

    def read_buffer(self, nbytes: int | None = None) -> pa.Buffer:
        with shutdown.call():
            return self._read_buffer(nbytes)

    def _read_buffer(self, nbytes: int | None) -> pa.Buffer:
        r = self.reader
        left = max(0, r.size - r.tell())
        n = left if nbytes is None or nbytes < 0 else min(nbytes, left)
        buf = pa.allocate_buffer(n)
        got = r.readinto_full(memoryview(buf)) if n else 0
        return buf if got == n else buf.slice(0, got)

    def close(self) -> None:
        if self.reader.closed:
            return
        with shutdown.call(refuse=False):  # closing frees descriptors: allowed even at exit
            self._close()

    def _close(self) -> None:
        try:
            self.reader.close()  # closes the base file too
        finally:
            if self._on_close is not None:
                self._on_close(getattr(self.reader, "segments_decrypted", 0))


class _SealedReadable(ArrowReadable):
    """:class:`ArrowReadable` of a SealedReader. Large reads decrypt straight
    into a new Arrow buffer. When a stream is read in equal sequential
    blocks (CSV, JSON, IPC streams), the next block is decrypted in the
    background meanwhile, so decryption overlaps parsing; random access
    (Parquet) never prefetches."""

    def __init__(self, reader: SealedReader, on_close: Any) -> None:
        super().__init__(reader, on_close)
        self._last: tuple[int, int] = (-1, -1)  # (offset, size) of the previous large read
        self._ahead: tuple[int, int, Future[pa.Buffer]] | None = None

    def _read_at(self, offset: int, nbytes: int) -> pa.Buffer:
        buf = pa.allocate_buffer(nbytes)
        n = self.reader.readinto_at(offset, memoryview(buf))
        return buf if n == nbytes else buf.slice(0, n)

    def _take_ahead(self, offset: int, nbytes: int) -> pa.Buffer | None:
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        if ahead[0] == offset and ahead[1] == nbytes:
            return ahead[2].result()
        ahead[2].cancel()
        return None

    def _read_buffer(self, nbytes: int | None) -> pa.Buffer:
        r = self.reader
        pos = r.tell()
        if nbytes is None or nbytes < 0:
            nbytes = r.size - pos
        nbytes = max(0, min(nbytes, r.size - pos))
        if nbytes < DIRECT_MIN:
            self._take_ahead(-1, -1)
            buf = pa.allocate_buffer(nbytes)
            n = r.readinto(memoryview(buf)) if nbytes else 0
            return buf if n == nbytes else buf.slice(0, n)
        buf = self._take_ahead(pos, nbytes)
        if buf is None:
            buf = self._read_at(pos, nbytes)
        end = pos + len(buf)
        r.seek(end)
        if (pos == 0 or self._last == (pos - nbytes, nbytes)) and end < r.size:  # a stream's blocks
            nxt = min(nbytes, r.size - end)
            self._ahead = (end, nxt, executor().submit(self._read_at, end, nxt))  # sealio's one pool
        self._last = (pos, nbytes)
        return buf

    def _close(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None and not ahead[2].cancel():
            try:
                ahead[2].result()
            except SealioError:
                pass  # nobody asked for those bytes
        super()._close()


class _ArrowWritable:
    """The object ``pa.PythonFile`` writes to: the policy's writer, which
    publishes on close and discards on abort."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        shutdown.track(self)

    def write(self, data: Any) -> int:
        with shutdown.call():
            return self.writer.write(data)

    def tell(self) -> int:
        return self.writer.tell()

    def flush(self) -> None:
        pass  # sealing happens per segment; flushing a partial segment is not possible

    def writable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self.writer.closed

    def close(self) -> None:
        with shutdown.call():  # after exit began: refused, so nothing half-written is published
            self.writer.close()

    def abort(self) -> None:
        self.writer.abort()


def _restore(cls: type, base: pafs.FileSystem, policy: StoragePolicy) -> PolicyFileSystemHandler:
    handler = cls.__new__(cls)
    PolicyFileSystemHandler.__init__(handler, base, policy)
    return handler


class PolicyFileSystemHandler(pafs.FileSystemHandler):
    """``pyarrow.fs.FileSystemHandler`` of ``policy``'s files in ``base``.
    Pickles as its base and policy: only when the policy's keys are
    configuration, never key material."""

    def __init__(self, base: Any, policy: StoragePolicy) -> None:
        self.base = _foreground_writes(as_arrow_fs(base))
        self.policy = policy
        self._local = local_root(self.base)
        self._lock = threading.Lock()
        self.segments_decrypted = 0  # over all closed readers (for tests and benchmarks)

    def __reduce__(self) -> Any:
        self.policy.check_picklable()
        return (_restore, (type(self), self.base, self.policy))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PolicyFileSystemHandler) and other.base.equals(self.base) \
            and other.policy == self.policy

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base={self.base.type_name}, {self.policy.codec!r})"

    # -- translation helpers

    def _sniff(self, path: str) -> bytes:
        with self.base.open_input_stream(path, compression=None) as f:
            return f.read(8)

    def _plain_info(self, info: pafs.FileInfo) -> pafs.FileInfo:
        if info.type != pafs.FileType.File:
            return info
        size = self.policy.listed_size(info.size, lambda: self._sniff(info.path))
        return pafs.FileInfo(info.path, pafs.FileType.File, mtime=info.mtime, size=size)

    def _local_path(self, path: str) -> str | None:
        if self._local is None:
            return None
        return posixpath.join(self._local, path.lstrip("/")) if self._local else path

    def _count(self, segments: int) -> None:
        with self._lock:
            self.segments_decrypted += segments

    # -- FileSystemHandler

    def get_type_name(self) -> str:
        return f"{self.policy.kind}+{self.base.type_name}"

    def normalize_path(self, path: str) -> str:
        return self.base.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        with shutdown.call():
            return [self._plain_info(i) for i in self.base.get_file_info(paths)]

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        with shutdown.call():
            return [self._plain_info(i) for i in self.base.get_file_info(selector)
                    if not self.policy.hidden(i.base_name, is_file=i.type == pafs.FileType.File, size=i.size)]

    def create_dir(self, path: str, recursive: bool) -> None:
        self.policy.check_mutable()
        self.base.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.policy.check_mutable()
        self.base.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.policy.check_mutable()
        self.base.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        self.policy.check_mutable()
        self.base.delete_dir_contents("/", accept_root_dir=True)

    def delete_file(self, path: str) -> None:
        self.policy.check_mutable()
        self.base.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self.policy.check_mutable()
        if self.policy.reseals:
            self.copy_file(src, dest)
            self.base.delete_file(src)
        else:
            self.base.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self.policy.check_mutable()
        if not self.policy.reseals:
            self.base.copy_file(src, dest)
            return
        with self.open_input_stream(src) as fin, self.open_output_stream(dest, None) as fout:
            self.policy.reseal(fin, fout)

    def open_input_stream(self, path: str) -> pa.NativeFile:
        return self.open_input_file(path)

    def open_input_file(self, path: str) -> pa.NativeFile:
        with shutdown.call():
            return self._open_input_file(path)

    def _open_input_file(self, path: str) -> pa.NativeFile:
        owned = None
        source: Any = self._local_path(path)
        if source is not None:
            if not os.path.isfile(source):
                self.base.open_input_file(path).close()  # pyarrow's own error for a missing path
        else:
            source = owned = self.base.open_input_file(path)
        reader = self.policy.open_read(path, source, owned=owned, plain=lambda: self.base.open_input_file(path))
        if isinstance(reader, pa.NativeFile):
            return reader  # passthrough: the plain file itself
        readable = _SealedReadable(reader, self._count) if isinstance(reader, SealedReader) \
            else ArrowReadable(reader)
        return pa.PythonFile(readable, mode="r")

    def open_output_stream(self, path: str, metadata: Any) -> pa.NativeFile:
        with shutdown.call():
            return self._open_output_stream(path, metadata)

    def _open_output_stream(self, path: str, metadata: Any) -> pa.NativeFile:
        self.policy.check_can_write()
        target: Any = self._local_path(path)
        if target is not None:
            return pa.PythonFile(_ArrowWritable(self.policy.open_write(path, target)), mode="w")
        stream = self.base.open_output_stream(path, compression=None, metadata=metadata)

        def discard() -> None:
            try:
                if not stream.closed:
                    stream.close()  # the sealed file lacks its final segment: never readable
            finally:
                self.base.delete_file(path)

        writer = self.policy.open_write(path, stream, commit=stream.close, discard=discard)
        return pa.PythonFile(_ArrowWritable(writer), mode="w")

    def open_append_stream(self, path: str, metadata: Any) -> pa.NativeFile:
        self.policy.check_mutable()
        raise NotImplementedError("appending to a sealed file is not supported (rewrite it)")


class EncryptedFileSystemHandler(PolicyFileSystemHandler):
    """The handler behind :func:`EncryptedFileSystem`: sealed files.

    Picklable when ``keys`` is a KMS configuration string or a
    :class:`~sealio.kms.KmsRef` (only the string travels; workers rebuild
    the client); a live client object refuses to be pickled."""

    def __init__(self, base: Any, *, keys: Any, master_key: str | None = None,
                 segment_size: int | None = None, bind_paths: bool = False,
                 passthrough: bool = False, threads: int | None = None) -> None:
        codec = SealedCodec(keys, master_key=master_key, segment_size=segment_size, bind_paths=bind_paths,
                            passthrough=passthrough, threads=threads)
        super().__init__(base, StoragePolicy(codec))

    @property
    def keys(self) -> KeyManager:
        return self.policy.codec.keys


def EncryptedFileSystem(base: Any = None, *, keys: Any, master_key: str | None = None,  # noqa: N802
                        segment_size: int | None = None, bind_paths: bool = False,
                        passthrough: bool = False, threads: int | None = None,
                        native: bool | None = None) -> pafs.PyFileSystem:
    """A ``pyarrow.fs.FileSystem`` whose files are sealed files in ``base``.

    ``base``: any pyarrow filesystem (default: local disk; wrap a directory
    with ``pyarrow.fs.SubTreeFileSystem``) or an fsspec filesystem.
    ``keys``: a KMS configuration string (``local:///abs/keyring.json``;
    picklable), a :class:`~sealio.kms.KmsRef`, a KMS client or a
    :class:`~sealio.KeyManager`. ``master_key`` names the key new files are
    sealed under (default: the keyring's default). ``segment_size`` must be
    the one the files were written with (default 64 KiB): sizes are listed
    without reading files. ``bind_paths`` binds each file to its path (as
    AAD), so files cannot be swapped or renamed outside this filesystem.
    ``passthrough`` reads plaintext files as they are: for migrations only.
    ``native``: over a native pyarrow base the files are read and written in
    C++ with no Python call per read (:mod:`sealio.fs.native`) when the
    compiled module is there; None (default) chooses, and logs which,
    True requires it, False keeps the ``pyarrow.fs.PyFileSystem`` path.
    Both are ``PyFileSystem``s with this ``handler``, and have one policy.
    """
    from sealio.fs.native import choose

    handler = EncryptedFileSystemHandler(pafs.LocalFileSystem() if base is None else base, keys=keys,
                                         master_key=master_key, segment_size=segment_size,
                                         bind_paths=bind_paths, passthrough=passthrough, threads=threads)
    return choose(handler, native)
