"""The one atomic publish of a local file: write a temporary file next to
the target, fsync it, rename it into place, fsync the directory.

Layer 0 (it imports nothing of sealio), because both the local keyring
(``sealio.kms.local``) and the sealed-file writer (``sealio.io``) publish
this way; ``sealio.io.atomic`` is its public name for the upper layers.
"""

from __future__ import annotations

import io
import errno
import os
from pathlib import Path

__all__ = ["AtomicFileSink", "TMP_SUFFIX", "fsync_dir", "write_atomically"]

TMP_SUFFIX = ".sealio-tmp"  # tree walkers and filesystems hide names ending so


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory so a rename inside it survives a crash; best effort
    (some filesystems refuse to open or fsync directories)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    try:
        with io.open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o077  # unknown: keep the file private


def make_temp(directory: str, prefix: str, suffix: str) -> tuple[int, str]:
    """A new file ``directory/prefix<random>suffix`` opened read-write, as
    ``tempfile.mkstemp`` makes it (``O_EXCL | O_NOFOLLOW``, mode 0600; 48
    random bits, another name on a collision). Not ``tempfile`` itself: its
    import (with ``shutil`` and ``random``) was 3 ms of every CLI start."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = os.path.join(directory, f"{prefix}{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", directory)


class AtomicFileSink:
    """Writes to a temporary file next to ``path``; :meth:`publish` fsyncs
    and renames it into place, :meth:`abort` deletes it.

    The temporary file is created as ``mkstemp`` does (``O_EXCL``, mode 0600,
    a random name ending in ``.sealio-tmp``: :func:`make_temp`), so nothing planted at a
    predictable name is followed. The published file gets ``mode & 0o777``
    when the caller names one (e.g. the source's), else ``0o666 & ~umask``;
    never the mode of the file it replaces (an attacker's setuid/setgid/
    sticky or world-writable file, or the target of a symlink planted
    there) and never a special bit.

    ``fsync=False`` publishes by the rename alone, as ``cp`` leaves a file:
    the old content or the new under the name while the machine runs, but
    after a crash the new name may hold less than was written.

    ``replace=False`` never replaces: a file that appeared under ``path``
    while this one was written makes :meth:`publish` raise
    :class:`FileExistsError` (a hard link, which fails on an existing name,
    stands in for the rename; where links are refused, a check just before
    the rename).
    """

    def __init__(self, path: str | os.PathLike[str], mode: int | None = None, *, fsync: bool = True,
                 replace: bool = True) -> None:
        self.path = Path(path)
        self.mode = None if mode is None else mode & 0o777
        self.fsync = bool(fsync)
        self.replace = bool(replace)
        fd, tmp = make_temp(str(self.path.parent or "."), f".{self.path.name}.", TMP_SUFFIX)
        self.fd: int | None = fd
        self.tmp: str | None = tmp  # None once renamed into place

    def write(self, view: memoryview) -> None:
        assert self.fd is not None
        while len(view):
            n = os.write(self.fd, view)
            view = view[n:]

    def publish(self) -> None:
        assert self.fd is not None and self.tmp is not None
        if self.fsync:
            os.fsync(self.fd)
        os.fchmod(self.fd, (0o666 & ~_umask()) if self.mode is None else self.mode)
        os.close(self.fd)
        self.fd = None
        if self.replace:
            os.replace(self.tmp, self.path)  # replaces a symlink itself, never its target
        else:
            _publish_new(self.tmp, self.path)
        self.tmp = None
        if self.fsync:
            fsync_dir(self.path.parent)

    def abort(self) -> None:
        """Close and delete the temporary file (also after a failed publish)."""
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None


def _publish_new(tmp: str, path: Path) -> None:
    """Rename ``tmp`` to ``path`` unless something is there (even a
    dangling symlink): link, then drop the temporary name."""
    try:
        os.link(tmp, path, follow_symlinks=False)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "appeared while it was being written, so it was left as it is",
                              str(path)) from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS):
            raise
        if os.path.lexists(path):  # no hard links here (FAT, some FUSE): check, then rename
            raise FileExistsError(errno.EEXIST, "appeared while it was being written, so it was left as it is",
                                  str(path)) from None
        os.rename(tmp, path)
        return
    os.unlink(tmp)


def write_atomically(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None) -> None:
    """Publish ``data`` as ``path`` through an :class:`AtomicFileSink`: the
    old content or the new, never a mix, whatever crashes when."""
    sink = AtomicFileSink(path, mode=mode)
    try:
        sink.write(memoryview(data))
        sink.publish()
    except BaseException:
        sink.abort()
        raise
