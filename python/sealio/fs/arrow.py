"""``EncryptedFileSystem``: a ``pyarrow.fs`` filesystem of sealed files.

Every file below the wrapped filesystem is a sealed file (docs/FORMAT.md)
under the same name, so datasets, format and compression detection by
extension work unchanged. Sizes are plaintext sizes computed from the
ciphertext sizes (no file is read to list a directory); reads decrypt only
the segments they touch; writes seal on the fly and publish whole files only.
"""

from __future__ import annotations

import os
import posixpath
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from sealio import _header as H
from sealio.errors import FormatError, IntegrityError, NotSealedError, SealioError
from sealio.keys import KeyManager, key_manager
from sealio.streams import SealedReader, SealedWriter

__all__ = ["EncryptedFileSystem", "EncryptedFileSystemHandler"]


def _as_arrow_fs(base: Any) -> pafs.FileSystem:
    if isinstance(base, pafs.FileSystem):
        return base
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec is optional
        fsspec = None
    if fsspec is not None and isinstance(base, fsspec.AbstractFileSystem):
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


def _local_root(fs: pafs.FileSystem) -> str | None:
    """The local directory that paths of ``fs`` are relative to ("" for
    LocalFileSystem itself), or None when ``fs`` is not on local disk."""
    if isinstance(fs, pafs.LocalFileSystem):
        return ""
    if isinstance(fs, pafs.SubTreeFileSystem) and isinstance(fs.base_fs, pafs.LocalFileSystem):
        return fs.base_path
    return None


def _picklable_keys(keys: Any) -> Any:
    """The configuration (str or KmsRef) that rebuilds ``keys`` in another
    process, or None when ``keys`` is a live client that holds secrets."""
    from sealio.kms import KmsRef

    if isinstance(keys, (str, KmsRef)):
        return keys
    return None


DIRECT_MIN = 256 << 10  # reads this large decrypt straight into Arrow's buffer (no window copy)

_prefetch_pool: ThreadPoolExecutor | None = None
_prefetch_lock = threading.Lock()


def _prefetcher() -> ThreadPoolExecutor:
    global _prefetch_pool
    with _prefetch_lock:
        if _prefetch_pool is None:
            _prefetch_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sealio-arrow-prefetch")
        return _prefetch_pool


class ArrowReadableBase:
    """What ``pa.PythonFile`` needs of a readable handle, delegated to a
    seekable ``reader``; subclasses add ``read_buffer`` and ``close``."""

    reader: Any

    def read(self, nbytes: int | None = -1) -> bytes:
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


class _ArrowReadable(ArrowReadableBase):
    """The object ``pa.PythonFile`` reads from: a SealedReader plus
    ``read_buffer``, which Arrow takes without a copy.

    Large reads decrypt straight into a new Arrow buffer. When a stream is
    read in equal sequential blocks (CSV, JSON, IPC streams), the next
    block is decrypted in the background meanwhile, so decryption overlaps
    parsing; random access (Parquet) never prefetches."""

    def __init__(self, reader: SealedReader, base_file: Any, on_close: Any) -> None:
        self.reader = reader
        self._base_file = base_file
        self._on_close = on_close
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

    def read_buffer(self, nbytes: int | None = None) -> pa.Buffer:
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
            self._ahead = (end, nxt, _prefetcher().submit(self._read_at, end, nxt))
        self._last = (pos, nbytes)
        return buf

    def close(self) -> None:
        if self.reader.closed:
            return
        ahead, self._ahead = self._ahead, None
        if ahead is not None and not ahead[2].cancel():
            try:
                ahead[2].result()
            except SealioError:
                pass  # nobody asked for those bytes
        segments = self.reader.segments_decrypted
        try:
            self.reader.close()
        finally:
            if self._base_file is not None:
                self._base_file.close()
            self._on_close(segments)


