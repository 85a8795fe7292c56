"""BigDL PPML key sources: where a data-key *string* comes from.

BigDL writes an ``encryptedDataKey`` text into every file header and turns
the unwrapped data-key string into keys by taking its ASCII bytes:
``hmac_key = text[0:16]``, ``aes_key = text[16:32]`` (Java
``copyOfRange``, zero-padded when the text is short). So the AES key has
only the entropy of those characters; each source states it
(``aes_key_bits``) and warns with :class:`~sealio.errors.WeakKeyWarning`.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import warnings
from typing import Any

from sealio.errors import FormatError, IntegrityError, WeakKeyWarning
from sealio.primitives import AesCbc

__all__ = [
    "KeySource",
    "PlaintextPrimaryKey",
    "SimpleKms",
    "WEAK_KEY_BITS",
    "split_data_key",
]

WEAK_KEY_BITS = 112  # below this an AES key counts as weak (NIST SP 800-131A minimum)
_ZERO_IV = bytes(16)


def _copy_of_range(b: bytes, lo: int, hi: int) -> bytes:
    part = b[lo:hi]
    return part + bytes(hi - lo - len(part))


def split_data_key(data_key: str, aes_len: int = 16) -> tuple[bytes, bytes]:
    """(hmac key, aes key) from a data-key string, exactly as BigDL does."""
    try:
        secret = data_key.encode("ascii")
    except UnicodeEncodeError:
        raise FormatError("a BigDL data key must be ASCII text") from None
    return _copy_of_range(secret, 0, 16), _copy_of_range(secret, 16, 16 + aes_len)


class KeySource:
    """Creates and unwraps BigDL data keys. Subclasses never show key
    material in ``repr`` and refuse pickling."""

    aes_key_bits: int = 128
    name = "key source"
    _warned = False

    def new_data_key(self) -> tuple[str, str]:
        """(data-key string, encryptedDataKey text) for one write call."""
        raise NotImplementedError

    def unwrap(self, encrypted_data_key: str) -> str:
        """The data-key string behind a header's ``encryptedDataKey``."""
        raise NotImplementedError

    def warn_if_weak(self) -> None:
        if self.aes_key_bits < WEAK_KEY_BITS and not self._warned:
            self._warned = True
            warnings.warn(
                f"BigDL {self.name}: the AES key has only about {self.aes_key_bits} bits of "
                "entropy (BigDL uses the text of the data-key string as key bytes); "
                "migrate the data to sealed files (`sealio bigdl migrate`)",
                WeakKeyWarning, stacklevel=3)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<redacted>)"

    def __reduce__(self) -> Any:
        raise TypeError(f"{type(self).__name__} holds key material and cannot be pickled")


def _ecb(key: AesCbc, data: bytes, encrypt: bool) -> bytes:
    """AES-ECB as independent one-block CBC chains with a zero IV."""
    out = bytearray(len(data))
    for i in range(0, len(data), 16):
        block = data[i:i + 16]
        if encrypt:
            key.encrypt_into(_ZERO_IV, block, memoryview(out)[i:i + 16], padding=False)
        else:
            key.decrypt_into(_ZERO_IV, block, memoryview(out)[i:i + 16], padding=False)
    return bytes(out)


class PlaintextPrimaryKey(KeySource):
    """``spark.bigdl.primaryKey.<name>.plainText``: a base64 AES key that
    wraps data keys with AES/ECB/PKCS5. Data keys are base64 of 16 random
    bytes (24 characters), so the AES key is characters 16..23 plus eight
    zero bytes: about 32 bits."""

    aes_key_bits = 32
    name = "plaintext primary key"

    def __init__(self, primary_key_b64: str) -> None:
        try:
            raw = base64.b64decode(primary_key_b64.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the primary key is not valid base64") from None
        if len(raw) not in (16, 24, 32):
            raise ValueError(f"the primary key must be 16, 24 or 32 bytes, got {len(raw)}")
        self._raw = raw
        self._aes = AesCbc(raw)

    @property
    def primary_key(self) -> bytes:
        """The raw primary key (the BigDL "native" format encrypts with it)."""
        return self._raw

    def new_data_key(self) -> tuple[str, str]:
        self.warn_if_weak()
        data_key = base64.b64encode(secrets.token_bytes(16)).decode("ascii")
        return data_key, self.wrap(data_key)

    def wrap(self, data_key: str) -> str:
        plain = data_key.encode("utf-8")
        pad = 16 - len(plain) % 16
        return base64.b64encode(_ecb(self._aes, plain + bytes([pad]) * pad, True)).decode("ascii")

    def unwrap(self, encrypted_data_key: str) -> str:
        self.warn_if_weak()
        try:
            ct = base64.b64decode(encrypted_data_key, validate=True)
        except (binascii.Error, ValueError):
            raise FormatError("the encryptedDataKey is not valid base64") from None
        if not ct or len(ct) % 16:
            raise FormatError("the encryptedDataKey is not whole AES blocks")
        plain = _ecb(self._aes, ct, False)
        pad = plain[-1]
        if not 1 <= pad <= 16 or plain[-pad:] != bytes([pad]) * pad:
            raise IntegrityError("the data key does not unwrap under this primary key")
        try:
            return plain[:-pad].decode("ascii")
        except UnicodeDecodeError:
            raise IntegrityError("the data key does not unwrap under this primary key") from None


def _java_mod(a: int, b: int) -> int:
    """Java's %: the sign follows the dividend."""
    r = abs(a) % b
    return -r if a < 0 else r


class SimpleKms(KeySource):
    """BigDL's SimpleKeyManagementService ("dummy" KMS), with its exact
    arithmetic: the primary key file holds ``appId`` (12 characters) plus 4
    random digits; wrapping adds digits mod 10 and appends each result as
    the decimal text of a char code ("48".."57"); unwrapping reads only the
    first 16 characters back. The data key depends on public header text
    and 4 secret digits: about 10^4 candidates (~13 bits)."""

    aes_key_bits = 13
    name = "SimpleKeyManagementService"

    def __init__(self, app_id: str, api_key: str, primary_key: str) -> None:
        if not app_id or not api_key:
            raise ValueError("SimpleKeyManagementService needs an app id and an api key")
        pk = primary_key.rstrip("\r\n")
        if len(pk) < 16:
            raise ValueError("the SimpleKeyManagementService primary key must be at least 16 characters")
        self._app_id, self._pk = app_id, pk

    @classmethod
    def new_primary_key(cls, app_id: str) -> str:
        """A primary key file's text: appId + 4 random digits + newline."""
        return app_id + "".join(secrets.choice("0123456789") for _ in range(4)) + "\n"

    def wrap(self, data_key: str) -> str:
        return "".join(str(48 + _java_mod((ord(self._pk[i]) - 48) + (ord(data_key[i]) - 48), 10))
                       for i in range(16))

    def unwrap(self, encrypted_data_key: str) -> str:
        self.warn_if_weak()
        if len(encrypted_data_key) < 16:
            raise FormatError("a SimpleKeyManagementService encryptedDataKey has at least 16 characters")
        return "".join(str(48 + _java_mod((ord(encrypted_data_key[i]) - 48) - (ord(self._pk[i]) - 48) + 10, 10))
                       for i in range(16))

    def new_data_key(self) -> tuple[str, str]:
        digits = "".join(secrets.choice("0123456789") for _ in range(16))
        encrypted = self.wrap(digits)
        return self.unwrap(encrypted), encrypted
