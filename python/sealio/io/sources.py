"""Where a reader's ciphertext comes from: positional reads on a file
descriptor, or seek+read under a lock on any seekable file object, so
that many threads can read one sealed file at once."""

from __future__ import annotations

import io
import os
import threading
from typing import Any

__all__ = ["FdSource", "FileObjSource", "source_for"]


class FdSource:
    """Positional reads on a file descriptor: thread-safe, no shared offset."""

    def __init__(self, fd: int, owns: bool) -> None:
        self.fd = fd
        self.owns = owns

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def pread_into(self, offset: int, view: memoryview) -> int:
        done = 0
        while done < len(view):
            n = os.preadv(self.fd, [view[done:]], offset + done)
            if n == 0:
                break
            done += n
        return done

    def close(self) -> None:
        if self.owns:
            os.close(self.fd)


class FileObjSource:
    """Any seekable binary file object (BytesIO, fsspec files): seek+read
    under a lock, so positional reads stay thread-safe."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.lock = threading.Lock()

    def size(self) -> int:
        with self.lock:
            return self.f.seek(0, io.SEEK_END)

    def pread_into(self, offset: int, view: memoryview) -> int:
        with self.lock:
            self.f.seek(offset)
            done = 0
            readinto = getattr(self.f, "readinto", None)
            while done < len(view):
                if readinto is not None:
                    try:
                        n = readinto(view[done:])
                    except NotImplementedError:
                        readinto = None
                        continue
                else:
                    data = self.f.read(len(view) - done)
                    n = len(data)
                    view[done:done + n] = data
                if not n:
                    break
                done += n
            return done

    def close(self) -> None:
        pass


def source_for(file: Any) -> tuple[Any, str]:
    if isinstance(file, (str, os.PathLike)):
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        return FdSource(fd, owns=True), os.fspath(file)
    name = str(getattr(file, "name", "<file object>"))
    if not (hasattr(file, "seekable") and file.seekable()):
        raise ValueError("reading a sealed file needs a seekable file object (random access)")
    try:
        fd = file.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return FileObjSource(file), name
    return FdSource(fd, owns=False), name
