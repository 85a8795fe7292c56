"""The KMS client protocol every key source implements (the shape of
``pyarrow.parquet.encryption.KmsClient``, without importing pyarrow)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["KmsClient"]


@runtime_checkable
class KmsClient(Protocol):
    """A KMS, with the protocol of ``pyarrow.parquet.encryption.KmsClient``.

    Any object with these two methods works (a pyarrow ``KmsClient``
    subclass included); subclass this for documentation's sake.
    """

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        """Encrypt ``key_bytes`` under the named master key; return ASCII text."""
        ...

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        """Inverse of :meth:`wrap_key`."""
        ...
