"""Sealed-file I/O (layer 4): the reader and writer, their sources and
sinks, the one worker pool, the one atomic publish, the one tree walker,
and the operations on whole files.

``sealio.streams`` re-exports the same names (the documented older path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sealio import _lazy

# Imported on first use: the CLI's tree walker (``sealio.io.tree``) must
# not load the reader, the writer and the key manager with it.
_WHERE = {
    "AtomicFileSink": "sealio.io.atomic", "fsync_dir": "sealio.io.atomic",
    "copy_stream": "sealio.io.ops", "inspect": "sealio.io.ops", "is_sealed": "sealio.io.ops",
    "open": "sealio.io.ops", "rewrap": "sealio.io.ops",
    "MAX_THREADS": "sealio.io.pool", "default_threads": "sealio.io.pool", "executor": "sealio.io.pool",
    "SealedReader": "sealio.io.reader", "walk": "sealio.io.tree", "SealedWriter": "sealio.io.writer",
}

if TYPE_CHECKING:
    from sealio.io.atomic import AtomicFileSink, fsync_dir
    from sealio.io.ops import copy_stream, inspect, is_sealed, open, rewrap
    from sealio.io.pool import MAX_THREADS, default_threads, executor
    from sealio.io.reader import SealedReader
    from sealio.io.tree import walk
    from sealio.io.writer import SealedWriter

__getattr__, __dir__ = _lazy.exports(__name__, _WHERE)

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
