"""KMS clients and the one-string KMS configuration used by the CLI, Spark
and pickled filesystems.

A configuration string names *where* master keys live, never a secret:
credentials come from the environment or files. ``KmsRef(uri)`` is the
picklable handle every integration passes around; it builds the real client
lazily, once per process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sealio import _lazy

if TYPE_CHECKING:
    from sealio.kms._retry import RetryPolicy
    from sealio.kms._uri import KmsRef, from_uri, register_scheme, schemes
    from sealio.kms.aws import AwsKms
    from sealio.kms.vault import VaultTransit

__all__ = ["AwsKms", "KmsRef", "RetryPolicy", "VaultTransit", "from_uri", "register_scheme", "schemes"]

# Imported on first use: a CLI run with the local keyring needs none of the
# URI parsing (urllib, ipaddress), and VaultTransit / AwsKms bring hvac / boto3.
_package_getattr, __dir__ = _lazy.exports(__name__, {
    "RetryPolicy": "sealio.kms._retry", "KmsRef": "sealio.kms._uri", "from_uri": "sealio.kms._uri",
    "register_scheme": "sealio.kms._uri", "schemes": "sealio.kms._uri",
    "AwsKms": "sealio.kms.aws", "VaultTransit": "sealio.kms.vault",
})


def __getattr__(name: str) -> Any:
    if name != "VaultTransit":
        return _package_getattr(name)
    try:
        return _package_getattr(name)
    except ModuleNotFoundError as e:  # requests, which hvac brings
        raise ModuleNotFoundError(f"VaultTransit needs {e.name}, which is not installed: "
                                  "pip install 'sealio[vault]'", name=e.name) from None
