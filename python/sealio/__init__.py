"""sealio: encrypted columnar I/O for the Python data stack.

Layers import one way: ``_native`` (C core) → ``primitives`` → format →
streams → integrations → CLI.
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
from sealio.keys import KeyManager, KmsClient, LocalKeyring
from sealio.streams import SealedReader, SealedWriter, open, rewrap

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
