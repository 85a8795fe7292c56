"""The native (C++) path of :func:`sealio.arrow.EncryptedFileSystem`.

Over a native pyarrow base (local, S3, GCS, HDFS, subtree of those) the
sealed files are read and written by C++ (csrc/arrow/sealed_fs.cc, built
as ``sealio.fs._native_arrow`` against the installed pyarrow): Arrow's I/O
threads decrypt with the C core and make no Python call per read. Python
keeps what is per file and policy, through :class:`NativeHooks`: one call
per open (header, KMS, path binding), one per local publish, one per
failure (to raise the policy's error). Listings, sizes, directory
operations and pickling are the Python handler's, unchanged.

:func:`choose` decides per filesystem, and says which path and why in
one log line (logger ``sealio``): the Python ``PyFileSystem`` path is
used for fsspec bases, without the compiled module (no C++ compiler at
install), when it was built against another pyarrow, or without a GCM
kernel on this CPU.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from sealio.errors import ConfigurationError, FormatError, IntegrityError, NotSealedError, SealioError
from sealio.format import header as H
from sealio.fs import shutdown
from sealio.io.atomic import AtomicFileSink
from sealio.io.pool import default_threads

__all__ = ["NativeHooks", "choose", "native_filesystem", "restore", "unavailable", "unavailable_here"]

log = logging.getLogger("sealio")
_said: set[str] = set()
_said_lock = threading.Lock()


def _say(line: str) -> None:
    with _said_lock:
        if line in _said:
            return
        _said.add(line)
    log.info("%s", line)


def _module() -> tuple[Any, str | None]:
    """The compiled module, or None and why not."""
    if os.environ.get("SEALIO_ARROW_NATIVE", "") == "0":
        return None, "SEALIO_ARROW_NATIVE=0"
    try:
        from sealio.fs import _native_arrow as mod  # type: ignore[attr-defined]
    except ImportError as e:
        return None, f"the native module is not built ({e})"
    if mod.PYARROW_VERSION != pa.__version__:
        return None, (f"the native module was built against pyarrow {mod.PYARROW_VERSION}, "
                      f"this is pyarrow {pa.__version__} (reinstall sealio to rebuild it)")
    if not mod.kernel_available():
        return None, "no GCM kernel of the C core on this CPU"
    return mod, None


_mod_cache: list[tuple[Any, str | None]] = []


def _loaded() -> tuple[Any, str | None]:
    if not _mod_cache:
        mod, why = _module()
        if mod is not None:
            shutdown.add_gauge(mod.live_files)
        _mod_cache.append((mod, why))
    return _mod_cache[0]


def _python_inside(fs: pafs.FileSystem) -> bool:
    """Whether reads of ``fs`` call into Python anyway (fsspec under it)."""
    if isinstance(fs, pafs.SubTreeFileSystem):
        return _python_inside(fs.base_fs)
    return isinstance(fs, pafs.PyFileSystem)


def unavailable_here() -> str | None:
    """Why this process has no native path at all (None when it has one)."""
    return _loaded()[1]


def unavailable(handler: Any) -> str | None:
    """Why ``handler`` cannot get the native path (None when it can)."""
    if _python_inside(handler.base):
        return "the base filesystem is a Python one (fsspec)"
    if handler.policy.kind != "sealio":
        return f"{handler.policy.kind} files have no native reader"
    return _loaded()[1]


class NativeHooks:
    """What C++ asks Python, once per file. Holds no key material: keys
    are resolved per call and handed over for the file's lifetime (the C
    core's context, wiped when the file is destroyed)."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.codec = handler.policy.codec

    def __repr__(self) -> str:
        return f"NativeHooks({self.codec!r})"

    def __reduce__(self) -> Any:
        raise TypeError("NativeHooks are rebuilt from their handler; pickle the filesystem")

    def open_input(self, path: str, head: bytes, size: int) -> tuple[bytes, bytes, int, int, int] | None:
        """(K_seg, nonce prefix, segment size, plaintext size, segment count)
        of ``path``, or None for a plain file under ``passthrough``."""
        codec = self.codec
        with shutdown.call():
            try:
                header, k_seg = codec.keys.open_header(head, codec.aad(path))
                if header.segment_size != codec.segment_size:
                    raise FormatError(f"{path}: sealed with {header.segment_size}-byte segments, but this "
                                      f"filesystem lists sizes for {codec.segment_size}-byte segments "
                                      f"(pass segment_size={header.segment_size})")
                plain, nseg = H.layout(size, header.segment_size)
            except NotSealedError:
                if codec.passthrough:
                    return None
                raise NotSealedError(f"{path}: not a sealed file (plaintext in a sealed filesystem; "
                                     "passthrough=True reads it, for migration only)") from None
            except SealioError as e:
                if path in str(e):
                    raise
                raise type(e)(f"{path}: {e}") from None
            return k_seg, header.nonce_prefix, header.segment_size, plain, nseg

    def open_output(self, path: str) -> tuple[bytes, bytes, bytes, int, AtomicFileSink | None]:
        """(header, K_seg, nonce prefix, segment size, local sink or None)
        of a new sealed file at ``path``."""
        codec = self.codec
        with shutdown.call():
            self.handler.policy.check_can_write()
            master = codec.master_key or codec.keys.default_master_key
            header, k_seg = codec.keys.seal_header(master, codec.segment_log2, codec.aad(path))
            local = self.handler._local_path(path)
            sink = AtomicFileSink(local) if local is not None else None
            return header.pack(), k_seg, header.nonce_prefix, header.segment_size, sink

    def fail(self, path: str, kind: str, index: int) -> None:
        """Raise the error of a failed read (C++ passes it on to the caller)."""
        with shutdown.call(refuse=False):
            if kind == "segment":
                raise IntegrityError(f"{path}: segment {index} failed authentication")
            if kind == "truncated":
                raise IntegrityError(f"{path}: sealed file is truncated: it ends after segment {index}, "
                                     "which is authentic but not the final segment")
            if kind == "final":
                raise IntegrityError(f"{path}: segment {index} (the last in the file) failed authentication: "
                                     "the file is truncated or was modified")
            if kind == "shrunk":
                raise IntegrityError(f"{path}: sealed file is shorter than when it was opened "
                                     "(truncated while reading)")
            raise IntegrityError(f"{path}: an earlier read failed authentication; this file is unusable")


