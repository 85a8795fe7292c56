"""The local keyring's file: its JSON document, checked field by field,
and the caps on what a keyring may demand (issue 12). A keyring file is
input: sizes, nesting and the scrypt cost are bounded before anything is
derived or allocated, and no message carries key bytes or file contents.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Any

from sealio.errors import KmsError

_KEYRING_FORMAT = "sealio-keyring"
_KEYRING_VERSION = 1
_WRAP_PREFIX = "sealio-lk1"
_WRAP_AAD = b"sealio/keyring/v1/wrap\x00"
_SEAL_AAD = b"sealio/keyring/v1/file\x00"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@/:+-]{0,127}$")
DEFAULT_SCRYPT_N = 1 << 17  # 128 MiB with r=8: memory-hard, ~0.3 s

# A keyring file is input: the cost its KDF block may demand is capped and
# refused before deriving (issue 12). scrypt needs 128*n*r bytes and n*r*p
# units of work; the default (n=2**17, r=8, p=1) is 128 MiB and 2**20.
MAX_SCRYPT_N = 1 << 20
MAX_SCRYPT_R = 32
MAX_SCRYPT_P = 16
MAX_SCRYPT_MEMORY = 1 << 30  # bytes: 128 * n * r
MAX_SCRYPT_WORK = 1 << 24    # n * r * p: 16x the default
MAX_KEYRING_BYTES = 4 << 20  # a keyring file larger than this is refused unread
_SALT_BYTES = (16, 64)
_MAX_KEY_VERSION = (1 << 31) - 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    if not isinstance(text, str):  # a keyring field of the wrong JSON type
        raise ValueError("expected base64 text")
    return base64.b64decode(text.encode("ascii"), validate=True)


def _show_path(path: Path) -> str:
    """``path`` for a message: shortened when absurdly long (it is input too)."""
    text = str(path)
    return text if len(text) <= 160 else f"{text[:100]}...{text[-40:]} ({len(text)} characters)"


def _check_scrypt(kdf: Any) -> tuple[bytes, int, int, int]:
    """Salt, n, r, p of a keyring's KDF block, refused (ValueError, no values
    echoed) unless it is scrypt within the documented caps."""
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise ValueError("the KDF is not scrypt")
    params = [kdf.get(k) for k in ("n", "r", "p")]
    if not all(type(x) is int for x in params):  # not bool, float or str
        raise ValueError("scrypt n, r and p must be integers")
    n, r, p = params
    if not (2 <= n <= MAX_SCRYPT_N and n & (n - 1) == 0 and 1 <= r <= MAX_SCRYPT_R and 1 <= p <= MAX_SCRYPT_P
            and 128 * n * r <= MAX_SCRYPT_MEMORY and n * r * p <= MAX_SCRYPT_WORK):
        raise ValueError(f"scrypt parameters exceed the cap (n a power of two <= 2**20, r <= {MAX_SCRYPT_R}, "
                         f"p <= {MAX_SCRYPT_P}, memory 128*n*r <= 1 GiB, work n*r*p <= 2**24)")
    try:
        salt = _unb64(kdf.get("salt"))
    except (ValueError, binascii.Error):
        raise ValueError("the scrypt salt is not base64") from None
    if not _SALT_BYTES[0] <= len(salt) <= _SALT_BYTES[1]:
        raise ValueError("the scrypt salt is not 16..64 bytes")
    return salt, n, r, p


class _Malformed(ValueError):
    """A keyring field of the wrong shape; the message names the field only."""


def _parse_json(data: bytes, what: str) -> Any:
    """JSON of bounded nesting (a deep document is an error, not a RecursionError)."""
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise KmsError(f"{what} is malformed (JSON nested too deeply)") from None
    except ValueError:  # UnicodeDecodeError, JSONDecodeError, over-long integers
        raise KmsError(f"{what} is malformed (not UTF-8 JSON)") from None


def _parse_payload(payload: Any) -> tuple[dict[str, dict[int, bytes]], dict[str, dict[int, str]], str | None]:
    """Keys, creation times and default of a keyring payload, checked field by
    field (raises :class:`_Malformed`; messages never carry key bytes)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("keys"), dict):
        raise _Malformed('"keys" is not an object')
    keys: dict[str, dict[int, bytes]] = {}
    meta: dict[str, dict[int, str]] = {}
    for name, entry in payload["keys"].items():
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise _Malformed("a master key name is not valid")
        versions = entry.get("versions") if isinstance(entry, dict) else None
        if not isinstance(versions, list) or not versions:
            raise _Malformed(f'master key {name!r} has no "versions" list')
        for item in versions:
            if not isinstance(item, dict):
                raise _Malformed(f"a version of master key {name!r} is not an object")
            v, created = item.get("version"), item.get("created", "")
            if type(v) is not int or not 1 <= v <= _MAX_KEY_VERSION or v in keys.get(name, {}):
                raise _Malformed(f"master key {name!r} has a missing, repeated or invalid version number")
            if not isinstance(created, str) or len(created) > 64:
                raise _Malformed(f"master key {name!r} v{v} has an invalid creation time")
            try:
                key = _unb64(item.get("key"))
            except (ValueError, binascii.Error):
                key = b""
            if len(key) != 32:
                raise _Malformed(f"master key {name!r} v{v} is not 32 bytes of base64")
            keys.setdefault(name, {})[v] = key
            meta.setdefault(name, {})[v] = created
    default = payload.get("default")
    if default is not None and (not isinstance(default, str) or default not in keys):
        raise _Malformed('"default" does not name a key of the keyring')
    return keys, meta, default


def _wrap_aad(name: str, version: int) -> bytes:
    return _WRAP_AAD + name.encode("utf-8") + b"\x00" + str(version).encode()


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError("master key names are 1..128 characters: letters, digits and _.@/:+- "
                         "(starting with a letter or digit)")


def _now() -> str:
    import datetime as _dt  # here: only keygen needs it, every command imports this module (2 ms)

    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
