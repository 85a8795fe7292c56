"""The one storage policy under every filesystem adapter.

:mod:`sealio.fs.arrow` (``pyarrow.fs``) and :mod:`sealio.fs.fsspec` only
translate their library's calls into this module's; every rule about what
a file of a sealed (or BigDL) filesystem is lives here, once:

- which names a listing hides (``.sealio-tmp`` temporaries; what the codec
  hides, e.g. BigDL's 0-byte empty partitions);
- listed sizes are plaintext sizes, computed from ciphertext sizes without
  reading files (or unknown, when the codec cannot know them unread);
- which files a read accepts: a plain (unsealed) file is refused with
  :class:`~sealio.errors.NotSealedError` naming it, unless ``passthrough``;
  every other failure names the file and fails closed;
- path binding (AAD), hence whether a copy or move must re-seal;
- keys resolved lazily, in the process that reads or writes; a policy
  pickles as configuration only and refuses to carry live key material;
- read-only codecs refuse every change with one message.

A *codec* is the file format: :class:`SealedCodec` here (docs/FORMAT.md);
the BigDL codec lives with the BigDL integration
(:class:`sealio.bigdl.filesystem.BigDLCodec`), which is a higher layer.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Protocol

from sealio.errors import FormatError, IntegrityError, NotSealedError, SealioError
from sealio.format import header as H
from sealio.io.atomic import TMP_SUFFIX
from sealio.io.ops import copy_stream
from sealio.io.reader import SealedReader
from sealio.io.writer import SealedWriter
from sealio.keys import KeyManager, key_manager

__all__ = ["TEMP_SUFFIX", "Codec", "SealedCodec", "StoragePolicy", "TargetWriter"]

TEMP_SUFFIX = TMP_SUFFIX  # what sealio.io.atomic writes next to a file it publishes


class Codec(Protocol):
    """A file format under a :class:`StoragePolicy`."""

    kind: str  # "sealio", "bigdl": the adapters' type names start with it
    writable: bool
    bind_paths: bool  # each file is bound to its path: copies and moves re-seal
    passthrough: bool  # plain (unsealed) files are read as they are
    measures_sizes: bool  # listed sizes are unknown; an exact one costs opening the file

    def listed_size(self, size: int, sniff: Callable[[], bytes]) -> int | None: ...

    def hides(self, size: int | None) -> bool: ...

    def open_reader(self, source: Any, path: str, owned: Any) -> Any: ...

    def check_can_write(self) -> None: ...

    def open_writer(self, target: Any, path: str, commit: Callable[[], None] | None,
                    discard: Callable[[], None] | None) -> Any: ...

    def check_picklable(self) -> None: ...


class StoragePolicy:
    """The rules of one filesystem of ``codec`` files; adapters hold one."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self._sizes: dict[tuple[str, Any, str], int] = {}
        self._sizes_lock = threading.Lock()

    def __reduce__(self) -> Any:
        self.codec.check_picklable()
        return (StoragePolicy, (self.codec,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoragePolicy) and other.codec == self.codec

    def __hash__(self) -> int:
        return hash(type(self.codec))

    def __repr__(self) -> str:
        return f"StoragePolicy({self.codec!r})"

    @property
    def kind(self) -> str:
        return self.codec.kind

    def check_picklable(self) -> None:
        """Raise TypeError when pickling would need live key material."""
        self.codec.check_picklable()

    # -- listings

    def hidden(self, name: str, *, is_file: bool, size: int | None) -> bool:
        """Whether a listing leaves this entry out."""
        return name.endswith(TEMP_SUFFIX) or (is_file and self.codec.hides(size))

    def listed_size(self, size: int | None, sniff: Callable[[], bytes]) -> int | None:
        """The plaintext size of a file whose stored size is ``size``;
        ``sniff`` returns its first bytes (called only in passthrough mode)."""
        return None if size is None else self.codec.listed_size(size, sniff)

    def exact_size(self, size: int | None, sniff: Callable[[], bytes], stamp: tuple[str, Any, str],
                   measure: Callable[[], int]) -> int | None:
        """:meth:`listed_size`, or, for codecs that cannot list sizes, the
        size ``measure`` gets by opening the file, cached per ``stamp``
        (path, stored size, mtime)."""
        listed = self.listed_size(size, sniff)
        if listed is not None or not self.codec.measures_sizes:
            return listed
        with self._sizes_lock:
            known = self._sizes.get(stamp)
        if known is None:
            known = measure()
            with self._sizes_lock:
                if len(self._sizes) > 4096:
                    self._sizes.clear()
                self._sizes[stamp] = known
        return known

    # -- changes

    @property
    def reseals(self) -> bool:
        """Copies and moves must decrypt and seal again under the new path."""
        return self.codec.bind_paths

    def check_mutable(self) -> None:
        if not self.codec.writable:
            raise OSError(f"a {self.codec.kind} filesystem is read-only: write BigDL output with "
                          "`sealio bigdl encrypt`, or migrate to sealed files (sealio.arrow.EncryptedFileSystem, "
                          "the sealio fsspec protocol)")

    def check_can_write(self) -> None:
        """Before the adapter creates a target: nothing is created in vain."""
        self.check_mutable()
        self.codec.check_can_write()

    @staticmethod
    def reseal(src: Any, dst: Any) -> None:
        """Copy plaintext from ``src`` (this filesystem) to ``dst`` (this filesystem)."""
        copy_stream(src, dst)

    # -- files

    def open_read(self, path: str, source: Any, *, owned: Any = None, plain: Callable[[], Any]) -> Any:
        """A reader of ``path``: ``source`` is a local path or an open base
        file (``owned``, closed with the reader or on failure); ``plain``
        opens the file as it is (for passthrough)."""
        try:
            return self.codec.open_reader(source, path, owned)
        except NotSealedError:
            _close(owned)
            if self.codec.passthrough:
                return plain()
            raise NotSealedError(f"{path}: not a sealed file (plaintext in a sealed filesystem; "
                                 "passthrough=True reads it, for migration only)") from None
        except SealioError as e:
            _close(owned)
            if path in str(e):
                raise
            raise type(e)(f"{path}: {e}") from None
        except BaseException:
            _close(owned)
            raise

    def open_write(self, path: str, target: Any, *, commit: Callable[[], None] | None = None,
                   discard: Callable[[], None] | None = None) -> Any:
        """A writer of ``path`` into ``target``: a local path (atomic publish)
        or a base stream that ``commit`` publishes and ``discard`` drops."""
        self.check_can_write()
        return self.codec.open_writer(target, path, commit, discard)


def _close(f: Any) -> None:
    if f is not None:
        f.close()


def picklable_keys(keys: Any) -> bool:
    """Whether ``keys`` is configuration (str or KmsRef) another process
    can rebuild the client from, rather than a live client with secrets."""
    from sealio.kms import KmsRef

    return isinstance(keys, (str, KmsRef))


class SealedCodec:
    """Sealed files (docs/FORMAT.md) under the same names as their plaintext.

    ``keys``: a KMS configuration string (picklable), a
    :class:`~sealio.kms.KmsRef`, a KMS client or a
    :class:`~sealio.KeyManager`, resolved on first use. ``segment_size``:
    the one the files use (sizes are listed from it; a file of another one
    is refused). ``bind_paths``: bind each file to its path (AAD).
    ``passthrough``: read plain files as they are (migration only)."""

    kind = "sealio"
    writable = True
    measures_sizes = False

    def __init__(self, keys: Any, *, master_key: str | None = None, segment_size: int | None = None,
                 bind_paths: bool = False, passthrough: bool = False, threads: int | None = None) -> None:
        self.keys_config = keys
        self.master_key = master_key
        self.segment_log2 = H.DEFAULT_SEGMENT_LOG2 if segment_size is None else H.segment_size_log2(segment_size)
        self.bind_paths = bool(bind_paths)
        self.passthrough = bool(passthrough)
        self.threads = threads
        self._mgr: KeyManager | None = None
        if isinstance(keys, str):
            from sealio.kms import KmsRef
            KmsRef(keys)  # a malformed configuration string fails now, not at the first read

    @property
    def segment_size(self) -> int:
        return 1 << self.segment_log2

    @property
    def keys(self) -> KeyManager:
        if self._mgr is None:
            self._mgr = key_manager(self.keys_config)
        return self._mgr

    def check_picklable(self) -> None:
        if not picklable_keys(self.keys_config):
            raise TypeError(
                f"a sealed filesystem built from a live KMS client ({type(self.keys_config).__name__}) "
                "cannot be pickled without its secrets: pass keys as a KMS configuration string "
                "(e.g. 'local:///abs/path/keyring.json') or a sealio.kms.KmsRef")

    def __reduce__(self) -> Any:
        self.check_picklable()
        return (_sealed_codec, (self.keys_config, self.master_key, self.segment_size, self.bind_paths,
                                self.passthrough, self.threads))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, SealedCodec) and other.keys_config == self.keys_config
                and other.master_key == self.master_key and other.segment_log2 == self.segment_log2
                and other.bind_paths == self.bind_paths and other.passthrough == self.passthrough)

    def __hash__(self) -> int:
        return hash((self.master_key, self.segment_log2, self.bind_paths, self.passthrough))

    def __repr__(self) -> str:
        keys = self.keys_config if isinstance(self.keys_config, str) else type(self.keys_config).__name__
        return f"SealedCodec(keys={keys!r})"

    def aad(self, path: str) -> bytes | None:
        return path.lstrip("/").encode("utf-8") if self.bind_paths else None

    def hides(self, size: int | None) -> bool:
        return False

    def listed_size(self, size: int, sniff: Callable[[], bytes]) -> int | None:
        if self.passthrough and not _sealed_magic(sniff()):
            return size
        try:
            return H.layout(size, self.segment_size)[0]
        except (IntegrityError, FormatError):
            return None  # not a sealed file of this segment size: opening it names the problem

    def open_reader(self, source: Any, path: str, owned: Any) -> SealedReader:
        reader = OwningReader(source, self.keys, aad=self.aad(path), threads=self.threads, owned=owned)
        if reader.segment_size != self.segment_size:
            size = reader.segment_size
            reader.close()
            raise FormatError(f"{path}: sealed with {size}-byte segments, but this filesystem lists sizes for "
                              f"{self.segment_size}-byte segments (pass segment_size={size})")
        return reader

    def check_can_write(self) -> None:
        if (self.master_key or self.keys.default_master_key) is None:
            raise ValueError("writing needs master_key= (or keys with a default master key)")

    def open_writer(self, target: Any, path: str, commit: Callable[[], None] | None,
                    discard: Callable[[], None] | None) -> SealedWriter:
        kw: dict[str, Any] = {"master_key": self.master_key or self.keys.default_master_key,
                              "aad": self.aad(path), "segment_size": self.segment_size, "threads": self.threads}
        if isinstance(target, str):
            return SealedWriter(target, self.keys, **kw)  # temporary file, fsync, rename
        return TargetWriter(target, self.keys, commit=commit, discard=discard, **kw)


