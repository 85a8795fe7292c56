"""Where a dataset lives: its base filesystem (from the path's URI), the
shared filesystem layer over it (sealed files, or BigDL's with option
``bigdl``), and the listing of its data files.

Nothing here lists, decrypts or parses by itself: listing and partition
discovery are ``pyarrow.dataset``'s (names starting with ``_`` or ``.`` are
not data, as in Spark: ``_SUCCESS``, the staging directory, temporary files
of atomic writes), and files are opened through
:func:`sealio.arrow.EncryptedFileSystem` / :class:`sealio.bigdl.BigDLFileSystem`.
Filesystems are rebuilt from the (secret-free) options in each process and
cached there, so keys are loaded once per worker, not once per file.
"""

from __future__ import annotations

import functools
import os
import posixpath
from dataclasses import dataclass
from typing import Any

import pyarrow.dataset as ds
import pyarrow.fs as pafs

from sealio.errors import ConfigurationError
from sealio.spark._options import S3_OPTIONS, Options

__all__ = ["Location", "base_filesystem", "dataset_filesystem", "discover", "is_local", "list_data_files",
           "locate"]


@functools.lru_cache(maxsize=8)
def _base(path: str, storage: tuple[tuple[str, str], ...]) -> tuple[pafs.FileSystem, str]:
    scheme = path.split("://", 1)[0].lower() if "://" in path else ""
    if not scheme:
        return pafs.LocalFileSystem(), path
    if scheme in ("s3", "s3a"):
        kw: dict[str, Any] = {}
        for name, value in storage:
            arg = S3_OPTIONS[name]
            if arg == "anonymous":
                kw[arg] = value.strip().lower() in ("true", "1", "yes", "on")
            elif arg == "endpoint_override" and "://" in value:
                kw["scheme"], kw[arg] = value.split("://", 1)
            else:
                kw[arg] = value
        return pafs.S3FileSystem(**kw), path.split("://", 1)[1]  # credentials: the environment's
    if storage:
        raise ConfigurationError("the s3.* options are for s3:// paths")
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise ConfigurationError(f"a {scheme}:// path needs fsspec (pip install 'sealio[fsspec]')") from None
    from sealio.fs.arrow import as_arrow_fs

    fs, inner = url_to_fs(path)
    return as_arrow_fs(fs), inner


def base_filesystem(options: Options) -> tuple[pafs.FileSystem, str]:
    """The filesystem of ``options.path`` and the path in it: local disk,
    ``s3://`` (pyarrow's S3 with the ``s3.*`` options), or any fsspec URL."""
    return _base(options.path, options.storage)


def is_local(fs: pafs.FileSystem) -> bool:
    from sealio.fs.arrow import local_root

    return local_root(fs) is not None


@dataclass(frozen=True)
class Location:
    """A dataset in its base filesystem: ``root`` is the directory that
    relative paths (the AAD with ``bindPath``) start from; ``single`` the
    one file, when the path names a file."""

    root: str
    single: str | None


def locate(options: Options) -> Location:
    base, path = base_filesystem(options)
    info = base.get_file_info(path)
    if info.type == pafs.FileType.File:
        return Location(posixpath.dirname(path), posixpath.basename(path))
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"no such file or directory: {options.path}")
    return Location(path, None)


def _mtime(path: str | None) -> int | None:
    try:
        return os.stat(path).st_mtime_ns if path else None
    except OSError:
        return None


def dataset_filesystem(options: Options, root: str) -> pafs.FileSystem:
    """The shared layer's filesystem of the dataset under ``root``, whose
    paths are relative to it: sealed files (bound to those paths with
    ``bindPath``), or BigDL parts with option ``bigdl`` (authenticated on open
    either way). An edited key file or a rewritten ``.meta`` (BigDL's append
    mode) makes a new one."""
    base, _ = base_filesystem(options)
    if options.bigdl is None:
        return _sealed_fs(options, root)
    meta = base.get_file_info(posixpath.join(root, ".meta"))
    stamp = (meta.mtime_ns, meta.size) if meta.type == pafs.FileType.File else None
    return _bigdl_fs(options, root, _mtime(options.bigdl_key_file), stamp)


@functools.lru_cache(maxsize=8)
def _sealed_fs(options: Options, root: str) -> pafs.FileSystem:
    from sealio.arrow import EncryptedFileSystem

    base, _ = base_filesystem(options)
    return EncryptedFileSystem(pafs.SubTreeFileSystem(root, base), keys=options.keys,
                               master_key=options.master_key, bind_paths=options.bind_path)


@functools.lru_cache(maxsize=8)
def _bigdl_fs(options: Options, root: str, key_file_mtime: int | None, meta_stamp: Any) -> pafs.FileSystem:
    """One per worker process, configuration and ``.meta``: a data key is
    decrypted once per process, not once per file."""
    from sealio import bigdl
    from sealio.bigdl.directory import parse_meta
    from sealio.bigdl.filesystem import BigDLFileSystemHandler

    base, _ = base_filesystem(options)
    meta_key = None
    if meta_stamp is not None:
        meta_path = posixpath.join(root, ".meta")
        with base.open_input_stream(meta_path) as f:
            meta_key = parse_meta(f.read(), meta_path)
    settings = bigdl.load_key_file(options.bigdl_key_file) if options.bigdl_key_file else None
    opener = bigdl.opener(options.bigdl, settings, meta_key=meta_key)
    return pafs.PyFileSystem(BigDLFileSystemHandler(pafs.SubTreeFileSystem(root, base), opener))


def _factory(fs: pafs.FileSystem, where: Location, fmt: ds.FileFormat) -> ds.FileSystemDatasetFactory:
    source: Any = [where.single] if where.single else pafs.FileSelector("", recursive=True)
    partitioning = None if where.single else ds.HivePartitioning.discover()
    return ds.FileSystemDatasetFactory(fs, source, fmt, ds.FileSystemFactoryOptions(partitioning=partitioning))


def discover(fs: pafs.FileSystem, where: Location, fmt: ds.FileFormat, schema: Any = None) -> ds.FileSystemDataset:
    """The dataset: its files, hive partitions (``key=value`` directories)
    and, without ``schema``, the schema of its first file plus the partition
    columns."""
    return _factory(fs, where, fmt).finish(schema)


def list_data_files(fs: pafs.FileSystem, where: Location) -> list[str]:
    """Paths of the data files (relative to ``where.root``), without
    opening any; the same rules as :func:`discover`."""
    import pyarrow as pa

    return sorted(discover(fs, where, ds.ParquetFileFormat(), pa.schema([])).files)
