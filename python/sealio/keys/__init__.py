"""Keys: the KMS client protocol, envelope encryption and the resolution
of a ``keys=`` argument (layer 3, over the KMS clients of :mod:`sealio.kms`).

``LocalKeyring`` and its constants are re-exported from
:mod:`sealio.kms.local`, where they live, for compatibility.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sealio.keys.envelope import DEFAULT_KEK_TTL, DekSlot, KeyManager
from sealio.keys.protocol import KmsClient
from sealio.keys.resolve import key_manager
from sealio.kms.local import (
    DEFAULT_SCRYPT_N,
    MAX_KEYRING_BYTES,
    MAX_SCRYPT_MEMORY,
    MAX_SCRYPT_N,
    MAX_SCRYPT_P,
    MAX_SCRYPT_R,
    MAX_SCRYPT_WORK,
    LocalKeyring,
    default_keyring_path,
)

__all__ = [
    "DEFAULT_KEK_TTL",
    "DEFAULT_SCRYPT_N",
    "DekSlot",
    "KeyManager",
    "KmsClient",
    "LocalKeyring",
    "default_keyring_path",
    "key_manager",
    "pyarrow_kms_client",
    "pyarrow_kms_client_factory",
]

# Moving to sealio.parquet (helper F); kept here until that lands.
def pyarrow_kms_client(kms: Any) -> Any:
    """Wrap any sealio KMS client (e.g. :class:`LocalKeyring`) as a
    ``pyarrow.parquet.encryption.KmsClient`` instance, for pyarrow's
    ``CryptoFactory`` (which insists on that class)."""
    import pyarrow.parquet.encryption as pe

    class _Adapter(pe.KmsClient):  # type: ignore[misc]
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self._inner = inner

        def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
            return self._inner.wrap_key(key_bytes, master_key_identifier)

        def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
            return self._inner.unwrap_key(wrapped_key, master_key_identifier)

    return _Adapter(kms)


def pyarrow_kms_client_factory(kms: Any) -> Callable[[Any], Any]:
    """A ``kms_client_factory`` for ``pyarrow.parquet.encryption.CryptoFactory``."""
    return lambda _config: pyarrow_kms_client(kms)
