"""sealio: encrypted columnar I/O for the Python data stack.

Layers import one way: ``hazmat`` (C core and primitives) → ``format`` →
``kms`` → ``keys`` → ``io`` → ``fs`` → ``parquet`` → integrations (``bigdl``,
``spark``) → ``cli``. This module re-exports the everyday names only.
"""

from __future__ import annotations

from importlib import metadata as _metadata

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

try:
    __version__ = _metadata.version("sealio")
except _metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

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
