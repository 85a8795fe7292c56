"""The ``bigdl`` fsspec protocol: BigDL-encrypted files, read-only.

``bigdl::file:///data/people.bigdl/part-00000-....csv.cbc`` (or
``bigdl::s3://...``) opens a BigDL part file as an authenticated,
seekable plaintext file; pandas, Dask and DuckDB (``register_filesystem``)
read BigDL output through it. Options go under the protocol name:
``storage_options={"bigdl": {"keys": bigdl.PlaintextPrimaryKey(pk)}}``.
Key sources hold secrets, so fsspec never caches these instances, and
one pickles only when its key source does (:class:`~sealio.bigdl.EnvKeySource`,
which workers resolve from their own environment).

Listed sizes are ``None`` (see :mod:`sealio.bigdl.filesystem`); ``info``
gives the exact size after authenticating the file.
"""

from __future__ import annotations

from typing import Any

import fsspec
from fsspec.implementations.chained import ChainedFileSystem

from sealio.bigdl.dataset import Opener
from sealio.fsspec_fs import SealioFileSystem, target_filesystem

__all__ = ["BigDLFsspecFileSystem"]


class BigDLFsspecFileSystem(ChainedFileSystem):
    """Read-only fsspec filesystem of BigDL files over ``fs`` (or
    ``target_protocol`` with ``target_options``); ``format``, ``keys``,
    ``primary_key_b64``, ``data_key`` and ``verify_mac`` as for
    :func:`sealio.bigdl.filesystem.BigDLFileSystem`."""

    protocol = "bigdl"
    root_marker = ""
    cachable = False  # instances hold key sources: never share one between callers

    def __init__(self, target_protocol: str | None = None, target_options: dict[str, Any] | None = None,
                 fs: fsspec.AbstractFileSystem | None = None, *, keys: Any = None, format: str = "auto",  # noqa: A002
                 primary_key_b64: str | None = None, data_key: Any = None, verify_mac: bool = True,
                 meta_key: str | None = None, fo: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fs = target_filesystem(target_protocol, target_options, fs)
        self.opener = Opener(format, keys=keys, primary_key_b64=primary_key_b64, data_key=data_key,
                             verify_mac=verify_mac, meta_key=meta_key)
        self._sizes: dict[tuple[str, Any, str], int] = {}

    _strip_protocol: Any = classmethod(SealioFileSystem._strip_protocol.__func__)  # type: ignore[attr-defined]

    def _inner(self, path: str) -> str:
        return self.fs._strip_protocol(self._strip_protocol(path))

    def _secrets_in_options(self) -> None:
        # fsspec keeps constructor arguments (storage_options) for pickling and to_json
        if self.storage_options.get("primary_key_b64") or self.storage_options.get("data_key"):
            raise TypeError("a bigdl filesystem given a primary key or data key cannot be pickled or "
                            "serialised (key material never leaves the process); use a key source "
                            "such as sealio.bigdl.EnvKeySource")

    def __reduce__(self) -> Any:
        self._secrets_in_options()
        return super().__reduce__()

    def to_dict(self, *, include_password: bool = True) -> dict[str, Any]:
        self._secrets_in_options()
        return super().to_dict(include_password=include_password)

    @staticmethod
    def _unsized(entry: dict[str, Any]) -> dict[str, Any]:
        return dict(entry, size=None) if entry.get("type") == "file" else entry

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        # 0-byte files are BigDL's empty partitions: no rows, no CSV header
        entries = [self._unsized(e) for e in self.fs.ls(self._inner(path), detail=True, **kwargs)
                   if not (e.get("type") == "file" and e.get("size") == 0)]
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """With the exact plaintext size, which costs a MAC pass (cached per
        path, ciphertext size and mtime): DuckDB asks for it before reading."""
        inner = self._inner(path)
        entry = self.fs.info(inner, **kwargs)
        if entry.get("type") != "file":
            return entry
        stamp = (inner, entry.get("size"), str(entry.get("mtime", entry.get("LastModified", ""))))
        size = self._sizes.get(stamp)
        if size is None:
            with self._open(path) as f:
                size = f.size
            if len(self._sizes) > 4096:
                self._sizes.clear()
            self._sizes[stamp] = size
        return dict(entry, size=size)

    def exists(self, path: str, **kwargs: Any) -> bool:
        return self.fs.exists(self._inner(path), **kwargs)

    def modified(self, path: str) -> Any:
        return self.fs.modified(self._inner(path))

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, autocommit: bool = True,
              cache_options: Any = None, **kwargs: Any) -> Any:
        if mode != "rb":
            raise OSError("the bigdl protocol is read-only: write BigDL output with `sealio bigdl encrypt`, "
                          "or migrate to sealed files (the sealio protocol)")
        inner = self._inner(path)
        return self.opener.open_raw(self.fs.open(inner, "rb"), name=inner)

    def _read_only(self, *_: Any, **__: Any) -> Any:
        raise OSError("the bigdl protocol is read-only")

    mkdir = makedirs = rmdir = rm_file = rm = _rm = cp_file = mv = _read_only


fsspec.register_implementation("bigdl", BigDLFsspecFileSystem, clobber=True)
