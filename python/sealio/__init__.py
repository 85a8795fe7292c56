"""sealio: encrypted columnar I/O for the Python data stack.

Layers import one way: ``hazmat`` (C core and primitives) → ``format`` →
``kms`` → ``keys`` → ``io`` → ``fs`` → ``parquet`` → integrations (``bigdl``,
``spark``) → ``cli``. This module re-exports the everyday names only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sealio import _lazy
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

# The rest is imported on first use (PEP 562): ``import sealio.cli`` or
# ``sealio.hazmat`` loads the package first, and eager imports of the
# reader, writer, key manager and keyring cost every CLI run ~80 ms.
_WHERE = {
    "SealedReader": "sealio.io.reader", "SealedWriter": "sealio.io.writer",
    "open": "sealio.io.ops", "rewrap": "sealio.io.ops",
    "KeyManager": "sealio.keys.envelope", "KmsClient": "sealio.keys.protocol",
    "LocalKeyring": "sealio.kms.local",
}

if TYPE_CHECKING:
    from sealio.io import SealedReader, SealedWriter, open, rewrap
    from sealio.keys import KeyManager, KmsClient
    from sealio.kms.local import LocalKeyring


_package_getattr, __dir__ = _lazy.exports(__name__, _WHERE)


def __getattr__(name: str) -> Any:
    """``__version__`` on first use, from :mod:`sealio._version` (the one
    place it is written; the package metadata is built from it)."""
    if name != "__version__":
        return _package_getattr(name)
    from sealio._version import __version__ as version

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
