"""KMS clients and the one-string KMS configuration used by the CLI, Spark
and pickled filesystems.

A configuration string names *where* master keys live, never a secret:
credentials come from the environment or files. ``KmsRef(uri)`` is the
picklable handle every integration passes around; it builds the real client
lazily, once per process.
"""

from __future__ import annotations

from sealio.kms._uri import KmsRef, from_uri, register_scheme, schemes

__all__ = ["KmsRef", "from_uri", "register_scheme", "schemes"]
