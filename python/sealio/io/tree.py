"""The one tree walker: which files under a root a bulk operation touches.

Rules (the CLI's since issue 12, now everyone's): entries are ``lstat``-ed;
symbolic links are not followed unless ``follow_symlinks`` (then directory
loops are cut); links, FIFOs, devices, sockets and unreadable directories
are skipped with one report each through ``on_skip``; our own
``*.sealio-tmp`` files are skipped silently. Without ``follow_symlinks``
the walk never leaves the root. The root itself was named by the caller
and is followed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from sealio._fsutil import TMP_SUFFIX

__all__ = ["OnSkip", "kind", "walk", "walk_tree"]

OnSkip = Callable[[Path, str], None]


def _log_skip(path: Path, why: str) -> None:
    import logging  # here: every CLI start imported it for a message few runs print (~2 ms)

    logging.getLogger("sealio.io.tree").warning("skipped %s: %s", path, why)


def kind(mode: int) -> str:
    """A file type for messages ("FIFO", "symbolic link", ...)."""
    for test, what in ((stat.S_ISLNK, "symbolic link"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISDIR, "directory"), (stat.S_ISREG, "regular file")):
        if test(mode):
            return what
    return "special file"


def walk_tree(root: Path, *, follow_symlinks: bool = False,
              on_skip: OnSkip | None = None) -> Iterator[tuple[Path, str]]:
    """(regular file, POSIX path relative to the directory ``root``), sorted,
    each directory's files before its subdirectories. ``on_skip(path, why)``
    reports each skipped entry (default: a warning on the ``sealio.io.tree``
    logger)."""
    skipped = on_skip or _log_skip

    def visit(d: Path, ancestors: frozenset[tuple[int, int]]) -> Iterator[tuple[Path, str]]:
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            skipped(d, f"cannot list it ({e.strerror or type(e).__name__})")
            return
        subdirs: list[tuple[Path, os.stat_result]] = []
        for e in entries:
            if e.name.endswith(TMP_SUFFIX):
                continue
            p = Path(e.path)
            try:
                st = e.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    if not follow_symlinks:
                        skipped(p, "symbolic link, not followed (--follow-symlinks follows it)")
                        continue
                    st = os.stat(p)
            except OSError as err:
                skipped(p, f"cannot stat it ({err.strerror or type(err).__name__})")
                continue
            if stat.S_ISDIR(st.st_mode):
                subdirs.append((p, st))
            elif stat.S_ISREG(st.st_mode):
                yield p, p.relative_to(root).as_posix()
            else:
                skipped(p, f"a {kind(st.st_mode)}, not a regular file")
        for p, st in subdirs:
            ident = (st.st_dev, st.st_ino)
            if ident in ancestors:
                skipped(p, "a directory loop (symbolic link to a parent)")
                continue
            yield from visit(p, ancestors | {ident})

    st = os.stat(root)
    yield from visit(root, frozenset({(st.st_dev, st.st_ino)}))


def walk(root: str | os.PathLike[str], *, follow_symlinks: bool = False,
         on_skip: OnSkip | None = None) -> Iterator[tuple[Path, str]]:
    """(file, path relative to the tree root as POSIX text) for a file or a
    tree: a regular file yields itself (with its name), a directory its
    tree (:func:`walk_tree`). FileNotFoundError when ``root`` is missing;
    ValueError ("ROOT: a FIFO, not a regular file or a directory") for any
    other kind of root."""
    src = Path(root)
    st = os.stat(src)
    if stat.S_ISDIR(st.st_mode):
        yield from walk_tree(src, follow_symlinks=follow_symlinks, on_skip=on_skip)
    elif stat.S_ISREG(st.st_mode):
        yield src, src.name
    else:
        raise ValueError(f"{src}: a {kind(st.st_mode)}, not a regular file or a directory")
