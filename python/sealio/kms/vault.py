"""HashiCorp Vault / OpenBao Transit as a sealio KMS (on ``hvac``).

Master keys are Transit keys; they never leave Vault. ``wrap_key`` sends a
KEK to ``MOUNT/encrypt/NAME`` with the key name bound as associated data,
and stores Vault's ``vault:vN:...`` ciphertext (so the key version travels
with every sealed file); ``unwrap_key`` sends it to ``MOUNT/decrypt/NAME``.
Rotation is Vault's: ``bao write -f transit/keys/NAME/rotate`` makes new
wraps use the new version, old ones still unwrap until
``min_decryption_version`` is raised, which then fails with
:class:`~sealio.errors.KeyDisabledError`.

Configuration string: ``vault+https://HOST:PORT/MOUNT/keys/NAME`` (or
``vault+http://`` for a local dev server), options ``timeout``, ``retries``,
``namespace``. The token comes from ``$VAULT_TOKEN``, ``$BAO_TOKEN``, the
file named by ``$SEALIO_VAULT_TOKEN_FILE``, or ``~/.vault-token``; never
from the string or from a sealed file.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import threading
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sealio.errors import (InsecureTransportWarning, IntegrityError, KeyDisabledError, KeyNotFoundError,
                           KmsAuthError, KmsError, SealioError)
from sealio.kms import _http, _options
from sealio.kms._retry import RetryPolicy, Transient, call

__all__ = ["VaultTransit", "from_uri"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_MOUNT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}){0,7}$")
_CIPHERTEXT_RE = re.compile(r"^vault:v([1-9][0-9]{0,9}):[A-Za-z0-9+/]+={0,2}$")
_AAD_LABEL = b"sealio/vault-transit/v1\x00"


def token_from_environment() -> str | None:
    """``$VAULT_TOKEN``, ``$BAO_TOKEN``, the file ``$SEALIO_VAULT_TOKEN_FILE``,
    then ``~/.vault-token`` (the CLI's token helper file)."""
    for var in ("VAULT_TOKEN", "BAO_TOKEN"):
        value = os.environ.get(var, "").strip()
        if value:
            return value
    named = os.environ.get("SEALIO_VAULT_TOKEN_FILE")
    try:
        path = Path(named).expanduser() if named else Path.home() / ".vault-token"
    except RuntimeError:  # no home directory to look in
        return None
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        if named:
            raise KmsAuthError(f"SEALIO_VAULT_TOKEN_FILE names {path}, which does not exist") from None
        return None
    except OSError as e:
        raise KmsAuthError(f"cannot read the Vault token file {path}: {type(e).__name__}") from None
    return value or None


def check_key_name(name: Any) -> str:
    """A Transit key name as found in a header: one path segment, no tricks."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise KmsError(f"master key id {name!r} is not a Vault Transit key name "
                       "(1..128 of A-Z a-z 0-9 _ . -, starting with a letter or digit)")
    return name


def key_version(wrapped: Any) -> int:
    """The Transit key version recorded in a wrapped key (``vault:vN:...``)."""
    m = _CIPHERTEXT_RE.match(wrapped) if isinstance(wrapped, str) else None
    if m is None:
        raise IntegrityError("wrapped key is not a Vault Transit ciphertext (vault:vN:...)")
    return int(m.group(1))


class VaultTransit:
    """A :class:`~sealio.keys.KmsClient` backed by a Vault/OpenBao Transit engine.

    ``url`` is the server (``https://vault.example:8200``); ``mount`` the
    Transit mount path; ``key`` the default master key name (what writers
    use when given none). Each call is bounded by ``policy`` (timeout,
    retries with backoff on unreachable/5xx/429). The token is held only
    here: reprs show the URL, pickling is refused (pickle a
    :class:`~sealio.kms.KmsRef` instead).
    """

    def __init__(self, url: str, *, token: str | None = None, mount: str = "transit", key: str | None = None,
                 namespace: str | None = None, verify: bool | str = True,
                 policy: RetryPolicy | None = None) -> None:
        try:
            import hvac  # lazily: sealio.kms must import without the vault extra
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError("VaultTransit needs hvac, which is not installed: "
                                      "pip install 'sealio[vault]'", name=e.name) from None

        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - a bad port raises here, not at the first call
        except ValueError:
            raise KmsError(f"Vault URL must be http(s)://HOST[:PORT], not {_options.redact(url)}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise KmsError(f"Vault URL must be http(s)://HOST[:PORT], not {_options.redact(url)}")
        _options.refuse_userinfo(url, parts.netloc)
        if not isinstance(mount, str) or not _MOUNT_RE.match(mount.strip("/")):
            raise KmsError(f"bad Transit mount path {mount!r}")
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.mount = mount.strip("/")
        self.default = check_key_name(key) if key is not None else None
        self.policy = policy or RetryPolicy()
        token = token if token is not None else token_from_environment()
        if not token:
            raise KmsAuthError("no Vault token: set VAULT_TOKEN (or BAO_TOKEN), or name a token file "
                               "with SEALIO_VAULT_TOKEN_FILE, or log in so that ~/.vault-token exists")
        if parts.scheme == "http":
            _warn_plaintext(self.url, parts.hostname)
        self._hvac = hvac
        # Redirects only within this origin, and a total deadline per attempt (sealio.kms._http).
        self._client = hvac.Client(url=self.url, token=token, timeout=self.policy.timeout,
                                   namespace=namespace, verify=verify, allow_redirects=True,
                                   session=_http.guarded_session(self.url, verify=verify))
        self._lock = threading.Lock()
        self._known: set[str] = set()

    # -- KmsClient

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        """Encrypt under the newest version of the Transit key (which must exist:
        Vault would otherwise create it on first use)."""
        name = check_key_name(master_key_identifier)
        self._require_key(name)
        ciphertext = self._call(f"wrap under Vault Transit key {name!r}", name, lambda: self._transit.encrypt_data(
            name, plaintext=_b64(bytes(key_bytes)), associated_data=_b64(_aad(name)),
            mount_point=self.mount)["data"]["ciphertext"])  # a malformed answer is translated in the call
        key_version(ciphertext)
        return str(ciphertext)

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        """Decrypt with the version recorded in ``wrapped_key``; the key *name*
        comes from the header but the Vault *server* only from configuration."""
        name = check_key_name(master_key_identifier)
        version = key_version(wrapped_key)
        data = self._call(f"unwrap with Vault Transit key {name!r} v{version}", name,
                          lambda: self._transit.decrypt_data(name, ciphertext=wrapped_key,
                                                             associated_data=_b64(_aad(name)),
                                                             mount_point=self.mount),
                          version=version)
        try:
            return base64.b64decode(data["data"]["plaintext"], validate=True)
        except (KeyError, TypeError, binascii.Error):
            raise KmsError("Vault returned a malformed decrypt response") from None

    # -- key information (read access to MOUNT/keys/NAME)

    def key_info(self, name: str) -> dict[str, Any]:
        """Transit's key description: ``latest_version``, ``min_decryption_version``, ``keys`` ..."""
        name = check_key_name(name)
        return self._call(f"read Vault Transit key {name!r}", name,
                          lambda: dict(self._transit.read_key(name, mount_point=self.mount)["data"]))

    def check_key(self, name: str) -> None:
        """Fail early (KeyNotFoundError, KmsAuthError, ...) if ``name`` is unusable."""
        self._known.discard(name)
        self._require_key(check_key_name(name))

    def _require_key(self, name: str) -> None:
        if name in self._known:
            return
        try:
            self.key_info(name)
        except KmsAuthError:
            return  # a least-privilege token may encrypt without reading; encrypt decides
        with self._lock:
            self._known.add(name)

    # -- plumbing

    @property
    def _transit(self) -> Any:
        return self._client.secrets.transit

    def _call(self, what: str, name: str, fn: Any, version: int | None = None) -> Any:
        def attempt() -> Any:
            with _http.deadline(self.policy.timeout):  # connect + send + the whole answer
                return fn()

        return call(self.policy, what, attempt, lambda e: self._translate(e, what, name, version))

    def _translate(self, e: BaseException, what: str, name: str, version: int | None) -> SealioError | Transient:
        import requests

        ex = self._hvac.exceptions
        text = _first_error(e)
        where = f"Vault at {self.url}"
        if isinstance(e, _http.RedirectRefused):
            return KmsError(f"{what}: {where} redirected ({e.status}) to {e.target_origin}; not followed, so "
                            "that neither the token nor key material leaves the configured server "
                            "(configure the address that answers, e.g. the active node)")
        if isinstance(e, (requests.exceptions.Timeout, _http.DeadlineExceeded)):
            return Transient(f"{where} did not answer within {self.policy.timeout:g}s")
        if isinstance(e, requests.exceptions.ConnectionError):
            return Transient(f"cannot connect to {where}")
        if isinstance(e, (ex.VaultDown, ex.InternalServerError, ex.BadGateway, ex.RateLimitExceeded)):
            return Transient(f"{where} answered {type(e).__name__}: {text}")
        if isinstance(e, (ex.Forbidden, ex.Unauthorized)):
            return KmsAuthError(f"{what}: {where} refused the token ({text or 'permission denied'}); "
                                f"check VAULT_TOKEN/BAO_TOKEN and its policy on {self.mount}/")
        if isinstance(e, ex.InvalidPath):
            return KeyNotFoundError(f"{what}: {where} has no Transit key {name!r} at mount {self.mount!r}")
        if isinstance(e, ex.InvalidRequest):
            if "key not found" in text:
                return KeyNotFoundError(f"{what}: {where} has no Transit key {name!r} at mount {self.mount!r}")
            if "disallowed by policy" in text or "too old" in text:
                return KeyDisabledError(
                    f"{what}: version {version} of Transit key {name!r} is disabled for decryption "
                    f"(below its min_decryption_version); files wrapped under it must be re-wrapped "
                    f"(`sealio rewrap`) before old versions are disabled")
            if "authentication failed" in text or "invalid ciphertext" in text or "decode" in text:
                return IntegrityError(f"{what}: the wrapped key did not authenticate "
                                      "(tampered header or a different key)")
            return KmsError(f"{what}: {where} rejected the request: {text}")
        if isinstance(e, ex.VaultError):
            return KmsError(f"{what}: {where} answered {type(e).__name__}: {text}")
        if isinstance(e, (KeyError, TypeError, ValueError)):
            return KmsError(f"{what}: malformed response from {where}")
        if isinstance(e, SealioError):
            return e
        return KmsError(f"{what}: {type(e).__name__}")

    def __repr__(self) -> str:
        return f"VaultTransit({self.url!r}, mount={self.mount!r}, key={self.default!r})"

    def __reduce__(self) -> Any:
        raise TypeError("VaultTransit holds a token and cannot be pickled; pickle "
                        "sealio.kms.KmsRef('vault+https://...') instead")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


_warned: set[str] = set()
_warned_lock = threading.Lock()


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warn_plaintext(url: str, host: str) -> None:
    """Warn once per server: plain http outside loopback sends the token and
    every KEK in the clear (a dev server on 127.0.0.1 stays silent)."""
    if _is_loopback(host):
        return
    with _warned_lock:
        if url in _warned:
            return
        _warned.add(url)
    warnings.warn(f"Vault at {url} is plaintext http to a non-loopback host: the token and key material "
                  "travel unencrypted (use vault+https://)", InsecureTransportWarning, stacklevel=3)


def _aad(name: str) -> bytes:
    return _AAD_LABEL + name.encode("utf-8")


def _first_error(e: BaseException) -> str:
    errors = getattr(e, "errors", None)
    if isinstance(errors, (list, tuple)) and errors:
        return "; ".join(str(x) for x in errors)[:300]
    return str(e).split(", on ")[0][:300]


_URI_OPTIONS = {"timeout", "retries", "namespace"}


def from_uri(uri: str) -> VaultTransit:
    """``vault+http(s)://HOST:PORT/MOUNT[/keys/NAME][?timeout=S&retries=N&namespace=NS]``."""
    _options.check_config(uri)
    parts = urlsplit(uri)
    _options.refuse_userinfo(uri, parts.netloc)
    opts = _options.options(uri, parts.query, _URI_OPTIONS)
    scheme = parts.scheme.lower().removeprefix("vault+")
    if scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise KmsError(f"a Vault KMS is configured as vault+https://HOST:PORT/MOUNT/keys/NAME, "
                       f"not {_options.redact(uri)}")
    path = unquote(parts.path).strip("/")
    mount, sep, name = path.rpartition("/keys/")
    if not sep:
        mount, name = path, ""
    if not mount or (sep and not name) or path.endswith("/keys") or path == "keys":
        raise KmsError(f"a Vault KMS is configured as vault+https://HOST:PORT/MOUNT/keys/NAME, "
                       f"not {_options.redact(uri)}")
    return VaultTransit(f"{scheme}://{parts.netloc}", mount=mount, key=name or None,
                        namespace=opts.get("namespace") or None, policy=_options.retry_policy(uri, opts))
