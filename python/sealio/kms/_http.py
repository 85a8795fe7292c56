"""A hardened ``requests`` session for KMS clients that speak HTTP (Vault).

Two guarantees the plain session lacks (issue 12):

* **No redirect leaves the configured origin.** ``requests`` follows
  redirects and strips only ``Authorization`` when the host changes; a Vault
  token travels in ``X-Vault-Token`` and a 307/308 re-sends the body (a KEK
  to wrap). A redirect to another scheme, host or port is refused before
  anything is sent there (:class:`RedirectRefused`); one within the origin
  (e.g. a path fix-up) is followed, at most :data:`MAX_REDIRECTS` times.
* **A total deadline per attempt.** Socket timeouts bound each ``recv``, so
  a server that drips one byte per second holds a call for ever. Inside
  :func:`deadline`, a watchdog shuts down the sockets of the calling
  thread's requests once the deadline passes, and the call fails with
  :class:`DeadlineExceeded`; so one attempt lasts at most its deadline (plus
  the watchdog's 50 ms polling), whatever the server does.

The watchdog knows the sockets because the session's connection classes
register themselves with the calling thread's deadline when they connect
and when they send a request (pooled connections are reused without
connecting again).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool

__all__ = ["DeadlineExceeded", "RedirectRefused", "deadline", "guarded_session", "origin"]

MAX_REDIRECTS = 3
_POLL = 0.05


class RedirectRefused(requests.exceptions.RequestException):
    """The server redirected to another origin; nothing was sent there."""

    def __init__(self, status: int, target_origin: str) -> None:
        super().__init__(f"redirect ({status}) to {target_origin} refused")
        self.status, self.target_origin = status, target_origin


class DeadlineExceeded(Exception):
    """An attempt ran past its total deadline and its sockets were shut down."""


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url``, with the default port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or {"http": 80, "https": 443}.get(scheme, 0)
    host = (parts.hostname or "").lower()
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


# --- the deadline watchdog


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self.cut = False  # a socket was shut down: whatever was read may be partial
        self._conns: list[Any] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sealio-kms-deadline", daemon=True)

    def watch(self, conn: Any) -> None:
        with self._lock:
            if all(c is not conn for c in self._conns):
                self._conns.append(conn)
        if self.expired:
            self._cut(conn)

    def _cut(self, conn: Any) -> None:
        if _shut(conn):
            self.cut = True

    def _run(self) -> None:
        if self._done.wait(self.seconds):
            return
        self.expired = True
        while not self._done.is_set():  # until the caller has seen the failure
            with self._lock:
                conns = list(self._conns)
            for conn in conns:
                self._cut(conn)
            self._done.wait(_POLL)

    def __enter__(self) -> _Deadline:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def _shut(conn: Any) -> bool:
    sock = getattr(conn, "sock", None)
    if sock is None:
        return False
    try:  # the plain socket's shutdown (SSLSocket's would drop its state under the reader)
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass
    return True


_current = threading.local()


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Run the body with a total deadline for this thread's HTTP requests made
    through a :func:`guarded_session`; raises :class:`DeadlineExceeded` if
    the watchdog had to cut them off (whatever exception that caused, and
    also on an apparent success: a body cut short may still parse)."""
    outer = getattr(_current, "deadline", None)
    with _Deadline(seconds) as d:
        _current.deadline = d
        try:
            yield
        except Exception as e:
            if d.expired:
                raise DeadlineExceeded(f"no complete answer within {seconds:g}s") from e
            raise
        finally:
            _current.deadline = outer
        if d.cut:
            raise DeadlineExceeded(f"no complete answer within {seconds:g}s")


def _register(conn: Any) -> None:
    d = getattr(_current, "deadline", None)
    if d is not None:
        d.watch(conn)


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        _register(self)
        super().connect()
        _register(self)

    def request(self, *args: Any, **kwargs: Any) -> None:  # every request, on new or pooled connections
        _register(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        _register(self)
        super().connect()
        _register(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _register(self)
        super().request(*args, **kwargs)


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _WatchedAdapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if hasattr(manager, "pool_classes_by_scheme"):
            manager.pool_classes_by_scheme = _POOLS
        return manager


# --- redirects


class _GuardedSession(requests.Session):
    def __init__(self, allowed_origin: str) -> None:
        super().__init__()
        self._origin = allowed_origin
        self.max_redirects = MAX_REDIRECTS

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is not None:
            absolute = urljoin(resp.url, target if isinstance(target, str) else target.decode("latin-1"))
            if origin(absolute) != self._origin:
                resp.close()
                raise RedirectRefused(resp.status_code, origin(absolute))
        return target


def guarded_session(url: str, *, verify: bool | str = True) -> requests.Session:
    """A session for the server at ``url`` that follows redirects only within
    its origin and whose requests obey :func:`deadline`."""
    session = _GuardedSession(origin(url))
    session.verify = verify
    adapter = _WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
