"""How the CLI touches the local filesystem safely: walking a source tree
(the one walker, :mod:`sealio.io.tree`, reporting skips on stderr),
opening a source file, creating the directories of an output.

Symbolic links inside SRC are not followed, nor directories in DST that
are symbolic links (``--follow-symlinks`` does both); links, FIFOs,
devices and sockets inside SRC are skipped with one line each on stderr.
Paths named on the command line are followed.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

from sealio.io.tree import kind, walk


def skipped(path: Path | str, why: str) -> None:
    """One line on stderr for a tree entry that is not processed."""
    sys.stdout.flush()
    print(f"sealio: skipped {path}: {why}", file=sys.stderr)


def walk_files(root: Path, follow_symlinks: bool = False) -> Iterator[tuple[Path, str]]:
    """:func:`sealio.io.tree.walk` (a file, or a tree's regular files) with
    each skipped entry reported as one stderr line."""
    return walk(root, follow_symlinks=follow_symlinks, on_skip=skipped)


def open_source_file(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> io.FileIO:
    """Open a file to read, never blocking and never anything but a regular
    file: ``O_NONBLOCK`` (a FIFO swapped in after the walk's lstat opens at
    once), ``O_NOFOLLOW`` unless ``follow_symlinks``, then ``fstat``."""

    def opener(name: str, _flags: int) -> int:
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        if not follow_symlinks:
            flags |= getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(name, flags)
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise OSError(errno.EINVAL, f"a {kind(mode)}, not a regular file", name)
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return fd

    return open(path, "rb", buffering=0, opener=opener)  # noqa: SIM115 - the caller closes it


def open_in_tree(path: Path, top: Path, follow_symlinks: bool) -> io.FileIO:
    """A walked file, opened without following a link swapped in since the
    walk (``top`` itself was named by the user and is followed)."""
    return open_source_file(path, follow_symlinks=follow_symlinks or path == top)


def make_dirs(path: Path, created: list[Path] | None = None) -> None:
    """``mkdir -p path``, appending each directory it made to ``created``
    (outermost first), so that a failed run can take them back
    (:func:`remove_empty`)."""
    missing = []
    d = path
    while not os.path.lexists(d) and d != d.parent:
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        try:
            os.mkdir(d)
        except FileExistsError:
            continue
        if created is not None:
            created.append(d)
    if not path.is_dir():
        raise OSError(errno.ENOTDIR, "not a directory", str(path))


def remove_empty(created: list[Path]) -> None:
    """Remove the directories of ``created`` that are still empty, deepest
    first: a run whose files all failed leaves no empty tree behind."""
    for d in sorted(created, key=lambda p: len(p.parts), reverse=True):
        try:
            os.rmdir(d)
        except OSError:  # not empty (or gone): keep it
            pass


def prepare_parent(root: Path, out: Path, follow_symlinks: bool = False,
                   created: list[Path] | None = None) -> None:
    """Create the directories from ``root`` (followed: named by the user) down
    to ``out``'s parent, refusing any that is a symbolic link unless
    ``follow_symlinks``: output never lands outside DST through a planted link.
    Directories made are appended to ``created``."""
    make_dirs(root, created)
    d = root
    for part in out.relative_to(root).parts[:-1]:
        d = d / part
        try:
            st = os.lstat(d)
        except FileNotFoundError:
            try:
                os.mkdir(d)
                if created is not None:
                    created.append(d)
            except FileExistsError:
                pass
            st = os.lstat(d)
        if stat.S_ISLNK(st.st_mode):
            if not follow_symlinks:
                raise OSError(errno.ELOOP, "a symbolic link inside the destination, not written through "
                              "(--follow-symlinks writes through it)", str(d))
            st = os.stat(d)
        if not stat.S_ISDIR(st.st_mode):
            raise OSError(errno.ENOTDIR, f"a {kind(st.st_mode)}, not a directory", str(d))
