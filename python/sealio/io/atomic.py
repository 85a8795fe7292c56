"""Atomic publish of local files, public for the upper layers (the CLI, the
BigDL writers, Spark's markers). The mechanism is :mod:`sealio._fsutil`,
one layer lower because the local keyring publishes the same way.

:class:`AtomicFileSink` here adds write-behind: every
:data:`WRITEBACK_BYTES` written, it asks the kernel to start writing them
to disk (Linux ``sync_file_range(SYNC_FILE_RANGE_WRITE)``, which waits for
nothing), so the disk works while the caller encrypts or decrypts the next
batch and the fsync in :meth:`publish` finds little left. Durability is
unchanged: publish still fsyncs the file and the directory. Measured on
500 MB here (2 vCPU VM, ext4): ``sealio decrypt`` 0.92-1.16 s -> 0.30-0.56 s,
the final fsync 0.26 s -> 0.004 s; ``sealio encrypt`` about the same.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from sealio._fsutil import TMP_SUFFIX, fsync_dir, write_atomically
from sealio._fsutil import AtomicFileSink as _PlainSink

__all__ = ["AtomicFileSink", "TMP_SUFFIX", "WRITEBACK_BYTES", "fsync_dir", "start_writeback",
           "write_atomically"]

# Start the disk on every 32 MiB written: 8 MiB made the sealed writer's
# 4 MiB batches wait on a busy queue (500 MB encrypt 0.6 -> 0.9 s here).
WRITEBACK_BYTES = 32 << 20
_SYNC_FILE_RANGE_WRITE = 2
_sync_file_range: Any = None  # the libc function, False where there is none


def start_writeback(fd: int, offset: int, length: int) -> bool:
    """Start (not wait for) writeback of ``[offset, offset+length)`` of
    ``fd``; False where the OS has no such call or refuses it (a pipe, a
    filesystem without it). Never raises: it only changes when bytes reach
    the disk, never whether they do."""
    global _sync_file_range
    if _sync_file_range is None:
        _sync_file_range = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                fn = ctypes.CDLL(None, use_errno=True).sync_file_range
                fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
                fn.restype = ctypes.c_int
                _sync_file_range = fn
            except (OSError, AttributeError, ImportError):
                pass
    if _sync_file_range is False:
        return False
    return int(_sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)) == 0


class AtomicFileSink(_PlainSink):
    """:class:`sealio._fsutil.AtomicFileSink` with write-behind (see the
    module docstring): same temporary file, fsync, rename and abort."""

    def __init__(self, path: str | os.PathLike[str], mode: int | None = None) -> None:
        super().__init__(path, mode)
        self._written = 0
        self._started = 0  # writeback was started for [0, _started)

    def write(self, view: memoryview) -> None:
        super().write(view)
        self._written += view.nbytes
        if self._written - self._started >= WRITEBACK_BYTES and self.fd is not None:
            start_writeback(self.fd, self._started, self._written - self._started)
            self._started = self._written
