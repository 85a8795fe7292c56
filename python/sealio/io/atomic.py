"""Atomic publish of local files, public for the upper layers (the CLI, the
BigDL writers, Spark's markers). The mechanism is :mod:`sealio._fsutil`,
one layer lower because the local keyring publishes the same way."""

from __future__ import annotations

from sealio._fsutil import TMP_SUFFIX, AtomicFileSink, fsync_dir, write_atomically

__all__ = ["AtomicFileSink", "TMP_SUFFIX", "fsync_dir", "write_atomically"]
