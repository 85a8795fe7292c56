"""Sealed streams (the documented path): :func:`open`, the seekable reader,
the streaming writer and the whole-file operations, re-exported from
:mod:`sealio.io`, where the code lives."""

from __future__ import annotations

from sealio.io import (
    MAX_THREADS,
    SealedReader,
    SealedWriter,
    copy_stream,
    default_threads,
    inspect,
    is_sealed,
    open,
    rewrap,
)

__all__ = ["SealedReader", "SealedWriter", "open", "rewrap", "default_threads",
           "copy_stream", "inspect", "is_sealed", "MAX_THREADS"]
