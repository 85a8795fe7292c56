"""KMS clients and the one-string KMS configuration used by the CLI, Spark
and pickled filesystems.

A configuration string names *where* master keys live, never a secret:
credentials come from the environment or files. ``KmsRef(uri)`` is the
picklable handle every integration passes around; it builds the real client
lazily, once per process.
"""

from __future__ import annotations

from typing import Any

from sealio.kms._retry import RetryPolicy
from sealio.kms._uri import KmsRef, from_uri, register_scheme, schemes

__all__ = ["AwsKms", "KmsRef", "RetryPolicy", "VaultTransit", "from_uri", "register_scheme", "schemes"]


def __getattr__(name: str) -> Any:
    """``VaultTransit`` and ``AwsKms`` import hvac/boto3 only when asked for."""
    if name == "VaultTransit":
        try:
            from sealio.kms.vault import VaultTransit
        except ModuleNotFoundError as e:  # requests, which hvac brings
            raise ModuleNotFoundError(f"VaultTransit needs {e.name}, which is not installed: "
                                      "pip install 'sealio[vault]'", name=e.name) from None
        return VaultTransit
    if name == "AwsKms":
        from sealio.kms.aws import AwsKms
        return AwsKms
    raise AttributeError(f"module 'sealio.kms' has no attribute {name!r}")
