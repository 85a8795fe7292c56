"""The local keyring: named, versioned AES-256 master keys in a JSON file
(mode 0600), optionally sealed under a passphrase; a KMS client like the
networked ones (``local:///abs/path/keyring.json``).

The file's document format and its input bounds live in
:mod:`sealio.kms._keyfile`; updates are read-modify-write under an
exclusive lock and published atomically (:mod:`sealio._fsutil`).
"""

from __future__ import annotations

import binascii
import fcntl
import json
import os
import stat
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sealio._fsutil import write_atomically
from sealio.errors import IntegrityError, KeyNotFoundError, KmsError
from sealio.hazmat import AesGcm
from sealio.kms._keyfile import (
    _KEYRING_FORMAT,
    _KEYRING_VERSION,
    _SEAL_AAD,
    _WRAP_PREFIX,
    DEFAULT_SCRYPT_N,
    MAX_KEYRING_BYTES,
    MAX_SCRYPT_MEMORY,
    MAX_SCRYPT_N,
    MAX_SCRYPT_P,
    MAX_SCRYPT_R,
    MAX_SCRYPT_WORK,
    _b64,
    _check_name,
    _check_scrypt,
    _Malformed,
    _now,
    _parse_json,
    _parse_payload,
    _show_path,
    _unb64,
    _wrap_aad,
)

__all__ = [
    "DEFAULT_SCRYPT_N", "MAX_KEYRING_BYTES", "MAX_SCRYPT_MEMORY", "MAX_SCRYPT_N", "MAX_SCRYPT_P",
    "MAX_SCRYPT_R", "MAX_SCRYPT_WORK", "LocalKeyring", "default_keyring_path",
]


def default_keyring_path() -> Path:
    """``$SEALIO_KEYRING``, else ``$XDG_CONFIG_HOME/sealio/keyring.json``
    (``~/.config/sealio/keyring.json``)."""
    env = os.environ.get("SEALIO_KEYRING")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sealio" / "keyring.json"


class LocalKeyring:
    """Named, versioned AES-256 master keys in a local JSON file (mode 0600),
    optionally sealed under a passphrase (scrypt + AES-256-GCM).

    Implements :class:`KmsClient`: ``wrap_key(key, "NAME")`` wraps under the
    newest version of NAME and records that version in the returned text,
    so after :meth:`rotate` old wrapped keys still unwrap. Create one with
    :meth:`create` (or ``sealio keygen``); load with ``LocalKeyring(path)``.
    """

    #: Every wrapped key this class returns starts with ``WRAP_PREFIX + ":"``.
    WRAP_PREFIX = _WRAP_PREFIX

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
        """Create an empty keyring file (mode 0600); refuses to overwrite, and
        a path naming a directory (``DIR/``, which Path would make a file DIR)."""
        if os.fspath(path).endswith(("/", os.sep)) or Path(path).expanduser().is_dir():
            raise KmsError(f"keyring {os.fspath(path)} names a directory, not a keyring file "
                           "(name the file in it, e.g. keyring.json)")
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
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt  # only passphrase keyrings pay for it

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
            ct = AesGcm(kdf_key).encrypt(nonce, json.dumps(payload).encode(), aad)
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
                    plain = AesGcm(self._kdf_key).decrypt(_unb64(sealed.get("nonce")),
                                                          _unb64(sealed.get("ciphertext")), aad)
                except IntegrityError:
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
                write_atomically(self._path, doc.encode("utf-8"), mode=0o600)
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
        ct = AesGcm(master).encrypt(nonce, bytes(key_bytes), _wrap_aad(master_key_identifier, v))
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
            return AesGcm(master).decrypt(raw[:12], raw[12:], _wrap_aad(master_key_identifier, v))
        except IntegrityError:
            raise IntegrityError(
                f"wrapped key did not authenticate under master key {master_key_identifier!r} v{v}") from None

    def __repr__(self) -> str:
        return f"LocalKeyring({str(self._path)!r}, keys={self.names()!r})"

    def __reduce__(self) -> Any:
        raise TypeError("LocalKeyring holds key material and cannot be pickled")
