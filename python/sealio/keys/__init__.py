"""Keys: the KMS client protocol, envelope encryption and the resolution
of a ``keys=`` argument (layer 3, over the KMS clients of :mod:`sealio.kms`).

``LocalKeyring`` and its constants are re-exported from
:mod:`sealio.kms.local`, where they live, for compatibility.
"""

from __future__ import annotations

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
]
