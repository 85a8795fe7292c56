"""The eHSM client against a local server that implements the documented
protocol (no real eHSM runs here): signatures, timestamps, key handling,
and BigDL files whose data keys come from it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import bigdl_ref as ref
from sealio import bigdl
from sealio.bigdl.ehsm import Ehsm
from sealio.errors import KmsAuthError, KmsError, KmsUnavailableError


class _State:
    def __init__(self) -> None:
        self.apps: dict[str, str] = {}
        self.keys: dict[str, bytes] = {}
        self.calls: list[str] = []


def _expected_sign(api_key: str, app_id: str, payload: dict, ts: int) -> str:
    # Written from the protocol text independently of sealio.bigdl.ehsm.sign.
    parts = [f"{k}={payload[k]}" for k in sorted(payload)]
    msg = "appid=" + app_id + "&payload=" + "&".join(parts) + "&timestamp=" + str(ts)
    return base64.b64encode(hmac.new(api_key.encode(), msg.encode(), hashlib.sha256).digest()).decode()


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def _answer(self, code: int, result: dict | None = None, message: str = "success") -> None:
            body = json.dumps({"code": code, "message": message, "result": result or {}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            action = parse_qs(urlsplit(self.path).query).get("Action", [""])[0]
            state.calls.append(action)
            if action != "Enroll":
                return self._answer(400, message="unknown action")
            app_id, api_key = os.urandom(6).hex(), base64.b64encode(os.urandom(24)).decode()
            state.apps[app_id] = api_key
            self._answer(200, {"appid": app_id, "apikey": api_key})

        def do_POST(self) -> None:
            action = parse_qs(urlsplit(self.path).query).get("Action", [""])[0]
            state.calls.append(action)
            doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            api_key = state.apps.get(doc.get("appid"))
            if api_key is None or not hmac.compare_digest(
                    doc.get("sign", ""), _expected_sign(api_key, doc["appid"], doc["payload"], doc["timestamp"])):
                return self._answer(401, message="signature check failed")
            if not isinstance(doc["timestamp"], str) or abs(time.time() * 1000 - int(doc["timestamp"])) > 60_000:
                return self._answer(401, message="stale timestamp")
            p = doc["payload"]
            if action == "CreateKey":
                key_id = os.urandom(8).hex()
                state.keys[key_id] = AESGCM.generate_key(128)
                return self._answer(200, {"keyid": key_id})
            key = state.keys.get(p.get("keyid"))
            if key is None:
                return self._answer(404, message="key not found")
            if action == "GenerateDataKeyWithoutPlaintext":
                plain = base64.b64encode(os.urandom(p["keylen"])).decode()
                nonce = os.urandom(12)
                ct = nonce + AESGCM(key).encrypt(nonce, plain.encode(), p["aad"].encode())
                return self._answer(200, {"ciphertext": base64.b64encode(ct).decode()})
            if action == "Decrypt":
                raw = base64.b64decode(p["ciphertext"])
                try:
                    plain = AESGCM(key).decrypt(raw[:12], raw[12:], p["aad"].encode()).decode()
                except Exception:
                    return self._answer(400, message="decrypt failed")
                return self._answer(200, {"plaintext": plain})
            return self._answer(400, message="unknown action")

    return H


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, _State]]:
    state = _State()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_enroll_create_key_and_bigdl_files(server: tuple[str, _State]) -> None:
    url, state = server
    app_id, api_key = Ehsm.enroll(url)
    kms = Ehsm(url, app_id, api_key)
    kms.create_primary_key()
    blob = bigdl.encrypt_bytes(b"name,age,job\nli,33,Developer\n", kms)
    enc_key = bigdl.common.parse_header(blob).encrypted_data_key
    dk = kms.decrypt_data_key(enc_key).text
    assert len(dk) == 44  # base64 of 32 bytes, used as the data-key string
    assert ref.common_decrypt(blob, lambda e: dk) == b"name,age,job\nli,33,Developer\n"
    import io
    with bigdl.CommonReader(io.BytesIO(blob), kms) as f:
        assert f.read().endswith(b"Developer\n")
    assert {"CreateKey", "GenerateDataKeyWithoutPlaintext", "Decrypt"} <= set(state.calls)
    assert api_key not in repr(kms)


def test_bad_api_key_is_an_auth_error(server: tuple[str, _State]) -> None:
    url, _ = server
    app_id, _key = Ehsm.enroll(url)
    with pytest.raises(KmsAuthError):
        Ehsm(url, app_id, "wrong").create_primary_key()


def test_unknown_key_and_tampered_data_key(server: tuple[str, _State]) -> None:
    url, _ = server
    app_id, api_key = Ehsm.enroll(url)
    kms = Ehsm(url, app_id, api_key, "no-such-key")
    with pytest.raises(KmsError, match="key not found"):
        kms.new_data_key()
    kms.create_primary_key()
    enc, _ = kms.new_data_key()
    raw = bytearray(base64.b64decode(enc))
    raw[-1] ^= 1
    with pytest.raises(KmsError, match="decrypt failed"):
        kms.decrypt_data_key(base64.b64encode(bytes(raw)).decode())


def test_unreachable_server_fails_fast() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    t0 = time.monotonic()
    with pytest.raises(KmsUnavailableError):
        Ehsm(f"http://127.0.0.1:{port}", "a", "b", "k", timeout=2).new_data_key()
    assert time.monotonic() - t0 < 10


def test_no_secret_in_pickle_or_errors(server: tuple[str, _State]) -> None:
    import pickle

    url, _ = server
    with pytest.raises(TypeError):
        pickle.dumps(Ehsm(url, "a", "super-secret-api-key"))
    with pytest.raises(KmsAuthError) as e:
        Ehsm(url, "a", "super-secret-api-key", "k").new_data_key()
    assert "super-secret" not in str(e.value)
