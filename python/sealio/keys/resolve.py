"""What a ``keys=`` argument may be, turned into one :class:`KeyManager`:
a manager, a KMS client (one shared manager per client, so calls share
the KEK caches) or a KMS configuration string."""

from __future__ import annotations

import threading
import weakref
from typing import Any

from sealio.keys.envelope import KeyManager

__all__ = ["key_manager"]

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
        from sealio.kms import KmsRef  # URI parsing loads only for a configuration string

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
