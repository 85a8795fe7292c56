"""BigDL key sources from options or the environment.

One place decides which key source a set of options names, for the CLI
and for :class:`EnvKeySource`, the picklable source that Dask or Spark
workers rebuild from their own environment (secrets never travel in a
pickle).

Environment variables: ``SEALIO_BIGDL_PRIMARY_KEY`` (plaintext primary key,
base64; also the key of native files); ``SEALIO_BIGDL_APP_ID``,
``SEALIO_BIGDL_API_KEY`` and ``SEALIO_BIGDL_PRIMARY_KEY_PATH`` (SimpleKMS);
``SEALIO_EHSM_URL``, ``SEALIO_EHSM_APP_ID``, ``SEALIO_EHSM_API_KEY`` and
``SEALIO_BIGDL_PRIMARY_KEY_PATH`` (eHSM; the file holds the key id);
``SEALIO_BIGDL_DATA_KEY_PATH`` (legacy 2.1/2.2: the file with the data-key
text). A *key file* (:func:`load_key_file`) holds the same settings as a
JSON object under the option names, for processes whose environment the
caller does not control (Spark workers); keep it mode 0600, like a keyring.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from typing import Any

from sealio.bigdl.dataset import FORMATS, Opener
from sealio.bigdl.keys import DataKey, DataKeyText, KeySource, PlaintextPrimaryKey, SimpleKms, decode_primary_key
from sealio.errors import ConfigurationError

__all__ = ["EnvKeySource", "key_source", "load_key_file", "native_write_key", "opener"]

ENV = {
    "primary_key_plaintext": "SEALIO_BIGDL_PRIMARY_KEY",
    "simple_app_id": "SEALIO_BIGDL_APP_ID",
    "simple_api_key": "SEALIO_BIGDL_API_KEY",
    "primary_key_path": "SEALIO_BIGDL_PRIMARY_KEY_PATH",
    "ehsm_url": "SEALIO_EHSM_URL",
    "ehsm_app_id": "SEALIO_EHSM_APP_ID",
    "ehsm_api_key": "SEALIO_EHSM_API_KEY",
    "data_key_path": "SEALIO_BIGDL_DATA_KEY_PATH",
}
_KEY_FILE_MAX = 64 << 10
_KMS_NAMES = ("primary_key_plaintext", "simple_app_id", "simple_api_key", "ehsm_url")  # any of these names a KMS


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
        key_id = _read_setting_file(o["primary_key_path"], "the eHSM primary key id file").strip()
        return Ehsm(o["ehsm_url"], o["ehsm_app_id"], o["ehsm_api_key"], key_id)
    if o["simple_app_id"] or o["simple_api_key"]:
        if not (o["simple_app_id"] and o["simple_api_key"] and o["primary_key_path"]):
            raise ConfigurationError("SimpleKMS needs an app id, an api key and the primary key file "
                                     "(--simple-app-id, --simple-api-key, --primary-key-path)")
        return SimpleKms(o["simple_app_id"], o["simple_api_key"],
                         _read_setting_file(o["primary_key_path"], "the SimpleKMS primary key file"))
    if o["primary_key_plaintext"]:
        return PlaintextPrimaryKey(o["primary_key_plaintext"])
    raise ConfigurationError("no BigDL key source: give a plaintext primary key, SimpleKMS or eHSM options "
                             f"(or set {ENV['primary_key_plaintext']})")


def _read_setting_file(path: str | os.PathLike[str], what: str) -> str:
    """A key file a setting names (primary key, key id, data key): one that
    cannot be read is a :class:`ConfigurationError` naming the file, never
    quoting it, like a missing keyring."""
    try:
        with open(path, "rb") as f:
            raw = f.read(_KEY_FILE_MAX + 1)
        if len(raw) > _KEY_FILE_MAX:
            raise ConfigurationError(f"{what} {os.fspath(path)} is larger than any key file")
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise ConfigurationError(f"{what} {os.fspath(path)}: cannot read it ({why})") from None


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


def load_key_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Key-source settings from a JSON file: an object whose names are
    :func:`key_source`'s options (and ``data_key_path``)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(_KEY_FILE_MAX + 1)
        if len(raw) > _KEY_FILE_MAX:
            raise ValueError("too large")
        doc = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError) as e:  # incl. JSON depth and integer digit limits
        raise ConfigurationError(f"BigDL key file {path}: cannot read it as JSON ({type(e).__name__})") from None
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise ConfigurationError(f"BigDL key file {path}: must be a JSON object of strings")
    unknown = sorted(set(doc) - set(ENV))
    if unknown:
        raise ConfigurationError(f"BigDL key file {path}: unknown settings {unknown} (known: {sorted(ENV)})")
    return doc


def opener(fmt: str, settings: Mapping[str, str | None] | None = None, *, verify_mac: bool = True,
           environ: Mapping[str, str] | None = None, meta_key: str | None = None) -> Opener:
    """An :class:`~sealio.bigdl.dataset.Opener` for ``fmt`` from settings
    (:func:`key_source`'s option names, plus ``data_key_path``), each one
    left out taken from its environment variable. Only what ``fmt`` needs
    is resolved: a primary key for native files (or a KMS and ``meta_key``,
    the ``.meta`` ``encryptedDataKey``, when they were written under one);
    for the legacy formats the data-key file, unwrapped by the key source
    when one is named (BigDL 2.1/2.2 store it wrapped) and taken as the key
    text otherwise; a key source for the common format (with ``meta_key``
    for parts whose header has no key)."""
    if fmt not in (*FORMATS, "auto"):
        raise ConfigurationError(f"unknown BigDL format {fmt!r} (one of {', '.join(FORMATS)}, auto)")
    env = os.environ if environ is None else environ
    given = {k: v for k, v in (settings or {}).items() if v}

    def setting(name: str) -> str | None:
        return given.get(name) or env.get(ENV[name]) or None

    options = {k: given.get(k) for k in ENV if k != "data_key_path"}
    if fmt == "native":
        primary = setting("primary_key_plaintext")
        if primary:
            return Opener("native", primary_key_b64=primary)
        if meta_key:  # written under a KMS: .meta holds the wrapped base64 AES key
            return Opener("native", keys=key_source(**options, environ=env), meta_key=meta_key)  # type: ignore[arg-type]
        raise ConfigurationError("the native format needs the plaintext primary key "
                                 f"(--primary-key-plaintext or ${ENV['primary_key_plaintext']}), or a KMS and "
                                 "the directory's .meta")
    if fmt.startswith("legacy"):
        path = setting("data_key_path")
        if not path:
            raise ConfigurationError("legacy formats need the data-key file "
                                     f"(--data-key-file or ${ENV['data_key_path']})")
        text = _read_setting_file(path, "the data-key file").strip()
        if not any(setting(k) for k in _KMS_NAMES):  # no KMS named: the file holds the data-key text itself
            return Opener(fmt, data_key=DataKeyText(text).decrypt_data_key(""), verify_mac=verify_mac)
        # BigDL 2.1/2.2 keep the *wrapped* data key there: unwrap it with the KMS (incomplete options fail)
        source = key_source(**options, environ=env)  # type: ignore[arg-type]
        return Opener(fmt, data_key=source.decrypt_data_key(text), verify_mac=verify_mac)
    path = setting("data_key_path")  # the common format: for headers without a key, as --data-key-file
    if path and not meta_key:
        meta_key = _read_setting_file(path, "the data-key file").strip()
    return Opener(fmt, keys=key_source(**options, environ=env), verify_mac=verify_mac,  # type: ignore[arg-type]
                  meta_key=meta_key)


def native_write_key(settings: Mapping[str, str | None] | None = None, *,
                     environ: Mapping[str, str] | None = None) -> tuple[str, bytes]:
    """(``.meta`` encryptedDataKey, AES key) for writing native-format parts,
    as BigDL's writer chooses them and :func:`opener` reads them back: the
    base64-decoded plaintext primary key with an empty ``.meta`` key, or,
    under a KMS, a new data key whose base64 text is decoded into the AES key
    (AES-256 for eHSM, AES-192 for SimpleKMS's 32 digits), wrapped in ``.meta``."""
    env = os.environ if environ is None else environ
    given = {k: v for k, v in (settings or {}).items() if v}
    primary = given.get("primary_key_plaintext") or env.get(ENV["primary_key_plaintext"])
    if primary:
        return "", decode_primary_key(primary)
    options = {k: given.get(k) for k in ENV if k != "data_key_path"}
    encrypted, key = key_source(**options, environ=env).new_data_key()  # type: ignore[arg-type]
    key.warn_if_weak("BigDL native writer")
    try:
        return encrypted, decode_primary_key(key.text)
    except ConfigurationError:
        raise ConfigurationError("this key source's data keys are not base64 AES keys, so BigDL's native "
                                 "format cannot use them") from None
