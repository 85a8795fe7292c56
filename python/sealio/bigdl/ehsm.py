"""A client for Intel EHSM's REST protocol, as BigDL PPML uses it.

Requests: ``POST {url}/ehsm?Action=X`` with JSON ``{"appid", "payload",
"timestamp" (ms), "sign"}``; ``sign = base64(HMAC-SHA256(apikey,
"appid=<id>&payload=k1=v1&k2=v2...&timestamp=<ts>"))`` with the payload
keys sorted. Answers: ``{"code": 200, "message": ..., "result": {...}}``.
``Enroll`` is a plain ``GET`` returning a new ``appid``/``apikey``.

Unlike BigDL's client, TLS certificates are verified unless the caller
passes an explicit ``ssl.SSLContext``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from sealio.bigdl.keys import KeySource
from sealio.errors import KmsAuthError, KmsError, KmsUnavailableError

__all__ = ["EhsmClient", "EhsmKeySource", "enroll", "sign_request"]

BIGDL_AAD = "test"  # BigDL's fixed additional data


def sign_request(api_key: str, app_id: str, payload: dict[str, Any], timestamp: int) -> str:
    """EHSM's request signature (payload keys sorted, values as text)."""
    body = "&".join(f"{k}={payload[k]}" for k in sorted(payload))
    text = f"appid={app_id}&payload={body}&timestamp={timestamp}"
    return base64.b64encode(hmac.new(api_key.encode(), text.encode(), hashlib.sha256).digest()).decode()


def _call(url: str, method: str, body: bytes | None, timeout: float, context: ssl.SSLContext | None) -> Any:
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:  # noqa: S310
            raw = resp.read()
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            raise KmsAuthError(f"EHSM refused the request (HTTP {e.code})") from None
        raise KmsError(f"EHSM answered HTTP {e.code}") from None
    except (urllib.error.URLError, OSError) as e:
        raise KmsUnavailableError(f"EHSM at {urllib.parse.urlsplit(url).netloc} unreachable: "
                                  f"{type(e).__name__}") from None
    try:
        doc = json.loads(raw)
    except ValueError:
        raise KmsError("EHSM answered something that is not JSON") from None
    code = doc.get("code") if isinstance(doc, dict) else None
    if code != 200:
        message = str(doc.get("message", ""))[:200] if isinstance(doc, dict) else ""
        if code in (401, 403) or "sign" in message.lower():
            raise KmsAuthError(f"EHSM refused the request: {message}")
        raise KmsError(f"EHSM error {code}: {message}")
    result = doc.get("result")
    if not isinstance(result, dict):
        raise KmsError("EHSM answer has no result object")
    return result


def enroll(url: str, *, timeout: float = 10.0, context: ssl.SSLContext | None = None) -> tuple[str, str]:
    """``GET ?Action=Enroll``: a new (appid, apikey)."""
    result = _call(url.rstrip("/") + "/ehsm?Action=Enroll", "GET", None, timeout, context)
    try:
        return str(result["appid"]), str(result["apikey"])
    except KeyError:
        raise KmsError("EHSM Enroll answer lacks appid/apikey") from None


class EhsmClient:
    """Signed EHSM requests for one enrolled app."""

    def __init__(self, url: str, app_id: str, api_key: str, *, timeout: float = 10.0,
                 context: ssl.SSLContext | None = None) -> None:
        self._url = url.rstrip("/")
        self._app_id, self._api_key = app_id, api_key
        self._timeout, self._context = timeout, context

    def __repr__(self) -> str:
        return f"EhsmClient({self._url!r}, app_id={self._app_id!r})"

    def __reduce__(self) -> Any:
        raise TypeError("EhsmClient holds an api key and cannot be pickled")

    def request(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        ts = int(time.time() * 1000)
        body = {"appid": self._app_id, "payload": payload, "timestamp": ts,
                "sign": sign_request(self._api_key, self._app_id, payload, ts)}
        url = f"{self._url}/ehsm?Action={urllib.parse.quote(action)}"
        return _call(url, "POST", json.dumps(body).encode(), self._timeout, self._context)

    def create_key(self, keyspec: str = "EH_AES_GCM_128", origin: str = "EH_INTERNAL_KEY") -> str:
        """A new master key; its keyid is what BigDL saves as the primary key file."""
        return str(self.request("CreateKey", {"keyspec": keyspec, "origin": origin})["keyid"])

    def generate_data_key_without_plaintext(self, keyid: str, keylen: int = 32, aad: str = BIGDL_AAD) -> str:
        return str(self.request("GenerateDataKeyWithoutPlaintext",
                                {"keyid": keyid, "keylen": keylen, "aad": aad})["ciphertext"])

    def decrypt(self, keyid: str, ciphertext: str, aad: str = BIGDL_AAD) -> str:
        return str(self.request("Decrypt", {"keyid": keyid, "ciphertext": ciphertext, "aad": aad})["plaintext"])


class EhsmKeySource(KeySource):
    """BigDL's EHSMKeyManagementService: the data-key string is EHSM's
    base64 plaintext of a 32-byte key (44 characters), so the AES key is
    characters 16..31: 96 bits."""

    aes_key_bits = 96
    name = "EHSM key"

    def __init__(self, client: EhsmClient, keyid: str) -> None:
        self._client, self._keyid = client, keyid.strip()

    def new_data_key(self) -> tuple[str, str]:
        edk = self._client.generate_data_key_without_plaintext(self._keyid)
        return self.unwrap(edk), edk

    def unwrap(self, encrypted_data_key: str) -> str:
        self.warn_if_weak()
        return self._client.decrypt(self._keyid, encrypted_data_key)
