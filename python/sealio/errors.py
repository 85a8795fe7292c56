"""The one exception hierarchy of sealio.

Messages never carry key material or plaintext. Every failure that means
"this data cannot be trusted" is an :class:`IntegrityError`, with one
message per kind so callers learn nothing that helps an attacker.
"""

from __future__ import annotations

__all__ = [
    "SealioError",
    "IntegrityError",
    "FormatError",
    "NotSealedError",
    "UnsupportedFormatError",
    "KeyNotFoundError",
    "KmsError",
    "KernelUnavailableError",
    "KmsAuthError",
    "KmsUnavailableError",
    "KeyDisabledError",
    "ConfigurationError",
    "InputChangedError",
]


class SealioError(Exception):
    """Root of every error sealio raises on purpose."""


class IntegrityError(SealioError):
    """Authentication failed: wrong key, wrong AAD, tampered, truncated or
    reordered data, or bad CBC padding. No plaintext of the failing unit is
    returned."""


class FormatError(SealioError):
    """The bytes are not a well-formed sealed file (malformed header)."""


class NotSealedError(FormatError):
    """The file does not start with the sealed-file magic: plaintext or
    another format. It is never passed through."""


class UnsupportedFormatError(FormatError):
    """A sealed file of a version or cipher suite this build does not know."""


class KeyNotFoundError(SealioError, KeyError):
    """A named master key (or version) is not in the keyring or KMS."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class KmsError(SealioError):
    """A KMS could not be reached or refused the request."""


class KernelUnavailableError(SealioError, RuntimeError):
    """A forced kernel (``SEALIO_KERNEL``) needs CPU features this machine
    lacks, or the native extension is not built."""


# --- KMS backends (sealio.kms): the failures a caller handles differently


class KmsAuthError(KmsError):
    """The KMS refused our credentials (missing, invalid or not permitted)."""


class KmsUnavailableError(KmsError):
    """The KMS could not be reached or kept failing transiently (after retries
    with backoff, each attempt bounded by the configured timeout)."""


class KeyDisabledError(KmsError):
    """The master key, or the version that wrapped this key, is disabled
    (e.g. below Vault's ``min_decryption_version``, or a disabled AWS KMS key)."""


class ConfigurationError(SealioError, ValueError):
    """An option or configuration is invalid, or would carry a secret where
    only configuration belongs (Spark options, URLs, pickles)."""


class InputChangedError(SealioError, OSError):
    """A file being sealed shrank while it was read: what was sealed would
    not be the file, so nothing is published."""


class WeakKeyWarning(UserWarning):
    """A key source yields an AES key with far less entropy than its size
    (BigDL PPML's data keys: the text of a key string is used as key bytes)."""


class UnauthenticatedWarning(UserWarning):
    """Data was read without an integrity check: a format that has none
    (BigDL's native CBC files) or a salvage opt-out (``verify_mac=False``)."""


class InsecureTransportWarning(UserWarning):
    """A credential or key material would travel unencrypted: plain ``http://``
    to a KMS that is not on this host's loopback interface."""
