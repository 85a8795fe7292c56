"""BigDL PPML data keys and the key sources that wrap them.

BigDL turns a *data-key string* into keys by taking its ASCII bytes:
HMAC key = text[0:16], AES key = text[16:32] (zero-padded when shorter,
Java ``copyOfRange``), so the AES key's entropy is that of the characters
that land in it, not its 128 bits. Each source here reproduces BigDL's
arithmetic exactly and states that entropy, and sealio warns
(:class:`~sealio.errors.WeakKeyWarning`) when it is low.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sealio.errors import ConfigurationError, IntegrityError, WeakKeyWarning

WEAK_KEY_BITS = 80  # below this a key can be searched for: warn


@dataclass(frozen=True)
class DataKey:
    """A BigDL data-key string; its repr never shows it."""

    text: str = field(repr=False)
    entropy_bits: int = 128

    @property
    def secret(self) -> bytes:
        return self.text.encode("utf-8")

    @property
    def hmac_key(self) -> bytes:
        return _copy_of_range(self.secret, 0, 16)

    def aes_key(self, size: int = 16) -> bytes:
        """text[16:16+size], zero-padded: AES-128 (common, 2.2) or AES-256 (2.1)."""
        return _copy_of_range(self.secret, 16, 16 + size)

    def __reduce__(self) -> Any:
        raise TypeError("a BigDL data key cannot be pickled")

    def warn_if_weak(self, source: str) -> None:
        """``source`` is not in the message, so Python's warning filter shows
        it once per call site rather than once per part file of a dataset."""
        if self.entropy_bits < WEAK_KEY_BITS:
            warnings.warn(f"BigDL data keys from this key source carry about {self.entropy_bits} bits of "
                          "entropy (the AES key is key-string text); migrate the data to sealed files",
                          WeakKeyWarning, stacklevel=3)


def _copy_of_range(data: bytes, start: int, end: int) -> bytes:
    return data[start:end].ljust(end - start, b"\0")


class KeySource(Protocol):
    """Turns the ``encryptedDataKey`` stored in a BigDL header into a data
    key, and makes new ones for writers."""

    def decrypt_data_key(self, encrypted: str) -> DataKey: ...

    def new_data_key(self) -> tuple[str, DataKey]: ...


def decode_primary_key(primary_key_b64: str) -> bytes:
    """``spark.bigdl.primaryKey.<name>.plainText``: base64 of an AES key."""
    try:
        key = base64.b64decode(primary_key_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError("the BigDL primary key must be base64 text") from None
    if len(key) not in (16, 24, 32):
        raise ConfigurationError(f"the BigDL primary key decodes to {len(key)} bytes; AES needs 16, 24 or 32")
    return key


class PlaintextPrimaryKey:
    """``spark.bigdl.primaryKey.<name>.plainText``: a base64 AES key that
    wraps data keys with AES/ECB/PKCS5 (no integrity: a wrong key is caught
    only by the padding or, later, by the file's HMAC)."""

    ENTROPY = 32  # text[16:32] of base64(16 bytes): 6 chars, 2 of them padding-constrained

    def __init__(self, primary_key_b64: str) -> None:
        self._key = decode_primary_key(primary_key_b64)

    def __repr__(self) -> str:
        return "PlaintextPrimaryKey(<redacted>)"

    def __reduce__(self) -> Any:
        raise TypeError("a BigDL primary key holds key material and cannot be pickled")

    def decrypt_data_key(self, encrypted: str) -> DataKey:
        try:
            ct = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise IntegrityError("the BigDL encrypted data key is not base64") from None
        if not ct or len(ct) % 16:
            raise IntegrityError("the BigDL encrypted data key has a bad length")
        dec = Cipher(algorithms.AES(self._key), modes.ECB()).decryptor()
        unpad = padding.PKCS7(128).unpadder()
        try:
            text = (unpad.update(dec.update(ct) + dec.finalize()) + unpad.finalize()).decode("utf-8")
        except ValueError:
            raise IntegrityError("the BigDL data key did not decrypt under this primary key "
                                 "(wrong primary key or corrupted header)") from None
        return DataKey(text, self.ENTROPY)

    def new_data_key(self) -> tuple[str, DataKey]:
        text = base64.b64encode(os.urandom(16)).decode("ascii")
        enc = Cipher(algorithms.AES(self._key), modes.ECB()).encryptor()
        pad = padding.PKCS7(128).padder()
        ct = enc.update(pad.update(text.encode()) + pad.finalize()) + enc.finalize()
        return base64.b64encode(ct).decode("ascii"), DataKey(text, self.ENTROPY)


def _java_mod(a: int, b: int) -> int:
    """Java's ``%``: the result takes the sign of the dividend."""
    r = abs(a) % b
    return r if a >= 0 else -r


class SimpleKms:
    """BigDL's SimpleKeyManagementService ("dummy"), with its arithmetic:
    the primary key is ``appId + 4 digits``; wrapping adds digits mod 10 and
    appends Scala's ``Char + Int`` *decimal codes*; unwrapping reads only
    the first 16 characters back. About 10^4 possible keys per app id."""

    ENTROPY = 13

    def __init__(self, app_id: str, api_key: str, primary_key: str) -> None:
        if not app_id or not api_key:
            raise ConfigurationError("SimpleKeyManagementService needs an app id and an api key")
        lines = primary_key.splitlines()
        pk = lines[0].strip() if lines else ""  # BigDL reads the file's first line
        if len(pk) < 16:
            raise ConfigurationError("the SimpleKMS primary key must be at least 16 characters "
                                     "(app id + 4 digits, as BigDL writes it)")
        if not pk.startswith(app_id):
            raise ConfigurationError("the SimpleKMS primary key does not belong to this app id "
                                     "(BigDL's primary key file starts with the app id)")
        self.app_id = app_id
        self._pk = pk

    @classmethod
    def from_file(cls, app_id: str, api_key: str, path: str | os.PathLike[str]) -> SimpleKms:
        return cls(app_id, api_key, Path(path).read_text(encoding="utf-8"))

    @staticmethod
    def create_primary_key(app_id: str) -> str:
        """What BigDL writes to the primary key file (without the newline)."""
        if len(app_id) != 12:
            raise ConfigurationError("BigDL SimpleKMS app ids are 12 characters")
        return app_id + "".join(secrets.choice("0123456789") for _ in range(4))

    def __repr__(self) -> str:
        return f"SimpleKms(app_id={self.app_id!r}, primary_key=<redacted>)"

    def __reduce__(self) -> Any:
        raise TypeError("a SimpleKMS primary key cannot be pickled")

    def wrap(self, digits: str) -> str:
        return "".join(str(48 + _java_mod(ord(self._pk[i]) - 48 + ord(digits[i]) - 48, 10)) for i in range(16))

    def unwrap(self, encrypted: str) -> str:
        if len(encrypted) < 16:
            raise IntegrityError("the SimpleKMS encrypted data key is shorter than 16 characters")
        return "".join(str(48 + _java_mod((ord(encrypted[i]) - 48) - (ord(self._pk[i]) - 48) + 10, 10))
                       for i in range(16))

    def decrypt_data_key(self, encrypted: str) -> DataKey:
        return DataKey(self.unwrap(encrypted), self.ENTROPY)

    def new_data_key(self) -> tuple[str, DataKey]:
        encrypted = self.wrap("".join(secrets.choice("0123456789") for _ in range(16)))
        return encrypted, self.decrypt_data_key(encrypted)


class DataKeyText:
    """A data-key string given directly (e.g. the 2.1/2.2 ``dataKey`` file
    already decrypted, or a test vector); ``entropy_bits`` as the caller knows it."""

    def __init__(self, text: str, entropy_bits: int = 128) -> None:
        self._key = DataKey(text, entropy_bits)

    def __repr__(self) -> str:
        return "DataKeyText(<redacted>)"

    def __reduce__(self) -> Any:
        raise TypeError("a data key cannot be pickled")

    def decrypt_data_key(self, encrypted: str) -> DataKey:
        return self._key

    def new_data_key(self) -> tuple[str, DataKey]:
        return "", self._key
