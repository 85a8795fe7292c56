"""The ``sealio`` fsspec protocol: sealed files on any fsspec filesystem.

``sealio::s3://bucket/data/part-0.parquet`` (or ``sealio::file:///...``)
reads and writes sealed files through the inner filesystem, under the same
names, reporting plaintext sizes without reading files. pandas, Dask,
DuckDB (``register_filesystem``) and pyarrow (``PyFileSystem(FSSpecHandler)``)
use it like any fsspec filesystem; options go in
``storage_options={"sealio": {"keys": "local:///abs/keyring.json"}, "s3": {...}}``.

The module is named ``fsspec_fs`` so that ``import fsspec`` inside the
package always means the real fsspec.
"""

from __future__ import annotations

import posixpath
from typing import Any

import fsspec
from fsspec.implementations.chained import ChainedFileSystem
from fsspec.implementations.local import LocalFileSystem as _FsspecLocal

from sealio import _header as H
from sealio.errors import FormatError, IntegrityError, NotSealedError, SealioError
from sealio.keys import KeyManager, key_manager
from sealio.streams import SealedReader, SealedWriter

__all__ = ["SealioFileSystem"]


class _TargetWriter(SealedWriter):
    """A SealedWriter that owns the target file it writes into: the target
    is committed only after a clean close and discarded otherwise."""

    def __init__(self, target: Any, keys: Any, **kw: Any) -> None:
        self._target = target
        try:
            super().__init__(target, keys, **kw)
        except BaseException:
            self._discard_target()
            raise

    def close(self) -> None:
        with self._wlock:  # re-entrant: the same lock SealedWriter.close takes
            if self.closed:
                return
            try:
                super().close()
            except BaseException:
                self._discard_target()
                raise
            target, self._target = self._target, None
            if target is not None:
                target.close()
                if getattr(target, "autocommit", True) is False:
                    target.commit()

    def abort(self) -> None:
        with self._wlock:
            if self.closed:
                return
            try:
                super().abort()
            finally:
                self._discard_target()

    def _discard_target(self) -> None:
        target, self._target = getattr(self, "_target", None), None
        if target is None:
            return
        if getattr(target, "autocommit", True) is False:
            target.discard()  # nothing was published
            try:
                target.closed = True  # a later close() (e.g. from __del__) must not upload
            except AttributeError:
                pass
        else:  # never committed whole: the sealed file lacks its final segment
            target.close()


def target_filesystem(target_protocol: str | None, target_options: dict[str, Any] | None,
                      fs: fsspec.AbstractFileSystem | None) -> fsspec.AbstractFileSystem:
    """The filesystem a chained protocol wraps: ``fs``, or one built from
    ``target_protocol`` and ``target_options`` (default: local files)."""
    if fs is None:
        return fsspec.filesystem(target_protocol or "file", **(target_options or {}))
    if target_protocol is not None:
        raise ValueError("give either fs or target_protocol, not both")
    return fs


