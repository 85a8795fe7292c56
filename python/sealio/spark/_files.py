"""Data files of a dataset directory, and opening them as plaintext streams.

Spark's conventions: names starting with ``_`` or ``.`` are not data
(``_SUCCESS``, the staging directory, temporary files of atomic writes).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from sealio.spark._options import Options
from sealio.streams import open as sealed_open

__all__ = ["DataFile", "data_files", "list_files", "open_plain"]

_CODECS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}


@dataclass(frozen=True)
class DataFile:
    path: str
    rel: str  # relative to the dataset root, "/"-separated (the AAD with bindPath)
    size: int  # ciphertext size on disk


def _hidden(name: str) -> bool:
    return name.startswith(("_", "."))


def list_files(root: str, *, skip_empty: bool = False) -> list[DataFile]:
    """Every data file under ``root`` (or ``root`` itself), sorted;
    ``skip_empty`` leaves out 0-byte files (BigDL's empty partitions)."""
    if os.path.isfile(root):
        return [DataFile(root, os.path.basename(root), os.path.getsize(root))]
    if not os.path.isdir(root):
        raise FileNotFoundError(f"no such file or directory: {root}")
    out: list[DataFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
        for name in sorted(filenames):
            if _hidden(name):
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            size = os.path.getsize(full)
            if size or not skip_empty:
                out.append(DataFile(full, rel, size))
    return out


def aad_for(options: Options, rel: str) -> str | None:
    """With ``bindPath``, each file is bound to its path below the root
    (as ``sealio encrypt --bind-path``): files cannot be swapped or renamed."""
    return rel if options.bind_path else None


def data_files(options: Options) -> list[DataFile]:
    return list_files(options.path, skip_empty=options.bigdl is not None)


def open_plain(options: Options, f: DataFile) -> Any:
    """A seekable plaintext reader of a sealed file, or of a BigDL part
    with option ``bigdl`` (authenticated on open either way)."""
    if options.bigdl is not None:
        root = options.path if os.path.isdir(options.path) else os.path.dirname(options.path)
        return _bigdl_opener(options.bigdl, options.bigdl_key_file, _mtime(options.bigdl_key_file), root,
                             _mtime(os.path.join(root, ".meta")))(f.path)
    return sealed_open(f.path, "rb", keys=options.keys, aad=aad_for(options, f.rel))


def _mtime(path: str | None) -> int | None:
    try:
        return os.stat(path).st_mtime_ns if path else None
    except OSError:
        return None


@functools.lru_cache(maxsize=8)
def _bigdl_opener(fmt: str, key_file: str | None, key_file_mtime: int | None, directory: str,
                  meta_mtime: int | None) -> Any:
    """One opener per worker process, configuration and dataset root (whose
    ``.meta`` may hold the key), so a data key is decrypted once per
    process, not once per file; an edited key file or a rewritten
    ``.meta`` (BigDL's append mode) makes a new one."""
    from sealio import bigdl

    return bigdl.opener(fmt, bigdl.load_key_file(key_file) if key_file else None,
                        meta_key=bigdl.read_meta(directory))


def maybe_decompress(stream: Any, name: str) -> Any:
    """CSV/JSON inside a sealed file may be compressed (``people.csv.gz``)."""
    codec = _CODECS.get(os.path.splitext(name)[1].lower())
    if codec is None:
        return stream
    return pa.CompressedInputStream(pa.PythonFile(stream, mode="r"), codec)