def _sealed_codec(keys: Any, master_key: str | None, segment_size: int, bind_paths: bool, passthrough: bool,
                  threads: int | None) -> SealedCodec:
    return SealedCodec(keys, master_key=master_key, segment_size=segment_size, bind_paths=bind_paths,
                       passthrough=passthrough, threads=threads)


def _sealed_magic(head: bytes) -> bool:
    try:
        H.check_magic(head)
    except NotSealedError:
        return False
    return True


class OwningReader(SealedReader):
    """A SealedReader that closes the base file it reads from (``owned``)."""

    def __init__(self, source: Any, keys: Any, *, aad: bytes | None, threads: int | None, owned: Any) -> None:
        self._owned = owned
        super().__init__(source, keys, aad=aad, threads=threads)

    def close(self) -> None:
        try:
            super().close()
        finally:
            owned, self._owned = getattr(self, "_owned", None), None
            if owned is not None:
                owned.close()


class TargetWriter(SealedWriter):
    """A SealedWriter into a base stream it owns: after a clean close the
    stream is published (``commit``), otherwise it is dropped (``discard``),
    so a partial file is never published whole.

    Close and abort hold the writer's own lock (re-entrant; every write
    holds it), so a write failing in another thread cannot interleave with
    a publish (issue 12)."""

    def __init__(self, target: Any, keys: Any, *, commit: Callable[[], None] | None,
                 discard: Callable[[], None] | None, **kw: Any) -> None:
        self._target = target
        self._commit = commit or target.close
        self._discard = discard or target.close
        try:
            super().__init__(target, keys, **kw)
        except BaseException:
            self._drop()
            raise

    def close(self) -> None:
        with self.lock:  # re-entrant: the same lock SealedWriter.close takes
            if self.closed:
                return
            try:
                super().close()
            except BaseException:
                self._drop()
                raise
            if self._target is not None:
                self._target = None
                self._commit()

    def abort(self) -> None:
        with self.lock:
            if self.closed:
                return
            try:
                super().abort()
            finally:
                self._drop()

    def _drop(self) -> None:
        if getattr(self, "_target", None) is not None:
            self._target = None
            self._discard()