class SealioFileSystem(ChainedFileSystem):
    """fsspec filesystem of sealed files over ``fs`` (or ``target_protocol``
    with ``target_options``).

    ``keys``: a KMS configuration string (picklable; e.g.
    ``local:///abs/keyring.json``), a :class:`~sealio.kms.KmsRef`, a KMS
    client or a :class:`~sealio.KeyManager`. ``master_key``: the key new
    files are sealed under. ``segment_size``: the one the files use
    (sizes are computed from it). ``bind_paths``: bind each file to its
    target path. ``passthrough``: read plaintext files (migration only).
    """

    protocol = "sealio"
    root_marker = ""
    # Never share an instance between callers (issue 12): fsspec keys its
    # instance cache on str() of the arguments, and key sources print alike
    # whatever keys or token they hold (a KeyManager, a VaultTransit), so a
    # cached instance would hand one caller's keys to the next. Printing an
    # identity instead cannot be made both secret-free and collision-free for
    # arbitrary KMS clients; not caching costs only this object, since the
    # inner filesystem is still cached by fsspec and KEK caches are shared
    # per configuration string or client object (keys.key_manager).
    cachable = False

    def __init__(self, target_protocol: str | None = None, target_options: dict[str, Any] | None = None,
                 fs: fsspec.AbstractFileSystem | None = None, *, keys: Any, master_key: str | None = None,
                 segment_size: int | None = None, bind_paths: bool = False, passthrough: bool = False,
                 fo: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fs = target_filesystem(target_protocol, target_options, fs)
        self.keys_config = keys
        self.master_key = master_key
        self.segment_log2 = H.DEFAULT_SEGMENT_LOG2 if segment_size is None else H.segment_size_log2(segment_size)
        self.bind_paths = bool(bind_paths)
        self.passthrough = bool(passthrough)
        self._mgr: KeyManager | None = None
        if isinstance(keys, str):
            from sealio.kms import KmsRef
            KmsRef(keys)

    # -- plumbing

    @property
    def keys(self) -> KeyManager:
        if self._mgr is None:
            self._mgr = key_manager(self.keys_config)
        return self._mgr

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        for prefix in (f"{cls.protocol}::", f"{cls.protocol}://"):
            if path.startswith(prefix):
                path = path[len(prefix):]
        return path.rstrip("/") or "/" if path.startswith("/") else path.rstrip("/")

    def _inner(self, path: str) -> str:
        return self.fs._strip_protocol(self._strip_protocol(path))

    def __reduce__(self) -> Any:
        from sealio.kms import KmsRef

        if not isinstance(self.keys_config, (str, KmsRef)):
            raise TypeError(
                f"a sealio fsspec filesystem built from a live KMS client ({type(self.keys_config).__name__}) "
                "cannot be pickled without its secrets: pass keys as a KMS configuration string "
                "(e.g. 'local:///abs/path/keyring.json') or a sealio.kms.KmsRef")
        return super().__reduce__()

    def _plain(self, entry: dict[str, Any]) -> dict[str, Any]:
        if entry.get("type") != "file" or entry.get("size") is None:
            return entry
        out = dict(entry)
        name = out["name"]
        if self.passthrough and not self._is_sealed(name):
            return out
        try:
            out["size"] = H.layout(int(entry["size"]), 1 << self.segment_log2)[0]
        except (IntegrityError, FormatError):
            out["size"] = None  # not a sealed file of this segment size; opening it says why
        return out

    def _is_sealed(self, path: str) -> bool:
        with self.fs.open(path, "rb") as f:
            try:
                H.check_magic(f.read(8))
            except NotSealedError:
                return False
        return True

    def _aad(self, path: str) -> bytes | None:
        return path.lstrip("/").encode("utf-8") if self.bind_paths else None

    # -- listing (sizes are plaintext sizes; nothing is read)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        entries = self.fs.ls(self._inner(path), detail=True, **kwargs)
        entries = [self._plain(e) for e in entries if not str(e["name"]).endswith(".sealio-tmp")]
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._plain(self.fs.info(self._inner(path), **kwargs))

    def exists(self, path: str, **kwargs: Any) -> bool:
        return self.fs.exists(self._inner(path), **kwargs)

    def created(self, path: str) -> Any:
        return self.fs.created(self._inner(path))

    def modified(self, path: str) -> Any:
        return self.fs.modified(self._inner(path))

    def ukey(self, path: str) -> str:
        return self.fs.ukey(self._inner(path))

    # -- changes

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        self.fs.mkdir(self._inner(path), create_parents=create_parents, **kwargs)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        self.fs.makedirs(self._inner(path), exist_ok=exist_ok)

    def rmdir(self, path: str) -> None:
        self.fs.rmdir(self._inner(path))

    def rm_file(self, path: str) -> None:
        self.fs.rm_file(self._inner(path))

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        self.fs.rm(self._inner(path) if isinstance(path, str) else [self._inner(p) for p in path],
                   recursive=recursive, maxdepth=maxdepth)

    def _rm(self, path: str) -> None:
        self.fs.rm_file(self._inner(path))

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        if not self.bind_paths:
            self.fs.cp_file(self._inner(path1), self._inner(path2), **kwargs)
            return
        with self.open(path1, "rb") as src, self.open(path2, "wb") as dst:
            while chunk := src.read(8 << 20):
                dst.write(chunk)

    def mv(self, path1: str, path2: str, recursive: bool = False, maxdepth: int | None = None,
           **kwargs: Any) -> None:
        if self.bind_paths:
            self.cp_file(path1, path2)
            self.rm_file(path1)
        else:
            self.fs.mv(self._inner(path1), self._inner(path2), recursive=recursive, maxdepth=maxdepth, **kwargs)

    # -- files

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, autocommit: bool = True,
              cache_options: Any = None, **kwargs: Any) -> Any:
        path = self._inner(path)
        if mode == "rb":
            return self._open_read(path)
        if mode == "wb":
            return self._open_write(path)
        raise ValueError(f"sealed files open as 'rb' or 'wb' (text modes wrap these), not {mode!r}")

    def _open_read(self, path: str) -> Any:
        target = None
        source: Any = path
        if not isinstance(self.fs, _FsspecLocal):
            source = target = self.fs.open(path, "rb", cache_type="none")
        try:
            return _OwningReader(source, self.keys, aad=self._aad(path), target=target)
        except NotSealedError:
            if target is not None:
                target.close()
            if self.passthrough:
                return self.fs.open(path, "rb")
            raise NotSealedError(f"{path}: not a sealed file (plaintext under the sealio protocol; "
                                 "passthrough=True reads it, for migration only)") from None
        except SealioError as e:
            if target is not None:
                target.close()
            raise type(e)(f"{path}: {e}") from None

    def _open_write(self, path: str) -> Any:
        master = self.master_key or self.keys.default_master_key
        if master is None:
            raise ValueError("writing needs master_key= (or keys with a default master key)")
        kw: dict[str, Any] = {"master_key": master, "aad": self._aad(path),
                              "segment_size": 1 << self.segment_log2}
        if isinstance(self.fs, _FsspecLocal):
            self.fs.makedirs(posixpath.dirname(path) or "/", exist_ok=True)
            return SealedWriter(path, self.keys, **kw)  # temporary file, fsync, rename
        try:
            target = self.fs.open(path, "wb", autocommit=False)
        except (TypeError, NotImplementedError):
            target = self.fs.open(path, "wb")
        return _TargetWriter(target, self.keys, **kw)


class _OwningReader(SealedReader):
    """A SealedReader that closes the target file it reads from."""

    def __init__(self, source: Any, keys: Any, *, aad: bytes | None, target: Any) -> None:
        self._target = target
        super().__init__(source, keys, aad=aad)

    def close(self) -> None:
        try:
            super().close()
        finally:
            target, self._target = getattr(self, "_target", None), None
            if target is not None:
                target.close()


fsspec.register_implementation("sealio", SealioFileSystem, clobber=True)
