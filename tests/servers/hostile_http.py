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


@contextmanager
def _serving(respond: Any, on_stop: Any = None) -> Iterator[str]:
    """Serve ``respond(handler)`` for every method on 127.0.0.1 (a free
    port); yield the URL; shut the server down however the block ends."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            respond(self)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_LIST = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        if on_stop is not None:
            on_stop()
        server.shutdown()
        server.server_close()


def _body(h: BaseHTTPRequestHandler) -> bytes:
    length = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(length) if length else b""


@contextmanager
def recorder() -> Iterator[Recorded]:
    rec = Recorded("")

    def respond(h: BaseHTTPRequestHandler) -> None:
        rec.requests.append((h.command, h.path, dict(h.headers.items()), _body(h)))
        payload = b"{}"
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    with _serving(respond) as rec.url:
        yield rec


@contextmanager
def redirector(target: str, status: int = 307) -> Iterator[Recorded]:
    """Every request -> ``status`` with ``Location: target + path``."""
    rec = Recorded("")

    def respond(h: BaseHTTPRequestHandler) -> None:
        rec.requests.append((h.command, h.path, dict(h.headers.items()), _body(h)))
        h.send_response(status)
        h.send_header("Location", f"{target}{h.path}")
        h.send_header("Content-Length", "0")
        h.end_headers()

    with _serving(respond) as rec.url:
        yield rec


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

    def respond(h: BaseHTTPRequestHandler) -> None:
        _body(h)
        drip.requests += 1
        body = b'{"data": {"plaintext": "' + b"A" * (total_bytes - 27) + b'"}}'
        if in_headers:
            head = b"HTTP/1.1 200 OK\r\nX-Pad: " + b"p" * total_bytes + b"\r\n"
            tail = b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
            slow, fast = head, tail
        else:
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
            h.wfile.write(head)
            h.wfile.flush()
            slow, fast = body, b""
        try:
            for i in range(len(slow)):
                if drip.stop.is_set():
                    return
                if i == len(slow) - 1 and not fast:
                    drip.completed = True
                h.wfile.write(slow[i:i + 1])
                h.wfile.flush()
                time.sleep(gap)
            drip.completed = True
            h.wfile.write(fast)
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            return

    with _serving(respond, on_stop=drip.stop.set) as drip.url:
        yield drip
