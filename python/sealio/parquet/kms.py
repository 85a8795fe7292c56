"""Parquet Modular Encryption (PME) with sealio's keys.

:func:`parquet_crypto_factory` gives a ``pyarrow.parquet.encryption.CryptoFactory``
whose KMS client wraps Parquet keys with the *same* master keys that protect
sealed files. For a :class:`~sealio.LocalKeyring` the wrapping is done
locally in parquet-java's format (``KeyToolkit.encryptKeyLocally``)::

    wrapped = base64( nonce(12) || AES-GCM(master key, key, AAD = UTF-8 master key id) || tag(16) )

so a JVM ``KmsClient`` that holds the same master key bytes (the Spark
integration) reads and writes the same files. Other KMS backends (Vault,
AWS, ...) wrap remotely through their own ``wrap_key``/``unwrap_key``.
See docs/PME.md.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealio.errors import IntegrityError, KeyNotFoundError
from sealio.keys import KeyManager, LocalKeyring

__all__ = ["ParquetLocalWrap", "parquet_crypto_factory", "parquet_kms_client", "wrap_locally", "unwrap_locally"]

NONCE_SIZE = 12
TAG_SIZE = 16
# The keyring's own wrap is "<prefix>:<version>:<base64>"; base64 has no ':'.
_KEYRING_WRAP_PREFIX = f"{LocalKeyring.WRAP_PREFIX}:"


def wrap_locally(master_key: bytes, key_bytes: bytes, master_key_identifier: str) -> str:
    """parquet-java's local key wrap: base64(nonce ‖ ciphertext ‖ tag), AAD = the id."""
    nonce = os.urandom(NONCE_SIZE)
    sealed = AESGCM(master_key).encrypt(nonce, bytes(key_bytes), master_key_identifier.encode("utf-8"))
    return base64.b64encode(nonce + sealed).decode("ascii")


def unwrap_locally(master_key: bytes, wrapped_key: str, master_key_identifier: str) -> bytes:
    """Inverse of :func:`wrap_locally`; IntegrityError if it does not authenticate."""
    try:
        raw = base64.b64decode(wrapped_key.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, AttributeError, UnicodeEncodeError):
        raise IntegrityError("wrapped Parquet key is not base64") from None
    if len(raw) < NONCE_SIZE + TAG_SIZE:
        raise IntegrityError("wrapped Parquet key is too short")
    try:
        return AESGCM(master_key).decrypt(raw[:NONCE_SIZE], raw[NONCE_SIZE:],
                                          master_key_identifier.encode("utf-8"))
    except InvalidTag:
        raise IntegrityError(
            f"wrapped Parquet key did not authenticate under master key {master_key_identifier!r}") from None


def _keyring_versions(keyring: LocalKeyring, name: str) -> list[bytes]:
    """Master key bytes of ``name``, newest version first.

    Reads the keyring's private table on purpose: local wrapping needs the
    master key itself, and this module is the one place that does it."""
    with keyring._lock:  # noqa: SLF001 - see docstring
        versions = keyring._versions(name)  # noqa: SLF001
        return [versions[v] for v in sorted(versions, reverse=True)]


class ParquetLocalWrap:
    """A KMS client with parquet-java's local wrap format over a keyring.

    Wraps under the newest version of the named master key; unwraps by
    trying versions newest first (the format records no version, and the
    GCM tag tells which one fits), so files survive ``keyring.rotate``."""

    def __init__(self, keyring: LocalKeyring) -> None:
        self._keyring = keyring

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        return wrap_locally(_keyring_versions(self._keyring, master_key_identifier)[0], key_bytes,
                            master_key_identifier)

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        if isinstance(wrapped_key, str) and wrapped_key.startswith(_KEYRING_WRAP_PREFIX):
            # Written by the retired ``sealio.keys.pyarrow_kms_client`` adapter,
            # which stored the keyring's own versioned wrap: still readable.
            return self._keyring.unwrap_key(wrapped_key, master_key_identifier)
        versions = _keyring_versions(self._keyring, master_key_identifier)
        for master in versions:
            try:
                return unwrap_locally(master, wrapped_key, master_key_identifier)
            except IntegrityError:
                continue
        raise IntegrityError(f"wrapped Parquet key did not authenticate under any version of master key "
                             f"{master_key_identifier!r}")

    def __repr__(self) -> str:
        return f"ParquetLocalWrap({self._keyring!r})"

    def __reduce__(self) -> Any:
        raise TypeError("ParquetLocalWrap holds key material and cannot be pickled")


def _resolve(keys: Any) -> Any:
    """The KMS client behind ``keys`` (a configuration string, a KmsRef, a
    KeyManager or a client)."""
    if isinstance(keys, KeyManager):
        keys = keys.kms
    if isinstance(keys, str):
        from sealio.kms import KmsRef
        keys = KmsRef(keys)
    client = getattr(keys, "client", None)  # KmsRef: the real client, built once per process
    if client is not None and hasattr(keys, "uri"):
        keys = client
    return keys


def parquet_kms_client(keys: Any) -> Any:
    """A ``pyarrow.parquet.encryption.KmsClient`` for ``keys``: local
    parquet-java wrapping for a keyring, the backend's own wrapping otherwise."""
    import pyarrow.parquet.encryption as pe

    inner = _resolve(keys)
    if isinstance(inner, LocalKeyring):
        inner = ParquetLocalWrap(inner)

    class _SealioParquetKms(pe.KmsClient):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()

        def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
            return inner.wrap_key(key_bytes, master_key_identifier)

        def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
            try:
                return inner.unwrap_key(wrapped_key, master_key_identifier)
            except KeyNotFoundError as e:  # pyarrow shows str(e); keep the name readable
                raise KeyNotFoundError(str(e)) from None

    return _SealioParquetKms()


def parquet_crypto_factory(keys: Any) -> Any:
    """A ``pyarrow.parquet.encryption.CryptoFactory`` backed by sealio's keys.

    ``keys`` is a KMS configuration string (``local:///abs/keyring.json``),
    a :class:`~sealio.kms.KmsRef`, a :class:`~sealio.KeyManager` or a KMS
    client such as :class:`~sealio.LocalKeyring`. Use it with
    ``pe.EncryptionConfiguration(footer_key=..., column_keys=...)``; master key
    ids are the keyring's key names."""
    import pyarrow.parquet.encryption as pe

    factory: Callable[[Any], Any] = lambda _config: parquet_kms_client(keys)  # noqa: E731
    return pe.CryptoFactory(factory)
