"""The fsspec adapter of a :class:`~sealio.fs.policy.StoragePolicy`.

:class:`PolicyFileSystem` is a chained fsspec filesystem
(``sealio::s3://bucket/...``) that translates fsspec calls into the
policy's over an inner filesystem (``fs``, or ``target_protocol`` with
``target_options``). :class:`SealioFileSystem` (protocol ``sealio``) holds
sealed files; ``bigdl`` is :class:`sealio.bigdl.fsspec_fs.BigDLFsspecFileSystem`.
Both protocols are registered once, by the ``fsspec.specs`` entry points in
pyproject.toml, so ``fsspec.filesystem("sealio")`` works without importing
sealio first.

Inside the package ``import fsspec`` means the real fsspec (absolute imports).
"""

from __future__ import annotations

import posixpath
from typing import Any

try:
    import fsspec
    from fsspec.implementations.chained import ChainedFileSystem
    from fsspec.implementations.local import LocalFileSystem as _FsspecLocal
except ModuleNotFoundError as _e:  # the optional part: say what to install
    raise ModuleNotFoundError("the sealio and bigdl fsspec protocols need fsspec, which is not installed: "
                              "pip install 'sealio[fsspec]'", name=_e.name) from None

from sealio.fs.policy import SealedCodec, StoragePolicy
from sealio.keys import KeyManager

__all__ = ["PolicyFileSystem", "SealioFileSystem", "target_filesystem"]


def target_filesystem(target_protocol: str | None, target_options: dict[str, Any] | None,
                      fs: fsspec.AbstractFileSystem | None) -> fsspec.AbstractFileSystem:
    """The filesystem a chained protocol wraps: ``fs``, or one built from
    ``target_protocol`` and ``target_options`` (default: local files)."""
    if fs is None:
        return fsspec.filesystem(target_protocol or "file", **(target_options or {}))
    if target_protocol is not None:
        raise ValueError("give either fs or target_protocol, not both")
    return fs