def native_filesystem(handler: Any) -> pafs.FileSystem:
    """The native filesystem over ``handler``'s base and policy
    (ConfigurationError when it cannot be had here)."""
    why = unavailable(handler)
    if why is not None:
        raise ConfigurationError(f"the native sealed filesystem is not available: {why}")
    mod = _loaded()[0]
    # The reader plus up to threads - 1 helpers from Arrow's CPU pool per large
    # read: helpers that find Arrow's threads busy start late and do nothing,
    # so the CPUs' count is the right default with or without use_threads.
    threads = handler.policy.codec.threads or default_threads()
    return mod.NativeSealedFileSystem(handler, NativeHooks(handler), pafs.PyFileSystem(handler),
                                      handler.base, threads)


def choose(handler: Any, native: bool | None) -> pafs.FileSystem:
    """The filesystem of ``handler``: native when ``native`` is True (or
    None and it is available), else ``pyarrow.fs.PyFileSystem``."""
    if native is False:
        _say("sealio: EncryptedFileSystem reads through pyarrow.fs.PyFileSystem (native=False)")
        return pafs.PyFileSystem(handler)
    why = unavailable(handler)
    if why is None:
        _say("sealio: EncryptedFileSystem reads natively (C++ sealed files, no Python call per read)")
        return native_filesystem(handler)
    if native:
        raise ConfigurationError(f"native=True, but the native sealed filesystem is not available: {why}")
    _say(f"sealio: EncryptedFileSystem reads through pyarrow.fs.PyFileSystem (a Python call per read): {why}")
    return pafs.PyFileSystem(handler)


def restore(handler: Any) -> pafs.FileSystem:
    """Unpickle: native again where this process can, else Python's path."""
    return choose(handler, None)
