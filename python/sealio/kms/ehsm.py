"""A client for Intel eHSM-KMS's REST protocol, as BigDL PPML uses it.

Requests: ``POST {url}/ehsm?Action=NAME`` with JSON ``{"appid", "payload",
"timestamp" (ms), "sign"}``, where ``sign = base64(HMAC-SHA256(api_key,
"appid=ID&payload=k1=v1&k2=v2...&timestamp=TS"))`` over the payload's keys
in sorted order. BigDL creates an ``EH_AES_GCM_128`` primary key, stores
``GenerateDataKeyWithoutPlaintext(keylen=32, aad)`` as the encrypted data
key, and uses ``Decrypt``'s base64 plaintext as the data-key string.

Calls go through the shared KMS machinery, as Vault's do: a total deadline
per attempt and no redirect off the configured origin
(:mod:`sealio.kms._http`), retries of transient failures with backoff and
one translated error at the end (:mod:`sealio.kms._retry`). Unlike
BigDL's clients, TLS certificates are verified (pass ``cafile`` for a
private CA). The BigDL key source over this client (data keys as
``DataKey``) is :class:`sealio.bigdl.ehsm.Ehsm`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from sealio.errors import ConfigurationError, IntegrityError, KmsAuthError, KmsError, SealioError
from sealio.kms._retry import RetryPolicy, Transient, call

__all__ = ["BIGDL_AAD", "EhsmClient", "sign"]

BIGDL_AAD = "test"  # what BigDL passes; kept for compatibility with its files


def sign(api_key: str, app_id: str, payload: dict[str, Any], timestamp: int) -> str:
    body = "&".join(f"{k}={payload[k]}" for k in sorted(payload))
    msg = f"appid={app_id}&payload={body}&timestamp={timestamp}"
    return base64.b64encode(hmac.new(api_key.encode(), msg.encode(), hashlib.sha256).digest()).decode()


class _Answer(Exception):
    """An HTTP status that is not 200 (mapped by :meth:`EhsmClient._translate`)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class EhsmClient:
    """The eHSM REST protocol: enroll, create a primary key, generate and
    decrypt data keys. ``timeout`` bounds each attempt (seconds); ``policy``
    overrides the whole retry policy."""

    def __init__(self, url: str, app_id: str, api_key: str, primary_key_id: str | None = None, *,
                 aad: str = BIGDL_AAD, timeout: float = 10.0, cafile: str | None = None,
                 policy: RetryPolicy | None = None) -> None:
        if not url.startswith(("https://", "http://")):
            raise ConfigurationError("the eHSM URL must start with https:// (or http:// for a local test server)")
        self.url, self.app_id, self._api_key = url.rstrip("/"), app_id, api_key
        self.primary_key_id, self.aad, self.timeout = primary_key_id, aad, timeout
        self.policy = policy or RetryPolicy(timeout=timeout)
        self._verify: bool | str = cafile or True
        self._session: Any = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, app_id={self.app_id!r}, api_key=<redacted>)"

    def __reduce__(self) -> Any:
        raise TypeError("an eHSM client holds an API key and cannot be pickled")

    @classmethod
    def enroll(cls, url: str, *, timeout: float = 10.0, cafile: str | None = None) -> tuple[str, str]:
        """A new (app id, api key) pair from the server."""
        client = cls(url, "", "", timeout=timeout, cafile=cafile)
        result = client._send("Enroll", None)
        return result["appid"], result["apikey"]

    def _http(self) -> Any:
        """The guarded session, made on first use (``requests`` is imported then)."""
        if self._session is None:
            try:
                from sealio.kms import _http
            except ImportError as e:
                raise KmsError(f"the eHSM client needs the optional dependency {e.name or 'requests'}: "
                               "pip install 'sealio[ehsm]'") from None
            self._session = _http.guarded_session(self.url, verify=self._verify)
        return self._session

    def _send(self, action: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        from sealio.kms import _http

        session = self._http()
        target = f"{self.url}/ehsm?Action={action}"

        def attempt() -> Any:
            with _http.deadline(self.policy.timeout):  # connect + send + the whole answer
                if payload is None:
                    resp = session.get(target, timeout=self.policy.timeout)
                else:
                    ts = int(time.time() * 1000)  # per attempt: the server refuses stale timestamps
                    body = {"appid": self.app_id, "payload": payload, "timestamp": str(ts),  # a string, as BigDL sends it
                            "sign": sign(self._api_key, self.app_id, payload, ts)}
                    resp = session.post(target, json=body, timeout=self.policy.timeout)
                if resp.status_code != 200:
                    raise _Answer(resp.status_code)
                return resp.json()

        doc = call(self.policy, f"eHSM {action}", attempt, lambda e: self._translate(e, action))
        if not isinstance(doc, dict):
            raise KmsError(f"eHSM {action}: the answer is not a JSON object")
        code = doc.get("code")
        if code != 200:
            msg = str(doc.get("message", ""))[:200]
            if code in (401, 403):
                raise KmsAuthError(f"eHSM refused {action}: {msg}")
            raise KmsError(f"eHSM {action} failed ({code}): {msg}")
        result = doc.get("result")
        if not isinstance(result, dict):
            raise KmsError(f"eHSM {action}: no result in the answer")
        return result

    def _translate(self, e: BaseException, action: str) -> SealioError | Transient:
        """One error mapping for every eHSM call (retried: unreachable, timed
        out, HTTP 429/5xx); messages never carry the API key or a data key."""
        import requests

        from sealio.kms import _http

        if isinstance(e, SealioError):
            return e
        if isinstance(e, _Answer):
            if e.status in (401, 403):
                return KmsAuthError(f"eHSM refused {action}: HTTP {e.status} (app id / api key)")
            if e.status == 429 or e.status >= 500:
                return Transient(f"eHSM at {self.url} answered HTTP {e.status} for {action}")
            return KmsError(f"eHSM {action} failed: HTTP {e.status}")
        if isinstance(e, ValueError):  # a 200 whose body is not JSON (requests' JSONDecodeError)
            return KmsError(f"eHSM {action}: the answer is not JSON")
        if isinstance(e, _http.RedirectRefused):
            return KmsError(f"eHSM {action}: {self.url} redirected ({e.status}) to {e.target_origin}; "
                            "not followed, so that no request or data key goes to another server")
        if isinstance(e, (requests.exceptions.Timeout, _http.DeadlineExceeded)):
            return Transient(f"eHSM at {self.url} did not answer {action} within {self.policy.timeout:g}s")
        if isinstance(e, (requests.exceptions.ConnectionError, OSError)):
            return Transient(f"eHSM at {self.url} unreachable for {action}: {type(e).__name__}")
        return KmsError(f"eHSM {action} failed: {type(e).__name__}")

    def create_primary_key(self) -> str:
        result = self._send("CreateKey", {"keyspec": "EH_AES_GCM_128", "origin": "EH_INTERNAL_KEY"})
        self.primary_key_id = result["keyid"]
        return self.primary_key_id

    def _key_id(self) -> str:
        if not self.primary_key_id:
            raise ConfigurationError("no eHSM primary key id (create one, or pass the primary key file's id)")
        return self.primary_key_id

    def decrypt(self, encrypted: str) -> str:
        """The data-key text of an encrypted data key (``Decrypt``)."""
        result = self._send("Decrypt", {"keyid": self._key_id(), "ciphertext": encrypted, "aad": self.aad})
        text = result.get("plaintext")
        if not isinstance(text, str):
            raise IntegrityError("eHSM Decrypt returned no plaintext")
        return text

    def generate_data_key(self) -> str:
        """A new encrypted data key (``GenerateDataKeyWithoutPlaintext``, 32 bytes)."""
        result = self._send("GenerateDataKeyWithoutPlaintext",
                            {"keyid": self._key_id(), "keylen": 32, "aad": self.aad})
        return result["ciphertext"]
