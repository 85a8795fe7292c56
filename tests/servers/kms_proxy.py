"""Small real network faults for KMS robustness tests, all on 127.0.0.1.

* :class:`FaultyProxy` forwards HTTP to a real server (OpenBao, moto) but can
  answer the next N requests itself with an error status (e.g. 503), and
  counts the requests that reached the server, so tests see retries and
  cache hits as real traffic.
* :func:`silent_listener` accepts TCP connections and never answers (a hung
  server), for timeout tests; :func:`closed_port` is a port nobody listens on.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


class FaultyProxy:
    def __init__(self, upstream: str) -> None:
        up = urlsplit(upstream)
        self._up_host, self._up_port = up.hostname or "127.0.0.1", up.port or 80
        self._lock = threading.Lock()
        self._failures: list[int] = []
        self._redirects = 0
        self.forwarded = 0  # requests that reached the upstream server
        self.refused = 0    # requests answered with an injected failure
        self.redirected = 0  # requests answered with a same-origin 307
        self.paths: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    redirect = proxy._redirects > 0
                    proxy._redirects -= redirect
                    status = proxy._failures.pop(0) if proxy._failures and not redirect else None
                if redirect:  # to the same path on this same origin
                    proxy.redirected += 1
                    self.send_response(307)
                    self.send_header("Location", f"{proxy.url}{self.path}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with proxy._lock:
                    if status is None:
                        proxy.forwarded += 1
                        proxy.paths.append(f"{self.command} {self.path}")
                    else:
                        proxy.refused += 1
                if status is not None:
                    payload = b'{"errors":["injected by FaultyProxy"]}'
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(proxy._up_host, proxy._up_port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in _HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def redirect_next(self, count: int = 1) -> None:
        """Answer the next ``count`` requests with a 307 to the same URL."""
        with self._lock:
            self._redirects += count

    def reset_counts(self) -> None:
        with self._lock:
            self.forwarded = self.refused = 0
            self.paths.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def faulty_proxy(upstream: str) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(upstream)
    try:
        yield proxy
    finally:
        proxy.close()


@contextmanager
def silent_listener() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a socket that completes TCP handshakes
    (the kernel's backlog) but never reads or answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def closed_port() -> str:
    """``http://127.0.0.1:PORT`` where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
