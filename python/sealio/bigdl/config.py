"""BigDL key sources from options or the environment.

One place decides which key source a set of options names, for the CLI
and for :class:`EnvKeySource`, the picklable source that Dask or Spark
workers rebuild from their own environment (secrets never travel in a
pickle).

Environment variables: ``SEALIO_BIGDL_PRIMARY_KEY`` (plaintext primary key,
base64); ``SEALIO_BIGDL_APP_ID``, ``SEALIO_BIGDL_API_KEY`` and
``SEALIO_BIGDL_PRIMARY_KEY_PATH`` (SimpleKMS); ``SEALIO_EHSM_URL``,
``SEALIO_EHSM_APP_ID``, ``SEALIO_EHSM_API_KEY`` and
``SEALIO_BIGDL_PRIMARY_KEY_PATH`` (eHSM; the file holds the key id).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sealio.bigdl.keys import DataKey, KeySource, PlaintextPrimaryKey, SimpleKms
from sealio.errors import ConfigurationError

__all__ = ["EnvKeySource", "key_source"]

ENV = {
    "primary_key_plaintext": "SEALIO_BIGDL_PRIMARY_KEY",
    "simple_app_id": "SEALIO_BIGDL_APP_ID",
    "simple_api_key": "SEALIO_BIGDL_API_KEY",
    "primary_key_path": "SEALIO_BIGDL_PRIMARY_KEY_PATH",
    "ehsm_url": "SEALIO_EHSM_URL",
    "ehsm_app_id": "SEALIO_EHSM_APP_ID",
    "ehsm_api_key": "SEALIO_EHSM_API_KEY",
}


def key_source(*, primary_key_plaintext: str | None = None, simple_app_id: str | None = None,
               simple_api_key: str | None = None, primary_key_path: str | os.PathLike[str] | None = None,
               ehsm_url: str | None = None, ehsm_app_id: str | None = None, ehsm_api_key: str | None = None,
               environ: Mapping[str, str] | None = None) -> KeySource:
    """The key source these options name; an option left out is taken
    from its environment variable. eHSM wins over SimpleKMS, which wins
    over a plaintext primary key, as each needs more to be named."""
    given = {"primary_key_plaintext": primary_key_plaintext, "simple_app_id": simple_app_id,
             "simple_api_key": simple_api_key, "primary_key_path": primary_key_path, "ehsm_url": ehsm_url,
             "ehsm_app_id": ehsm_app_id, "ehsm_api_key": ehsm_api_key}
    env = os.environ if environ is None else environ
    o = {k: (os.fspath(v) if isinstance(v, os.PathLike) else v) or env.get(ENV[k]) or None
         for k, v in given.items()}
    if o["ehsm_url"]:
        from sealio.bigdl.ehsm import Ehsm

        if not (o["ehsm_app_id"] and o["ehsm_api_key"] and o["primary_key_path"]):
            raise ConfigurationError("eHSM needs an app id, an api key and the primary key id file "
                                     "(--ehsm-app-id, --ehsm-api-key, --primary-key-path)")
        key_id = Path(o["primary_key_path"]).read_text(encoding="utf-8").strip()
        return Ehsm(o["ehsm_url"], o["ehsm_app_id"], o["ehsm_api_key"], key_id)
    if o["simple_app_id"] or o["simple_api_key"]:
        if not (o["simple_app_id"] and o["simple_api_key"] and o["primary_key_path"]):
            raise ConfigurationError("SimpleKMS needs an app id, an api key and the primary key file "
                                     "(--simple-app-id, --simple-api-key, --primary-key-path)")
        return SimpleKms.from_file(o["simple_app_id"], o["simple_api_key"], o["primary_key_path"])
    if o["primary_key_plaintext"]:
        return PlaintextPrimaryKey(o["primary_key_plaintext"])
    raise ConfigurationError("no BigDL key source: give a plaintext primary key, SimpleKMS or eHSM options "
                             f"(or set {ENV['primary_key_plaintext']})")


class EnvKeySource:
    """A key source named by the environment of the process that uses it
    (:func:`key_source` with no options), resolved on first use. It pickles
    as nothing but its class, so filesystems built on it travel to workers,
    which must have the same variables set."""

    def __init__(self) -> None:
        self._inner: KeySource | None = None
        self._lock = threading.Lock()

    def _source(self) -> KeySource:
        with self._lock:
            if self._inner is None:
                self._inner = key_source()
            return self._inner

    def __repr__(self) -> str:
        return "EnvKeySource()"

    def __reduce__(self) -> Any:
        return (EnvKeySource, ())

    def decrypt_data_key(self, encrypted: str) -> DataKey:
        return self._source().decrypt_data_key(encrypted)

    def new_data_key(self) -> tuple[str, DataKey]:
        return self._source().new_data_key()