class PolicyFileSystem(ChainedFileSystem):
    """fsspec filesystem of ``policy``'s files over an inner filesystem.
    Subclasses name the protocol and build the policy from their options.

    Never cached, never shared between callers (issue 12): fsspec keys its
    instance cache on str() of the arguments, and key sources print alike
    whatever keys or token they hold (a KeyManager, a VaultTransit), so a
    cached instance would hand one caller's keys to the next. Printing an
    identity instead cannot be made both secret-free and collision-free for
    arbitrary KMS clients; not caching costs only this object, since the
    inner filesystem is still cached by fsspec and KEK caches are shared
    per configuration string or client object (keys.key_manager)."""

    root_marker = ""
    cachable = False

    def __init__(self, target_protocol: str | None = None, target_options: dict[str, Any] | None = None,
                 fs: fsspec.AbstractFileSystem | None = None, *, policy: StoragePolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fs = target_filesystem(target_protocol, target_options, fs)
        self.policy = policy

    # -- plumbing

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
        # fsspec pickles the constructor arguments: the policy says whether they hold secrets
        self.policy.check_picklable()
        return super().__reduce__()

    def to_dict(self, *, include_password: bool = True) -> dict[str, Any]:
        self.policy.check_picklable()
        return super().to_dict(include_password=include_password)

    def _sniff(self, path: str) -> bytes:
        with self.fs.open(path, "rb") as f:
            return f.read(8)

    def _listed(self, entry: dict[str, Any]) -> dict[str, Any]:
        if entry.get("type") != "file":
            return entry
        return dict(entry, size=self.policy.listed_size(entry.get("size"), lambda: self._sniff(entry["name"])))

    # -- listing (sizes are plaintext sizes; nothing is read)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        entries = [self._listed(e) for e in self.fs.ls(self._inner(path), detail=True, **kwargs)
                   if not self.policy.hidden(str(e["name"]).rsplit("/", 1)[-1], is_file=e.get("type") == "file",
                                             size=e.get("size"))]
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """With the plaintext size; a codec that cannot list sizes (BigDL)
        measures it by opening the file, cached per path, size and mtime
        (DuckDB asks for it before reading)."""
        inner = self._inner(path)
        entry = self.fs.info(inner, **kwargs)
        if entry.get("type") != "file":
            return entry
        stamp = (inner, entry.get("size"), str(entry.get("mtime", entry.get("LastModified", ""))))

        def measure() -> int:
            with self._open(path) as f:
                return int(f.size)

        return dict(entry, size=self.policy.exact_size(entry.get("size"), lambda: self._sniff(inner), stamp, measure))

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
        self.policy.check_mutable()
        self.fs.mkdir(self._inner(path), create_parents=create_parents, **kwargs)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        self.policy.check_mutable()
        self.fs.makedirs(self._inner(path), exist_ok=exist_ok)

    def rmdir(self, path: str) -> None:
        self.policy.check_mutable()
        self.fs.rmdir(self._inner(path))

    def rm_file(self, path: str) -> None:
        self.policy.check_mutable()
        self.fs.rm_file(self._inner(path))

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        self.policy.check_mutable()
        self.fs.rm(self._inner(path) if isinstance(path, str) else [self._inner(p) for p in path],
                   recursive=recursive, maxdepth=maxdepth)

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        self.policy.check_mutable()
        if not self.policy.reseals:
            self.fs.cp_file(self._inner(path1), self._inner(path2), **kwargs)
            return
        with self.open(path1, "rb") as src, self.open(path2, "wb") as dst:
            self.policy.reseal(src, dst)

    def mv(self, path1: str, path2: str, recursive: bool = False, maxdepth: int | None = None,
           **kwargs: Any) -> None:
        self.policy.check_mutable()
        if self.policy.reseals:
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
        self.policy.check_mutable()
        raise ValueError(f"sealed files open as 'rb' or 'wb' (text modes wrap these), not {mode!r}")

    def _open_read(self, path: str) -> Any:
        if isinstance(self.fs, _FsspecLocal):
            return self.policy.open_read(path, path, plain=lambda: self.fs.open(path, "rb"))
        owned = self.fs.open(path, "rb", cache_type="none")
        return self.policy.open_read(path, owned, owned=owned, plain=lambda: self.fs.open(path, "rb"))

    def _open_write(self, path: str) -> Any:
        self.policy.check_can_write()
        if isinstance(self.fs, _FsspecLocal):
            self.fs.makedirs(posixpath.dirname(path) or "/", exist_ok=True)
            return self.policy.open_write(path, path)  # temporary file, fsync, rename
        try:
            target = self.fs.open(path, "wb", autocommit=False)
        except (TypeError, NotImplementedError):
            target = self.fs.open(path, "wb")
        deferred = getattr(target, "autocommit", True) is False

        def commit() -> None:
            target.close()
            if deferred:
                target.commit()

        def discard() -> None:
            if deferred:
                target.discard()  # nothing was published
                try:
                    target.closed = True  # a later close() (e.g. from __del__) must not upload
                except AttributeError:
                    pass
            else:  # never committed whole: the sealed file lacks its final segment
                target.close()

        return self.policy.open_write(path, target, commit=commit, discard=discard)


class SealioFileSystem(PolicyFileSystem):
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
    cachable = False  # see PolicyFileSystem: instances hold keys

    def __init__(self, target_protocol: str | None = None, target_options: dict[str, Any] | None = None,
                 fs: fsspec.AbstractFileSystem | None = None, *, keys: Any, master_key: str | None = None,
                 segment_size: int | None = None, bind_paths: bool = False, passthrough: bool = False,
                 threads: int | None = None, fo: str | None = None, **kwargs: Any) -> None:
        codec = SealedCodec(keys, master_key=master_key, segment_size=segment_size, bind_paths=bind_paths,
                            passthrough=passthrough, threads=threads)
        super().__init__(target_protocol, target_options, fs, policy=StoragePolicy(codec), **kwargs)

    @property
    def keys(self) -> KeyManager:
        return self.policy.codec.keys

    @property
    def keys_config(self) -> Any:
        return self.policy.codec.keys_config
