"""Sealed-file I/O (layer 4): the reader and writer, their sources and
sinks, the one worker pool, the one atomic publish, the one tree walker,
and the operations on whole files.

``sealio.streams`` re-exports the same names (the documented older path).
"""

from __future__ import annotations

from sealio.io.atomic import AtomicFileSink, fsync_dir
from sealio.io.ops import copy_stream, inspect, is_sealed, open, rewrap
from sealio.io.pool import MAX_THREADS, default_threads, executor
from sealio.io.reader import SealedReader
from sealio.io.tree import walk
from sealio.io.writer import SealedWriter

__all__ = [
    "AtomicFileSink",
    "MAX_THREADS",
    "SealedReader",
    "SealedWriter",
    "copy_stream",
    "default_threads",
    "executor",
    "fsync_dir",
    "inspect",
    "is_sealed",
    "open",
    "rewrap",
    "walk",
]
