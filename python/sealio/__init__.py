"""sealio: encrypted columnar I/O for the Python data stack.

Layers import one way: ``_native`` (C core) → ``primitives`` → format →
streams → integrations → CLI.
"""

from __future__ import annotations

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

__version__ = "0.1.0"

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