class _ArrowWritable:
    """The object ``pa.PythonFile`` writes to: a SealedWriter, and the base
    stream it writes into (closed on success, discarded on abort)."""

    def __init__(self, writer: SealedWriter, base_stream: Any, on_abort: Any) -> None:
        self.writer = writer
        self._base = base_stream
        self._on_abort = on_abort

    def write(self, data: Any) -> int:
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
        if self.writer.closed:
            return
        try:
            self.writer.close()
        except BaseException:
            self._discard()
            raise
        if self._base is not None:
            self._base.close()

    def abort(self) -> None:
        self.writer.abort()
        self._discard()

    def _discard(self) -> None:
        if self._base is not None and not self._base.closed:
            try:
                self._base.close()  # the sealed file lacks its final segment: never readable
            finally:
                self._on_abort()


class EncryptedFileSystemHandler(pafs.FileSystemHandler):
    """The ``pyarrow.fs.FileSystemHandler`` behind :func:`EncryptedFileSystem`.

    Picklable when ``keys`` is a KMS configuration string or a
    :class:`~sealio.kms.KmsRef` (only the string travels; workers rebuild
    the client); a live client object refuses to be pickled."""

    def __init__(self, base: Any, *, keys: Any, master_key: str | None = None,
                 segment_size: int | None = None, bind_paths: bool = False,
                 passthrough: bool = False, threads: int | None = None) -> None:
        self.base = _foreground_writes(_as_arrow_fs(base))
        self._keys_config = keys
        self.master_key = master_key
        self.segment_log2 = H.DEFAULT_SEGMENT_LOG2 if segment_size is None else H.segment_size_log2(segment_size)
        self.bind_paths = bool(bind_paths)
        self.passthrough = bool(passthrough)
        self.threads = threads
        self._local = _local_root(self.base)
        self._mgr: KeyManager | None = None
        self._lock = threading.Lock()
        self.segments_decrypted = 0  # over all closed readers (for tests and benchmarks)
        if isinstance(keys, str):
            from sealio.kms import KmsRef
            KmsRef(keys)  # validate the configuration string now

    # -- keys, pickling

    @property
    def keys(self) -> KeyManager:
        if self._mgr is None:
            self._mgr = key_manager(self._keys_config)
        return self._mgr

    def __reduce__(self) -> Any:
        keys = _picklable_keys(self._keys_config)
        if keys is None:
            raise TypeError(
                "an EncryptedFileSystem built from a live KMS client "
                f"({type(self._keys_config).__name__}) cannot be pickled without its secrets: "
                "pass keys as a KMS configuration string (e.g. 'local:///abs/path/keyring.json') "
                "or a sealio.kms.KmsRef")
        return (_rebuild, (self.base, keys, self.master_key, 1 << self.segment_log2, self.bind_paths,
                           self.passthrough, self.threads))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, EncryptedFileSystemHandler) and other.base.equals(self.base)
                and other._keys_config == self._keys_config and other.master_key == self.master_key
                and other.segment_log2 == self.segment_log2 and other.bind_paths == self.bind_paths
                and other.passthrough == self.passthrough)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __repr__(self) -> str:
        keys = self._keys_config if isinstance(self._keys_config, str) else type(self._keys_config).__name__
        return f"EncryptedFileSystemHandler(base={self.base.type_name}, keys={keys!r})"

    # -- helpers

    def _aad(self, path: str) -> bytes | None:
        return path.lstrip("/").encode("utf-8") if self.bind_paths else None

    def _plain_size(self, path: str, size: int | None) -> int | None:
        if size is None:
            return None
        if self.passthrough and not self._is_sealed(path):
            return size
        try:
            return H.layout(size, 1 << self.segment_log2)[0]
        except (IntegrityError, FormatError):
            return None  # not a sealed file of this segment size: opening it names the problem

    def _is_sealed(self, path: str) -> bool:
        with self.base.open_input_stream(path, compression=None) as f:
            try:
                H.check_magic(f.read(8))
            except NotSealedError:
                return False
        return True

    def _plain_info(self, info: pafs.FileInfo) -> pafs.FileInfo:
        if info.type != pafs.FileType.File:
            return info
        return pafs.FileInfo(info.path, pafs.FileType.File, mtime=info.mtime,
                             size=self._plain_size(info.path, info.size))

    def _count(self, segments: int) -> None:
        with self._lock:
            self.segments_decrypted += segments

    # -- FileSystemHandler

    def get_type_name(self) -> str:
        return f"sealio+{self.base.type_name}"

    def normalize_path(self, path: str) -> str:
        return self.base.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return [self._plain_info(i) for i in self.base.get_file_info(paths)]

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return [self._plain_info(i) for i in self.base.get_file_info(selector)
                if not i.base_name.endswith(".sealio-tmp")]

    def create_dir(self, path: str, recursive: bool) -> None:
        self.base.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.base.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.base.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        self.base.delete_dir_contents("/", accept_root_dir=True)

    def delete_file(self, path: str) -> None:
        self.base.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        if self.bind_paths:  # the path is bound into the file: re-seal under the new one
            self.copy_file(src, dest)
            self.base.delete_file(src)
        else:
            self.base.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        if not self.bind_paths:
            self.base.copy_file(src, dest)
            return
        with self.open_input_stream(src) as fin, self.open_output_stream(dest, None) as fout:
            while chunk := fin.read(8 << 20):
                fout.write(chunk)

    def open_input_stream(self, path: str) -> pa.NativeFile:
        return self.open_input_file(path)

    def open_input_file(self, path: str) -> pa.NativeFile:
        base_file = None
        source: Any
        if self._local is not None:
            source = posixpath.join(self._local, path.lstrip("/")) if self._local else path
            if not os.path.isfile(source):
                self.base.open_input_file(path).close()  # pyarrow's own error for a missing path
        else:
            source = base_file = self.base.open_input_file(path)
        try:
            reader = SealedReader(source, self.keys, aad=self._aad(path), threads=self.threads)
        except NotSealedError:
            if base_file is not None:
                base_file.close()
            if self.passthrough:
                return self.base.open_input_file(path)
            raise NotSealedError(f"{path}: not a sealed file (plaintext in an encrypted filesystem; "
                                 "passthrough=True reads it, for migration only)") from None
        except SealioError as e:
            if base_file is not None:
                base_file.close()
            raise type(e)(f"{path}: {e}") from None
        if reader.segment_size != 1 << self.segment_log2:
            size = reader.segment_size
            reader.close()
            if base_file is not None:
                base_file.close()
            raise FormatError(f"{path}: sealed with {size}-byte segments, but this filesystem lists sizes for "
                              f"{1 << self.segment_log2}-byte segments (pass segment_size={size})")
        return pa.PythonFile(_ArrowReadable(reader, base_file, self._count), mode="r")

    def open_output_stream(self, path: str, metadata: Any) -> pa.NativeFile:
        master = self.master_key or self.keys.default_master_key
        if master is None:
            raise ValueError("writing needs master_key= (or keys with a default master key)")
        if self._local is not None:
            target: Any = posixpath.join(self._local, path.lstrip("/")) if self._local else path
            base_stream = None
        else:
            target = base_stream = self.base.open_output_stream(path, compression=None, metadata=metadata)
        try:
            writer = SealedWriter(target, self.keys, master_key=master, aad=self._aad(path),
                                  segment_size=1 << self.segment_log2, threads=self.threads)
        except BaseException:
            if base_stream is not None:
                base_stream.close()
                self.base.delete_file(path)
            raise
        return pa.PythonFile(_ArrowWritable(writer, base_stream, lambda: self.base.delete_file(path)), mode="w")

    def open_append_stream(self, path: str, metadata: Any) -> pa.NativeFile:
        raise NotImplementedError("appending to a sealed file is not supported (rewrite it)")


def _rebuild(base: Any, keys: Any, master_key: str | None, segment_size: int, bind_paths: bool,
             passthrough: bool, threads: int | None) -> EncryptedFileSystemHandler:
    return EncryptedFileSystemHandler(base, keys=keys, master_key=master_key, segment_size=segment_size,
                                      bind_paths=bind_paths, passthrough=passthrough, threads=threads)


def EncryptedFileSystem(base: Any = None, *, keys: Any, master_key: str | None = None,  # noqa: N802
                        segment_size: int | None = None, bind_paths: bool = False,
                        passthrough: bool = False, threads: int | None = None) -> pafs.PyFileSystem:
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
    """
    handler = EncryptedFileSystemHandler(pafs.LocalFileSystem() if base is None else base, keys=keys,
                                         master_key=master_key, segment_size=segment_size,
                                         bind_paths=bind_paths, passthrough=passthrough, threads=threads)
    return pafs.PyFileSystem(handler)
