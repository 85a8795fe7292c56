"""Filesystems of sealed (or BigDL) files: one storage policy
(:mod:`sealio.fs.policy`) under two thin adapters, :mod:`sealio.fs.arrow`
(``pyarrow.fs``) and :mod:`sealio.fs.fsspec` (the ``sealio`` protocol).

The adapters are imported by name, so ``import sealio.fs`` loads neither
pyarrow's filesystem layer nor fsspec."""

from __future__ import annotations

from sealio.fs.policy import Codec, SealedCodec, StoragePolicy

__all__ = ["Codec", "SealedCodec", "StoragePolicy"]
