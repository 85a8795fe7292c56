"""KMS configuration strings: ``scheme://...`` -> KMS client.

Built-in: ``local:///abs/path/keyring.json`` (a :class:`~sealio.LocalKeyring`;
a passphrase comes from ``$SEALIO_PASSPHRASE`` or the file named by
``$SEALIO_PASSPHRASE_FILE``), ``vault+http(s)://HOST:PORT/MOUNT/keys/NAME``
(:mod:`sealio.kms.vault`) and ``aws-kms://alias/NAME?region=R``
(:mod:`sealio.kms.aws`), the last two imported on first use. Other backends
register their schemes.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sealio.errors import KmsError
from sealio.kms.local import LocalKeyring
from sealio.kms import _options

Factory = Callable[[str], Any]

_factories: dict[str, Factory] = {}
_clients: dict[str, Any] = {}
_lock = threading.Lock()


def register_scheme(scheme: str, factory: Factory) -> None:
    """Make ``from_uri`` build clients for ``scheme://...`` with ``factory(uri)``."""
    _factories[scheme.lower()] = factory


def schemes() -> list[str]:
    return sorted(_factories)


_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]{0,31}$")


def _scheme(uri: str) -> str:
    """The scheme of a configuration string that names no secret (see
    :func:`sealio.kms._options.check_config`); the string itself is never
    echoed unredacted: it may be a token pasted in the wrong place."""
    if not isinstance(uri, str):
        raise TypeError(f"a KMS configuration must be a str, not {type(uri).__name__}")
    scheme, sep, _ = uri.partition("://")
    if not sep or not _SCHEME_RE.match(scheme):
        raise KmsError(f"not a KMS configuration string (expected scheme://..., one of: "
                       f"{', '.join(schemes())}; the text given is not shown)")
    _options.check_config(uri)
    return scheme.lower()


def from_uri(uri: str) -> Any:
    """A new KMS client for ``uri`` (see :class:`KmsRef` for a cached, picklable one)."""
    scheme = _scheme(uri)
    factory = _factories.get(scheme)
    if factory is None:
        raise KmsError(f"unknown KMS scheme {scheme!r} in {_options.redact(uri)} "
                       f"(known: {', '.join(schemes())})")
    return factory(uri)


def _passphrase_from_env() -> str | None:
    text = os.environ.get("SEALIO_PASSPHRASE")
    if text is not None:
        return text
    path = os.environ.get("SEALIO_PASSPHRASE_FILE")
    if path:
        try:
            return Path(path).expanduser().read_text(encoding="utf-8").rstrip("\n")
        except (OSError, ValueError) as e:
            raise KmsError(f"cannot read the passphrase file named by SEALIO_PASSPHRASE_FILE "
                           f"({_options.shorten(path)}): {getattr(e, 'strerror', None) or type(e).__name__}") from None
    return None


def _local(uri: str) -> LocalKeyring:
    _options.check_config(uri)
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost") or not parts.path or parts.query:
        raise KmsError(f"a local keyring is configured as local:///absolute/path/keyring.json (a passphrase "
                       f"comes from $SEALIO_PASSPHRASE or $SEALIO_PASSPHRASE_FILE), not {_options.redact(uri)}")
    return LocalKeyring(unquote(parts.path), passphrase=_passphrase_from_env())


register_scheme("local", _local)


def _lazy(module: str) -> Factory:
    """A factory that imports ``module`` (and its client library) on first use,
    so ``import sealio.kms`` needs neither hvac nor boto3."""

    def factory(uri: str) -> Any:
        import importlib

        try:
            mod = importlib.import_module(module)
            return mod.from_uri(uri)
        except ImportError as e:
            extra = "vault" if "vault" in module else "aws"
            raise KmsError(f"{uri.partition('://')[0]}:// needs the optional dependency "
                           f"{e.name or 'missing'}: pip install 'sealio[{extra}]'") from None

    return factory


for _s in ("vault+http", "vault+https"):
    register_scheme(_s, _lazy("sealio.kms.vault"))
register_scheme("aws-kms", _lazy("sealio.kms.aws"))


class KmsRef:
    """A KMS client by configuration string: picklable (only the string
    travels), equal and hashed by the string, and backed by one real client
    per process, built on first use, so that workers rebuild keys from
    configuration instead of receiving them."""

    __slots__ = ("uri", "__weakref__")

    def __init__(self, uri: str) -> None:
        _scheme(uri)
        self.uri = uri

    @property
    def client(self) -> Any:
        with _lock:
            client = _clients.get(self.uri)
            if client is None:
                client = _clients[self.uri] = from_uri(self.uri)
            return client

    @property
    def default(self) -> str | None:
        """The default master key of the backend (a keyring's default, or the
        key a URI names), used when a writer is given none."""
        return getattr(self.client, "default", None)

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        return self.client.wrap_key(key_bytes, master_key_identifier)

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        return self.client.unwrap_key(wrapped_key, master_key_identifier)

    @staticmethod
    def forget(uri: str | None = None) -> None:
        """Drop cached clients (all, or one), e.g. after a keyring file changed."""
        with _lock:
            if uri is None:
                _clients.clear()
            else:
                _clients.pop(uri, None)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KmsRef) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(("KmsRef", self.uri))

    def __repr__(self) -> str:
        return f"KmsRef({self.uri!r})"

    def __reduce__(self) -> Any:
        return (KmsRef, (self.uri,))
