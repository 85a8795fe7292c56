"""Hostile HTTP servers on 127.0.0.1 for KMS client tests (real sockets):

* :func:`recorder` answers ``200 {}`` to everything and records each request
  (method, path, headers, body): the "other host" a redirect points at;
* :func:`redirector` answers every request with a 307 to another origin;
* :func:`slow_drip` answers byte by byte, each byte well inside a per-read
  timeout, the whole answer far past any sane deadline.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    url: str
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _body(h: BaseHTTPRequestHandler) -> bytes:
    length = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(length) if length else b""


@contextmanager
def recorder() -> Iterator[Recorded]:
    rec = Recorded("")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            rec.requests.append((self.command, self.path, dict(self.headers.items()), _body(self)))
            payload = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_LIST = _handle

    server, rec.url = _serve(Handler)
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def redirector(target: str, status: int = 307) -> Iterator[Recorded]:
    """Every request -> ``status`` with ``Location: target + path``."""
    rec = Recorded("")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            rec.requests.append((self.command, self.path, dict(self.headers.items()), _body(self)))
            self.send_response(status)
            self.send_header("Location", f"{target}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_LIST = _handle

    server, rec.url = _serve(Handler)
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Drip:
    url: str
    requests: int = 0
    completed: bool = False  # set before the last byte goes out
    stop: threading.Event = field(default_factory=threading.Event)


@contextmanager
def slow_drip(*, gap: float = 0.05, total_bytes: int = 400, in_headers: bool = False) -> Iterator[Drip]:
    """A server that sends its answer one byte per ``gap`` seconds:
    ``total_bytes`` of JSON body (or of header lines, ``in_headers``), so one
    answer takes ``gap * total_bytes`` seconds (20 s by default)."""
    drip = Drip("")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            _body(self)
            drip.requests += 1
            body = b'{"data": {"plaintext": "' + b"A" * (total_bytes - 27) + b'"}}'
            if in_headers:
                head = b"HTTP/1.1 200 OK\r\nX-Pad: " + b"p" * total_bytes + b"\r\n"
                tail = b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
                slow, fast = head, tail
            else:
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                self.wfile.write(head)
                self.wfile.flush()
                slow, fast = body, b""
            try:
                for i in range(len(slow)):
                    if drip.stop.is_set():
                        return
                    if i == len(slow) - 1 and not fast:
                        drip.completed = True
                    self.wfile.write(slow[i:i + 1])
                    self.wfile.flush()
                    time.sleep(gap)
                drip.completed = True
                self.wfile.write(fast)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                return

        do_GET = do_POST = do_PUT = _handle

    server, drip.url = _serve(Handler)
    try:
        yield drip
    finally:
        drip.stop.set()
        server.shutdown()
        server.server_close()
