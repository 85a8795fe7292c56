"""sealio: encrypted columnar I/O for the Python data stack.

Layers import one way: ``hazmat`` (C core and primitives) → ``format`` →
``kms`` → ``keys`` → ``io`` → ``fs`` → ``parquet`` → integrations (``bigdl``,
``spark``) → ``cli``. This module re-exports the everyday names only.
"""

from __future__ import annotations

from typing import Any

from sealio.errors import (
    FormatError,
    IntegrityError,
    KernelUnavailableError,
    KeyNotFoundError,
    KmsError,
    NotSealedError,
    SealioError,
    UnsupportedFormatError,
)
from sealio.io import SealedReader, SealedWriter, open, rewrap
from sealio.keys import KeyManager, KmsClient
from sealio.kms.local import LocalKeyring


def __getattr__(name: str) -> Any:
    """``__version__`` from package metadata, read on first use: importing
    ``importlib.metadata`` costs about a third of ``import sealio``, which
    every CLI run pays."""
    if name != "__version__":
        raise AttributeError(f"module 'sealio' has no attribute {name!r}")
    from importlib import metadata

    try:
        version = metadata.version("sealio")
    except metadata.PackageNotFoundError:  # imported from a source tree that was never installed
        version = "0+unknown"
    globals()["__version__"] = version
    return version

__all__ = [
    "FormatError",
    "IntegrityError",
    "KernelUnavailableError",
    "KeyManager",
    "KeyNotFoundError",
    "KmsClient",
    "KmsError",
    "LocalKeyring",
    "NotSealedError",
    "SealedReader",
    "SealedWriter",
    "SealioError",
    "UnsupportedFormatError",
    "open",
    "rewrap",
    "__version__",
]
