"""A small EHSM stand-in for tests: the REST protocol BigDL uses, on
127.0.0.1 (free port, a thread), checking every request's HMAC signature
and timestamp. Keys live in memory; wrapping is AES-GCM with the aad."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class EhsmState:
    def __init__(self) -> None:
        self.apps: dict[str, str] = {}
        self.keys: dict[str, bytes] = {}
        self.calls: list[str] = []


def _sign(api_key: str, app_id: str, payload: dict, ts: int) -> str:
    body = "&".join(f"{k}={payload[k]}" for k in sorted(payload))
    text = f"appid={app_id}&payload={body}&timestamp={ts}"
    return base64.b64encode(hmac.new(api_key.encode(), text.encode(), hashlib.sha256).digest()).decode()


def make_handler(state: EhsmState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args) -> None:  # quiet
            pass

        def _answer(self, code: int, result: dict | None = None, message: str = "success") -> None:
            body = json.dumps({"code": code, "message": message, "result": result or {}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _action(self) -> str:
            u = urlsplit(self.path)
            return parse_qs(u.query).get("Action", [""])[0] if u.path == "/ehsm" else ""

        def do_GET(self) -> None:
            if self._action() != "Enroll":
                return self._answer(400, message="unknown action")
            app_id, api_key = secrets.token_hex(16), secrets.token_urlsafe(24)
            state.apps[app_id] = api_key
            state.calls.append("Enroll")
            self._answer(200, {"appid": app_id, "apikey": api_key})

        def do_POST(self) -> None:
            action = self._action()
            doc = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            app_id, payload, ts = doc.get("appid"), doc.get("payload"), doc.get("timestamp")
            key = state.apps.get(app_id)
            if key is None or not hmac.compare_digest(str(doc.get("sign")), _sign(key, app_id, payload, ts)):
                return self._answer(401, message="sign check failed")
            if abs(time.time() * 1000 - ts) > 5 * 60_000:
                return self._answer(401, message="timestamp out of range")
            state.calls.append(action)
            if action == "CreateKey":
                if payload != {"keyspec": "EH_AES_GCM_128", "origin": "EH_INTERNAL_KEY"}:
                    return self._answer(400, message="unsupported keyspec")
                keyid = secrets.token_hex(8)
                state.keys[keyid] = AESGCM.generate_key(128)
                return self._answer(200, {"keyid": keyid})
            cmk = state.keys.get(payload.get("keyid"))
            if cmk is None:
                return self._answer(400, message="keyid not found")
            aad = str(payload.get("aad", "")).encode()
            if action == "GenerateDataKeyWithoutPlaintext":
                nonce = os.urandom(12)
                blob = nonce + AESGCM(cmk).encrypt(nonce, os.urandom(int(payload["keylen"])), aad)
                return self._answer(200, {"ciphertext": base64.b64encode(blob).decode()})
            if action == "Decrypt":
                blob = base64.b64decode(payload["ciphertext"])
                try:
                    plain = AESGCM(cmk).decrypt(blob[:12], blob[12:], aad)
                except InvalidTag:
                    return self._answer(400, message="decrypt failed")
                return self._answer(200, {"plaintext": base64.b64encode(plain).decode()})
            self._answer(400, message="unknown action")

    return Handler


class EhsmServer:
    def __init__(self) -> None:
        self.state = EhsmState()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
