"""BigDL-encrypted directories as a read-only ``pyarrow.fs`` filesystem.

``pyarrow.dataset`` (and through it DuckDB, polars and pandas) reads a
BigDL PPML output directory as it is: names are kept, each part file is
opened with :class:`~sealio.bigdl.dataset.Opener` (key from the part's
own header, MAC verified before any plaintext, seekable), and files whose
names start with ``.`` or ``_`` (``.meta``, ``_SUCCESS``, ``.crc``) are
skipped by pyarrow's dataset discovery as usual.

Listed sizes are ``None``: a CBC plaintext size is only known from the
padding of the authenticated last block, which needs the key and a MAC
pass (reading the padding unauthenticated would be a padding oracle).
Opening a file gives its exact size. Directory listings leave out 0-byte
files, BigDL's empty partitions, which hold no rows and no CSV header. Writing is refused; BigDL
output is written by ``sealio bigdl encrypt`` (one data key per call, as
BigDL's readers expect), and new data belongs in sealed files.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from sealio.arrow._filesystem import ArrowReadableBase, _as_arrow_fs, _local_root
from sealio.bigdl._cbcfile import CbcFile
from sealio.bigdl.dataset import Opener, parse_meta

__all__ = ["BigDLFileSystem", "BigDLFileSystemHandler", "open_dataset"]


def _empty_part(info: pafs.FileInfo) -> bool:
    """BigDL writes an empty partition as a 0-byte file: no rows, and no
    CSV header that a reader could infer columns from, so listings skip it."""
    return info.type == pafs.FileType.File and info.size == 0


class _ArrowView(ArrowReadableBase):
    """What ``pa.PythonFile`` reads from: the verified reader, plus
    ``read_buffer``, so whole chunks decrypt straight into Arrow memory."""

    def __init__(self, reader: CbcFile) -> None:
        self.reader = reader

    def read_buffer(self, nbytes: int | None = None) -> pa.Buffer:
        r = self.reader
        left = max(0, r.size - r.tell())
        n = left if nbytes is None or nbytes < 0 else min(nbytes, left)
        buf = pa.allocate_buffer(n)
        got = r.readinto_full(memoryview(buf)) if n else 0
        return buf if got == n else buf.slice(0, got)

    def close(self) -> None:
        self.reader.close()  # closes the base file too


class BigDLFileSystemHandler(pafs.FileSystemHandler):
    """The handler behind :func:`BigDLFileSystem`. It pickles only when its
    key source does (:class:`~sealio.bigdl.EnvKeySource`): secrets never travel."""

    def __init__(self, base: Any, opener: Opener) -> None:
        self.base = _as_arrow_fs(base)
        self.opener = opener
        self._local = _local_root(self.base)

    def __reduce__(self) -> Any:
        return (BigDLFileSystemHandler, (self.base, self.opener))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BigDLFileSystemHandler) and other.base.equals(self.base) \
            and other.opener is self.opener  # key sources have no equality: same opener only

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __repr__(self) -> str:
        return f"BigDLFileSystemHandler(base={self.base.type_name}, format={self.opener.fmt!r})"

    @staticmethod
    def _unsized(info: pafs.FileInfo) -> pafs.FileInfo:
        if info.type != pafs.FileType.File:
            return info
        return pafs.FileInfo(info.path, pafs.FileType.File, mtime=info.mtime)

    def get_type_name(self) -> str:
        return f"bigdl+{self.base.type_name}"

    def normalize_path(self, path: str) -> str:
        return self.base.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return [self._unsized(i) for i in self.base.get_file_info(paths)]

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return [self._unsized(i) for i in self.base.get_file_info(selector)
                if not i.base_name.endswith(".sealio-tmp") and not _empty_part(i)]

    def open_input_stream(self, path: str) -> pa.NativeFile:
        return self.open_input_file(path)

    def open_input_file(self, path: str) -> pa.NativeFile:
        source: Any
        if self._local is not None:
            source = posixpath.join(self._local, path.lstrip("/")) if self._local else path
            if not os.path.isfile(source):
                self.base.open_input_file(path).close()  # pyarrow's own error for a missing path
        else:
            source = self.base.open_input_file(path)
        return pa.PythonFile(_ArrowView(self.opener.open_raw(source, name=path)), mode="r")

    def _read_only(self, *_: Any, **__: Any) -> Any:
        raise OSError("a BigDL filesystem is read-only: write BigDL output with `sealio bigdl encrypt`, "
                      "or migrate to sealed files (sealio.arrow.EncryptedFileSystem)")

    create_dir = delete_dir = delete_dir_contents = delete_file = move = copy_file = _read_only
    open_output_stream = open_append_stream = _read_only

    def delete_root_dir_contents(self) -> None:
        self._read_only()


def BigDLFileSystem(base: Any = None, *, keys: Any = None, format: str = "auto",  # noqa: N802,A002
                    primary_key_b64: str | None = None, data_key: Any = None,
                    verify_mac: bool = True, meta_key: str | None = None) -> pafs.PyFileSystem:
    """A read-only ``pyarrow.fs.FileSystem`` of BigDL-encrypted files in
    ``base`` (default: local disk; any pyarrow or fsspec filesystem).

    ``format``: ``common`` (BigDL >= 2.3), ``native``, ``legacy-2.1``,
    ``legacy-2.2``, or ``auto`` (default: common files are recognised by
    their header). ``keys``: a :class:`~sealio.bigdl.KeySource` for the
    common format; ``primary_key_b64`` for native files; ``data_key`` for
    the legacy formats. ``verify_mac=False`` is the salvage opt-out (warns).
    ``meta_key``: the ``.meta`` ``encryptedDataKey``, for parts whose header
    has no key and for native files written under a KMS
    (:func:`open_dataset` reads it from the directory).

    >>> fs = BigDLFileSystem(keys=bigdl.PlaintextPrimaryKey(pk))        # doctest: +SKIP
    >>> ds.dataset("/data/people.bigdl", filesystem=fs, format="csv")  # doctest: +SKIP
    """
    opener = Opener(format, keys=keys, primary_key_b64=primary_key_b64, data_key=data_key,
                    verify_mac=verify_mac, meta_key=meta_key)
    return pafs.PyFileSystem(BigDLFileSystemHandler(pafs.LocalFileSystem() if base is None else base, opener))


def _meta_key(base: Any, source: Any) -> str | None:
    """The ``.meta`` data key of a directory ``source`` on ``base``, if any."""
    if not isinstance(source, str):
        return None
    fs = pafs.LocalFileSystem() if base is None else _as_arrow_fs(base)
    path = source.rstrip("/") + "/.meta"
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return parse_meta(f.read(), path)


def open_dataset(source: Any, *, keys: Any = None, bigdl_format: str = "auto", primary_key_b64: str | None = None,
                 data_key: Any = None, verify_mac: bool = True, base: Any = None, format: Any = "csv",  # noqa: A002
                 **kwargs: Any) -> Any:
    """``pyarrow.dataset.dataset`` over a BigDL output directory (or file,
    or list of files) on ``base``: CSV with a header by default, as BigDL
    writes it; ``format`` and ``kwargs`` go to ``pyarrow.dataset.dataset``.
    Every part is authenticated as it is opened."""
    import pyarrow.dataset as ds

    fs = BigDLFileSystem(base, keys=keys, format=bigdl_format, primary_key_b64=primary_key_b64,
                         data_key=data_key, verify_mac=verify_mac, meta_key=_meta_key(base, source))
    return ds.dataset(source, filesystem=fs, format=format, **kwargs)
