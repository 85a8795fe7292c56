"""A client for Intel eHSM-KMS's REST protocol, as BigDL PPML uses it.

Requests: ``POST {url}/ehsm?Action=NAME`` with JSON ``{"appid", "payload",
"timestamp" (ms), "sign"}``, where ``sign = base64(HMAC-SHA256(api_key,
"appid=ID&payload=k1=v1&k2=v2...&timestamp=TS"))`` over the payload's keys
in sorted order. BigDL creates an ``EH_AES_GCM_128`` primary key, stores
``GenerateDataKeyWithoutPlaintext(keylen=32, aad)`` as the encrypted data
key, and uses ``Decrypt``'s base64 plaintext as the data-key string.

Unlike BigDL's clients, TLS certificates are verified (pass ``cafile`` for
a private CA); every call has a timeout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import time
import urllib.error
import urllib.request
from typing import Any

from sealio.bigdl.keys import DataKey
from sealio.errors import ConfigurationError, IntegrityError, KmsAuthError, KmsError, KmsUnavailableError

BIGDL_AAD = "test"  # what BigDL passes; kept for compatibility with its files


def sign(api_key: str, app_id: str, payload: dict[str, Any], timestamp: int) -> str:
    body = "&".join(f"{k}={payload[k]}" for k in sorted(payload))
    msg = f"appid={app_id}&payload={body}&timestamp={timestamp}"
    return base64.b64encode(hmac.new(api_key.encode(), msg.encode(), hashlib.sha256).digest()).decode()


class Ehsm:
    """eHSM key source: ``decrypt_data_key``/``new_data_key`` as the other
    BigDL key sources. Data keys are base64 of 32 bytes; their text's
    [16:32] slice is the AES key: about 96 bits."""

    ENTROPY = 96

    def __init__(self, url: str, app_id: str, api_key: str, primary_key_id: str | None = None, *,
                 aad: str = BIGDL_AAD, timeout: float = 10.0, cafile: str | None = None) -> None:
        if not url.startswith(("https://", "http://")):
            raise ConfigurationError("the eHSM URL must start with https:// (or http:// for a local test server)")
        self.url, self.app_id, self._api_key = url.rstrip("/"), app_id, api_key
        self.primary_key_id, self.aad, self.timeout = primary_key_id, aad, timeout
        self._ctx = ssl.create_default_context(cafile=cafile) if url.startswith("https://") else None

    def __repr__(self) -> str:
        return f"Ehsm({self.url!r}, app_id={self.app_id!r}, api_key=<redacted>)"

    def __reduce__(self) -> Any:
        raise TypeError("an eHSM client holds an API key and cannot be pickled")

    @classmethod
    def enroll(cls, url: str, *, timeout: float = 10.0, cafile: str | None = None) -> tuple[str, str]:
        """A new (app id, api key) pair from the server."""
        client = cls(url, "", "", timeout=timeout, cafile=cafile)
        result = client._send("Enroll", None)
        return result["appid"], result["apikey"]

    def _send(self, action: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        target = f"{self.url}/ehsm?Action={action}"
        if payload is None:
            req = urllib.request.Request(target, method="GET")
        else:
            ts = int(time.time() * 1000)
            body = {"appid": self.app_id, "payload": payload, "timestamp": str(ts),  # a string, as BigDL sends it
                    "sign": sign(self._api_key, self.app_id, payload, ts)}
            req = urllib.request.Request(target, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._ctx) as resp:
                doc = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            if e.code in (401, 403):
                raise KmsAuthError(f"eHSM refused {action}: HTTP {e.code} (app id / api key)") from None
            raise KmsError(f"eHSM {action} failed: HTTP {e.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            raise KmsUnavailableError(f"eHSM at {self.url} unreachable for {action}: {type(e).__name__}") from None
        except ValueError:
            raise KmsError(f"eHSM {action}: the answer is not JSON") from None
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

    def create_primary_key(self) -> str:
        result = self._send("CreateKey", {"keyspec": "EH_AES_GCM_128", "origin": "EH_INTERNAL_KEY"})
        self.primary_key_id = result["keyid"]
        return self.primary_key_id

    def _key_id(self) -> str:
        if not self.primary_key_id:
            raise ConfigurationError("no eHSM primary key id (create one, or pass the primary key file's id)")
        return self.primary_key_id

    def decrypt_data_key(self, encrypted: str) -> DataKey:
        result = self._send("Decrypt", {"keyid": self._key_id(), "ciphertext": encrypted, "aad": self.aad})
        text = result.get("plaintext")
        if not isinstance(text, str):
            raise IntegrityError("eHSM Decrypt returned no plaintext")
        return DataKey(text, self.ENTROPY)

    def new_data_key(self) -> tuple[str, DataKey]:
        result = self._send("GenerateDataKeyWithoutPlaintext",
                            {"keyid": self._key_id(), "keylen": 32, "aad": self.aad})
        encrypted = result["ciphertext"]
        return encrypted, self.decrypt_data_key(encrypted)
