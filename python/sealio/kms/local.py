"""Keys: the KMS protocol, the local keyring, and envelope encryption.

Key hierarchy (as Parquet Modular Encryption with double wrapping):

* a **master key** lives in a KMS (or :class:`LocalKeyring`) and never
  leaves it; it wraps
* a **KEK** (32 random bytes), made once per writer and master key and
  reused for many files until ``kek_ttl`` expires; the KEK wraps, locally
  with AES-256-GCM,
* a **DEK** (32 random bytes), one per file, from which the file's keys
  are derived (``_header.derive_keys``).

So sealing or opening 10,000 files costs one KMS call per master key and
TTL period, not one per file. KEKs and DEKs never appear in reprs,
exceptions, logs or pickles.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import fcntl
import json
import os
import re
import stat
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from sealio import _header as H
from sealio.errors import IntegrityError, KeyNotFoundError, KmsError, SealioError

__all__ = [
    "DEFAULT_KEK_TTL",
    "KeyManager",
    "KmsClient",
    "LocalKeyring",
    "default_keyring_path",
    "pyarrow_kms_client",
    "pyarrow_kms_client_factory",
]

DEFAULT_KEK_TTL = 600.0  # seconds, as PME's cache_lifetime default


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


# --------------------------------------------------------------- keyring

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


def default_keyring_path() -> Path:
    """``$SEALIO_KEYRING``, else ``$XDG_CONFIG_HOME/sealio/keyring.json``
    (``~/.config/sealio/keyring.json``)."""
    env = os.environ.get("SEALIO_KEYRING")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sealio" / "keyring.json"


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


class LocalKeyring:
    """Named, versioned AES-256 master keys in a local JSON file (mode 0600),
    optionally sealed under a passphrase (scrypt + AES-256-GCM).

    Implements :class:`KmsClient`: ``wrap_key(key, "NAME")`` wraps under the
    newest version of NAME and records that version in the returned text,
    so after :meth:`rotate` old wrapped keys still unwrap. Create one with
    :meth:`create` (or ``sealio keygen``); load with ``LocalKeyring(path)``.
    """

    def __init__(self, path: str | os.PathLike[str], passphrase: str | bytes | None = None) -> None:
        self._path = Path(path).expanduser()
        self._passphrase = passphrase.encode() if isinstance(passphrase, str) else passphrase
        self._lock = threading.RLock()
        self._keys: dict[str, dict[int, bytes]] = {}
        self._meta: dict[str, dict[int, str]] = {}
        self._default: str | None = None
        self._kdf: dict[str, Any] | None = None
        self._kdf_key: bytes | None = None
        self._shown = _show_path(self._path)
        self._load()

    # -- creation and persistence

    @classmethod
    def create(cls, path: str | os.PathLike[str], passphrase: str | bytes | None = None, *,
               scrypt_n: int = DEFAULT_SCRYPT_N) -> LocalKeyring:
        """Create an empty keyring file (mode 0600); refuses to overwrite."""
        p = Path(path).expanduser()
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pw = passphrase.encode() if isinstance(passphrase, str) else passphrase
        kdf = None
        if pw is not None:
            if type(scrypt_n) is not int or not 2 <= scrypt_n <= MAX_SCRYPT_N or scrypt_n & (scrypt_n - 1):
                raise ValueError("scrypt_n must be a power of two between 2 and 2**20 (MAX_SCRYPT_N)")
            kdf = {"name": "scrypt", "salt": _b64(os.urandom(16)), "n": scrypt_n, "r": 8, "p": 1}
        doc = cls._document({}, {}, None, kdf, cls._derive(pw, kdf) if kdf else None)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(doc)
            fh.flush()
            os.fsync(fh.fileno())
        return cls(p, passphrase)

    @staticmethod
    def _derive(passphrase: bytes | None, kdf: dict[str, Any]) -> bytes:
        if passphrase is None:
            raise KmsError("keyring is passphrase-protected: a passphrase is required")
        salt, n, r, p = _check_scrypt(kdf)  # bounded before any allocation
        return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)

    @staticmethod
    def _document(keys: dict[str, dict[int, bytes]], meta: dict[str, dict[int, str]],
                  default: str | None, kdf: dict[str, Any] | None, kdf_key: bytes | None) -> str:
        entries = {
            name: {"versions": [{"version": v, "created": meta.get(name, {}).get(v, ""), "key": _b64(k)}
                                for v, k in sorted(vs.items())]}
            for name, vs in sorted(keys.items())
        }
        doc: dict[str, Any] = {"format": _KEYRING_FORMAT, "version": _KEYRING_VERSION}
        payload = {"default": default, "keys": entries}
        if kdf is None:
            doc.update(payload)
        else:
            assert kdf_key is not None
            doc["kdf"] = kdf
            nonce = os.urandom(12)
            aad = _SEAL_AAD + json.dumps(kdf, sort_keys=True).encode()
            ct = AESGCM(kdf_key).encrypt(nonce, json.dumps(payload).encode(), aad)
            doc["sealed"] = {"nonce": _b64(nonce), "ciphertext": _b64(ct)}
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    def _read_document(self) -> tuple[Any, os.stat_result]:
        """The keyring file parsed, its size and nesting bounded; every failure
        is one error that names the file (shortened) and never its contents."""
        name = self._shown
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except (FileNotFoundError, NotADirectoryError):
            raise KeyNotFoundError(f"keyring {name} does not exist (create it with `sealio keygen`)") from None
        except OSError as e:
            raise KmsError(f"cannot read keyring {name}: {e.strerror or type(e).__name__}") from None
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise KmsError(f"keyring {name} is a directory, not a keyring file")
            if not stat.S_ISREG(st.st_mode):
                raise KmsError(f"keyring {name} is not a regular file")
            if st.st_size > MAX_KEYRING_BYTES:
                raise KmsError(f"keyring {name} is larger than {MAX_KEYRING_BYTES} bytes: not a keyring")
            chunks, size = [], 0
            while size <= MAX_KEYRING_BYTES and (chunk := os.read(fd, 1 << 16)):
                chunks.append(chunk)
                size += len(chunk)
        except OSError as e:
            raise KmsError(f"cannot read keyring {name}: {e.strerror or type(e).__name__}") from None
        finally:
            os.close(fd)
        if size > MAX_KEYRING_BYTES:  # it grew while we read
            raise KmsError(f"keyring {name} is larger than {MAX_KEYRING_BYTES} bytes: not a keyring")
        return _parse_json(b"".join(chunks), f"keyring {name}"), st

    def _load(self) -> None:
        name = self._shown
        doc, st = self._read_document()
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.warn(f"keyring {name} is accessible by other users (chmod 600 it)",
                          stacklevel=3)
        if not isinstance(doc, dict) or doc.get("format") != _KEYRING_FORMAT:
            raise KmsError(f"{name} is not a sealio keyring")
        version = doc.get("version")
        if type(version) is not int or version != _KEYRING_VERSION:
            shown = repr(version) if type(version) is int and abs(version) < 10 ** 6 else type(version).__name__
            raise KmsError(f"keyring {name} has unsupported version {shown} (this build reads "
                           f"version {_KEYRING_VERSION})")
        kdf = doc.get("kdf")
        if kdf is not None:
            try:
                _check_scrypt(kdf)
            except ValueError as e:
                raise KmsError(f"keyring {name}: {e}; refused before deriving a key") from None
        try:
            if kdf is not None:
                if self._kdf_key is None or self._kdf != kdf:
                    self._kdf_key = self._derive(self._passphrase, kdf)
                sealed = doc.get("sealed")
                if not isinstance(sealed, dict):
                    raise ValueError("no sealed payload")
                aad = _SEAL_AAD + json.dumps(kdf, sort_keys=True).encode()
                try:
                    plain = AESGCM(self._kdf_key).decrypt(_unb64(sealed.get("nonce")),
                                                          _unb64(sealed.get("ciphertext")), aad)
                except InvalidTag:
                    self._kdf_key = None
                    raise IntegrityError(f"keyring {name}: wrong passphrase or corrupted file") from None
                payload = _parse_json(plain, f"keyring {name}")
            else:
                payload = doc
            keys, meta, default = _parse_payload(payload)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError,
                binascii.Error) as e:
            detail = f" ({e})" if isinstance(e, _Malformed) else ""
            raise KmsError(f"keyring {name} is malformed{detail}") from None
        self._keys, self._meta, self._default, self._kdf = keys, meta, default, kdf

    @contextmanager
    def _update(self) -> Iterator[None]:
        """Read-modify-write under an exclusive lock, published atomically."""
        lock_path = self._path.with_name(self._path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with self._lock:
                self._load()
                yield
                doc = self._document(self._keys, self._meta, self._default, self._kdf, self._kdf_key)
                tmp_fd, tmp = tempfile.mkstemp(prefix=f".{self._path.name}.", dir=self._path.parent)
                try:
                    with os.fdopen(tmp_fd, "w", encoding="utf-8") as fh:
                        fh.write(doc)
                        fh.flush()
                        os.fsync(fh.fileno())
                    os.replace(tmp, self._path)
                except BaseException:
                    with _suppress_oserror():
                        os.unlink(tmp)
                    raise
                _fsync_dir(self._path.parent)
        finally:
            os.close(fd)

    # -- key management

    def generate(self, name: str, *, make_default: bool | None = None) -> int:
        """Add a new master key ``name`` (version 1); returns its version."""
        _check_name(name)
        with self._update():
            if name in self._keys:
                raise ValueError(f"master key {name!r} already exists (use rotate to add a version)")
            self._keys[name] = {1: os.urandom(32)}
            self._meta[name] = {1: _now()}
            if make_default or (make_default is None and self._default is None):
                self._default = name
        return 1

    def rotate(self, name: str) -> int:
        """Add a new version of ``name``; new wraps use it, old ones still unwrap."""
        with self._update():
            versions = self._versions(name)
            v = max(versions) + 1
            versions[v] = os.urandom(32)
            self._meta.setdefault(name, {})[v] = _now()
        return v

    def set_default(self, name: str) -> None:
        with self._update():
            self._versions(name)
            self._default = name

    @property
    def path(self) -> Path:
        return self._path

    @property
    def default(self) -> str | None:
        """The master key used when none is named (the first one generated)."""
        return self._default

    @property
    def passphrase_protected(self) -> bool:
        return self._kdf is not None

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._keys)

    def versions(self, name: str) -> list[int]:
        with self._lock:
            return sorted(self._versions(name))

    def latest_version(self, name: str) -> int:
        return self.versions(name)[-1]

    def _versions(self, name: str) -> dict[int, bytes]:
        try:
            return self._keys[name]
        except KeyError:
            raise KeyNotFoundError(f"master key {name!r} is not in keyring {self._path}") from None

    # -- KmsClient

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        """AES-256-GCM under the newest version; AAD binds name and version."""
        with self._lock:
            versions = self._versions(master_key_identifier)
            v = max(versions)
            master = versions[v]
        nonce = os.urandom(12)
        ct = AESGCM(master).encrypt(nonce, bytes(key_bytes), _wrap_aad(master_key_identifier, v))
        return f"{_WRAP_PREFIX}:{v}:{_b64(nonce + ct)}"

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        """Unwrap with the version recorded in ``wrapped_key``.

        KeyNotFoundError for an unknown name or version; IntegrityError for
        anything else that does not authenticate (tampering, wrong key)."""
        parts = wrapped_key.split(":") if isinstance(wrapped_key, str) else []
        if len(parts) != 3 or parts[0] != _WRAP_PREFIX or not parts[1].isdigit() or parts[1] != str(int(parts[1])):
            raise IntegrityError("wrapped key is malformed or not from a sealio keyring")
        v = int(parts[1])
        with self._lock:
            versions = self._versions(master_key_identifier)
            if v not in versions:
                raise KeyNotFoundError(
                    f"master key {master_key_identifier!r} version {v} is not in keyring {self._path}")
            master = versions[v]
        try:
            raw = _unb64(parts[2])
        except (binascii.Error, ValueError):
            raise IntegrityError("wrapped key is malformed or not from a sealio keyring") from None
        if len(raw) < 12 + 16:
            raise IntegrityError("wrapped key is malformed or not from a sealio keyring")
        try:
            return AESGCM(master).decrypt(raw[:12], raw[12:], _wrap_aad(master_key_identifier, v))
        except InvalidTag:
            raise IntegrityError(
                f"wrapped key did not authenticate under master key {master_key_identifier!r} v{v}") from None

    def __repr__(self) -> str:
        return f"LocalKeyring({str(self._path)!r}, keys={self.names()!r})"

    def __reduce__(self) -> Any:
        raise TypeError("LocalKeyring holds key material and cannot be pickled")


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
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


@contextmanager
def _suppress_oserror() -> Iterator[None]:
    try:
        yield
    except OSError:
        pass


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------- envelope


@dataclass(frozen=True)
class _Kek:
    kek_id: bytes
    wrapped: str
    key: bytes
    expires: float

    def __repr__(self) -> str:
        return f"_Kek(kek_id={self.kek_id.hex()})"


@dataclass(frozen=True)
class DekSlot:
    """The key-slot fields of a header (all public)."""

    kek_id: bytes
    master_key_id: str
    wrapped_kek: str
    dek_nonce: bytes
    wrapped_dek: bytes


class KeyManager:
    """Envelope encryption over a :class:`KmsClient` with KEK caches.

    Writers reuse one KEK per master key until ``kek_ttl`` seconds pass;
    readers cache unwrapped KEKs for ``cache_ttl`` seconds keyed by
    (master key id, wrapped KEK). Thread-safe. ``clear()`` drops both
    caches (e.g. after revoking a master key). A writer KEK is also
    replaced after ``kek_max_wraps`` DEK wraps: DEK nonces are random
    96-bit values, so one KEK must not wrap more than 2**32 DEKs.
    """

    kek_max_wraps: int = 1 << 32

    def __init__(self, kms: Any, *, kek_ttl: float = DEFAULT_KEK_TTL, cache_ttl: float = DEFAULT_KEK_TTL,
                 default_master_key: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not (callable(getattr(kms, "wrap_key", None)) and callable(getattr(kms, "unwrap_key", None))):
            raise TypeError("kms must have wrap_key(key_bytes, master_key_identifier) and "
                            "unwrap_key(wrapped_key, master_key_identifier)")
        self.kms = kms
        self.kek_ttl = float(kek_ttl)
        self.cache_ttl = float(cache_ttl)
        self._default = default_master_key
        self._clock = clock
        self._lock = threading.Lock()
        self._writer_keks: dict[str, _Kek] = {}
        self._kek_wraps: dict[str, int] = {}  # DEKs wrapped under the current writer KEK
        self._reader_keks: dict[tuple[str, str], tuple[bytes, float]] = {}

    @property
    def default_master_key(self) -> str | None:
        return self._default or getattr(self.kms, "default", None)

    def clear(self) -> None:
        with self._lock:
            self._writer_keks.clear()
            self._kek_wraps.clear()
            self._reader_keks.clear()

    def _random(self, n: int) -> bytes:
        """All randomness of the envelope and header (a seam for test vectors)."""
        return os.urandom(n)

    def _writer_kek(self, master_key_id: str, *, wrap: bool = False) -> _Kek:
        """The current writer KEK (a new one after ``kek_ttl`` or
        ``kek_max_wraps``); ``wrap=True`` counts one DEK wrap under it."""
        now = self._clock()
        with self._lock:
            kek = self._writer_keks.get(master_key_id)
            uses = self._kek_wraps.get(master_key_id, 0)
            if kek is None or now >= kek.expires or uses >= self.kek_max_wraps:
                key, kek_id = self._random(H.KEY_SIZE), self._random(H.KEK_ID_SIZE)
                wrapped = _kms_wrap(self.kms, key, master_key_id)
                kek = _Kek(kek_id, wrapped, key, now + self.kek_ttl)
                self._writer_keks[master_key_id] = kek
                self._reader_keks[(master_key_id, wrapped)] = (key, now + self.cache_ttl)
                uses = 0
            self._kek_wraps[master_key_id] = uses + 1 if wrap else uses
            return kek

    def _reader_kek(self, master_key_id: str, wrapped: str) -> bytes:
        now = self._clock()
        with self._lock:
            hit = self._reader_keks.get((master_key_id, wrapped))
            if hit is not None and now < hit[1]:
                return hit[0]
            key = _kms_unwrap(self.kms, wrapped, master_key_id)
            self._reader_keks[(master_key_id, wrapped)] = (key, now + self.cache_ttl)
            return key

    def wrap_dek(self, dek: bytes, master_key_id: str) -> DekSlot:
        """Wrap ``dek`` under the current KEK of ``master_key_id``.

        The DEK nonce is random: with a KEK rotated every ``kek_ttl`` seconds,
        far fewer than 2**32 DEKs are wrapped under one KEK."""
        if not isinstance(master_key_id, str):
            raise TypeError("master key identifier must be a str")
        if len(master_key_id.encode("utf-8")) > H.MASTER_KEY_ID_MAX:
            raise ValueError(f"master key identifier is longer than {H.MASTER_KEY_ID_MAX} bytes")
        kek = self._writer_kek(master_key_id, wrap=True)
        dek_nonce = self._random(H.DEK_NONCE_SIZE)
        wrapped_dek = AESGCM(kek.key).encrypt(dek_nonce, dek, H.dek_wrap_aad(kek.kek_id))
        return DekSlot(kek.kek_id, master_key_id, kek.wrapped, dek_nonce, wrapped_dek)

    def seal_header(self, master_key_id: str, segment_log2: int, aad: bytes | None) -> tuple[H.Header, bytes]:
        """A new file's authenticated header and its segment key K_seg.

        Randomness is drawn in this order (test vectors rely on it): KEK (32)
        and KEK id (16) when a new KEK is made, DEK (32), DEK nonce (12),
        salt (32), nonce prefix (7)."""
        if not H.MIN_SEGMENT_LOG2 <= segment_log2 <= H.MAX_SEGMENT_LOG2:
            raise ValueError("segment_log2 out of range")
        self._writer_kek(master_key_id)
        dek = self._random(H.KEY_SIZE)
        slot = self.wrap_dek(dek, master_key_id)
        salt, prefix = self._random(H.SALT_SIZE), self._random(H.PREFIX_SIZE)
        header = _header_with_slot(segment_log2, salt, prefix, slot)  # version 1.1
        keys = H.derive_keys(dek, header, aad)
        header = replace(header, commitment=keys.commitment)
        return replace(header, mac=H.compute_mac(keys.k_hdr, header.body())), keys.k_seg

    def _authenticate(self, data: bytes | memoryview, aad: bytes | None,
                      require_commitment: bool) -> tuple[H.Header, bytes, H.FileKeys]:
        """Parse (FormatError family; a 1.0 header refused before any KMS call
        when ``require_commitment``), KEK (KMS), DEK (IntegrityError), derive,
        key commitment (1.1, constant time), header MAC (IntegrityError)."""
        header = H.parse(data, require_commitment=require_commitment)
        dek = self.unwrap_dek(header)
        keys = H.derive_keys(dek, header, aad)
        H.verify_commitment(keys, header)  # before the MAC is trusted and any segment is opened
        H.verify_mac(keys.k_hdr, header)
        return header, dek, keys

    def open_header(self, data: bytes | memoryview, aad: bytes | None, *,
                    require_commitment: bool = False) -> tuple[H.Header, bytes]:
        """Parse and authenticate a header; returns it and K_seg.

        Order: parse (FormatError family), KEK (KMS), DEK (IntegrityError),
        derive, key commitment (1.1), header MAC (IntegrityError).
        ``require_commitment`` refuses version 1.0 (UnsupportedFormatError)."""
        header, _, keys = self._authenticate(data, aad, require_commitment)
        return header, keys.k_seg

    def rewrap_header(self, data: bytes | memoryview, aad: bytes | None, *, new_keys: KeyManager | None = None,
                      new_master_key: str | None = None, require_commitment: bool = False) -> bytes:
        """Authenticate a header, then re-wrap its DEK under ``new_master_key``
        (default: the same name, i.e. its newest version) via ``new_keys``
        (default: this manager) and recompute the MAC. Segments are unchanged
        because the DEK, salt and prefix are; so is the minor version (1.0
        stays 1.0: upgrading changes K_seg, i.e. needs re-encryption) and a
        1.1 commitment (it depends on neither the KEK nor the key slot)."""
        header, dek, keys = self._authenticate(data, aad, require_commitment)
        target = new_keys or self
        slot = target.wrap_dek(dek, new_master_key or header.master_key_id)
        fresh = replace(_header_with_slot(header.segment_log2, header.salt, header.nonce_prefix, slot),
                        minor_version=header.minor_version, commitment=header.commitment)
        return replace(fresh, mac=H.compute_mac(keys.k_hdr, fresh.body())).pack()

    def unwrap_dek(self, header: H.Header) -> bytes:
        """The DEK of a parsed header (KEK from cache or KMS)."""
        kek = self._reader_kek(header.master_key_id, header.wrapped_kek)
        try:
            return AESGCM(kek).decrypt(header.dek_nonce, header.wrapped_dek, H.dek_wrap_aad(header.kek_id))
        except InvalidTag:
            raise IntegrityError("sealed file key slot failed authentication "
                                 "(tampered header or wrong master key)") from None

    def __repr__(self) -> str:
        return f"KeyManager(kms={type(self.kms).__name__}, kek_ttl={self.kek_ttl})"

    def __reduce__(self) -> Any:
        raise TypeError("KeyManager caches key material and cannot be pickled")


def _header_with_slot(segment_log2: int, salt: bytes, prefix: bytes, slot: DekSlot) -> H.Header:
    return H.Header(segment_log2=segment_log2, salt=salt, nonce_prefix=prefix, kek_id=slot.kek_id,
                    master_key_id=slot.master_key_id, wrapped_kek=slot.wrapped_kek,
                    dek_nonce=slot.dek_nonce, wrapped_dek=slot.wrapped_dek)


def _kms_wrap(kms: Any, key: bytes, master_key_id: str) -> str:
    try:
        wrapped = kms.wrap_key(key, master_key_id)
    except SealioError:
        raise
    except Exception as e:  # the KEK was an argument: report only the type
        raise KmsError(f"KMS wrap_key failed for master key {master_key_id!r} ({type(e).__name__})") from None
    if isinstance(wrapped, bytes):
        wrapped = wrapped.decode("ascii", "replace")
    # KEKs are cached across files and written into 1.1 headers: the shorter bound
    if not isinstance(wrapped, str) or not 1 <= len(wrapped) <= H.WRAPPED_KEK_MAX_COMMITTED or \
            not all(" " <= c <= "~" for c in wrapped):
        raise KmsError(f"KMS wrap_key must return 1..{H.WRAPPED_KEK_MAX_COMMITTED} printable ASCII characters "
                       f"(a format 1.0 header held {H.WRAPPED_KEK_MAX}; 1.1 keeps {H.COMMIT_SIZE} bytes "
                       "of that room for the key commitment)")
    return wrapped


def _kms_unwrap(kms: Any, wrapped: str, master_key_id: str) -> bytes:
    try:
        key = kms.unwrap_key(wrapped, master_key_id)
    except SealioError:
        raise
    except Exception as e:
        raise KmsError(f"KMS unwrap_key failed for master key {master_key_id!r}: "
                       f"{type(e).__name__}: {e}") from None
    if not isinstance(key, (bytes, bytearray)) or len(key) != H.KEY_SIZE:
        raise IntegrityError("KMS returned a KEK that is not 32 bytes (wrong master key?)")
    return bytes(key)


_managers: weakref.WeakKeyDictionary[Any, KeyManager] = weakref.WeakKeyDictionary()
_managers_lock = threading.Lock()


def key_manager(keys: Any) -> KeyManager:
    """The :class:`KeyManager` for ``keys`` (a KeyManager, a KMS client, or a
    KMS configuration string): itself, or one shared per KMS
    client object so that repeated ``sealio.open(..., keys=kms)`` calls share
    the KEK caches (a client that cannot be weakly referenced gets a fresh
    manager, i.e. one KMS call per file)."""
    if isinstance(keys, KeyManager):
        return keys
    if isinstance(keys, str):  # a KMS configuration string, e.g. local:///path/keyring.json
        from sealio.kms import KmsRef
        keys = KmsRef(keys)
    with _managers_lock:
        try:
            mgr = _managers.get(keys)
        except TypeError:
            return KeyManager(keys)
        if mgr is None:
            mgr = KeyManager(keys)
            _managers[keys] = mgr
        return mgr


# ------------------------------------------------------------- pyarrow


def pyarrow_kms_client(kms: Any) -> Any:
    """Wrap any sealio KMS client (e.g. :class:`LocalKeyring`) as a
    ``pyarrow.parquet.encryption.KmsClient`` instance, for pyarrow's
    ``CryptoFactory`` (which insists on that class)."""
    import pyarrow.parquet.encryption as pe

    class _Adapter(pe.KmsClient):  # type: ignore[misc]
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self._inner = inner

        def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
            return self._inner.wrap_key(key_bytes, master_key_identifier)

        def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
            return self._inner.unwrap_key(wrapped_key, master_key_identifier)

    return _Adapter(kms)


def pyarrow_kms_client_factory(kms: Any) -> Callable[[Any], Any]:
    """A ``kms_client_factory`` for ``pyarrow.parquet.encryption.CryptoFactory``."""
    return lambda _config: pyarrow_kms_client(kms)
