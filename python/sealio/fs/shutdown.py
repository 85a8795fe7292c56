"""Arrow's threads out of sealio's Python before the interpreter finalizes.

Arrow holds the Python objects behind ``pyarrow.PythonFile`` (and calls the
filesystem handler) from its own I/O threads, and drops them there a little
after ``to_table()`` or ``write_dataset()`` returned. A thread that takes
the GIL once finalization has begun is killed inside a C++ destructor:
``terminate called without an active exception`` (exit 134) or
``PyGILState_Release: thread state must be current`` (pyarrow issues
#45214, #34314; plain ``PyFileSystem(FSSpecHandler)`` does the same).

So every file object the adapter hands to Arrow is :func:`track`-ed, and
calls that do work run inside :func:`call`. An ``atexit`` hook (atexit
runs after non-daemon threads are joined but before finalization) then
:func:`drain`-s: it refuses new calls (they fail fast with OSError, so an
abandoned scan ends quickly), waits for calls in flight, waits for Arrow
to release the tracked objects, and stops sealio's worker pool. Files the
program itself still holds are not waited for past a short quiet period.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import threading
import time
import weakref
from typing import Any, Callable, Iterator

from sealio.io.pool import shutdown as shutdown_pool

__all__ = ["ExitingError", "add_gauge", "call", "drain", "exiting", "track"]

QUIET_S = 0.1  # no tracked object released for this long: the rest are the program's own
SETTLE_S = 0.02  # then the GIL stays free this long, for threads finishing a release
DEADLINE_S = 10.0  # never hold the exit longer than this

_lock = threading.Lock()
_live: weakref.WeakSet[Any] = weakref.WeakSet()
_gauges: list[Callable[[], int]] = []  # other counts of objects Arrow holds (native files)
_busy = 0
_exiting = False


class ExitingError(OSError):
    """A sealed-filesystem call arrived after the interpreter began to exit."""


def exiting() -> bool:
    return _exiting


def track(obj: Any) -> Any:
    """Remember ``obj`` (handed to Arrow) until Arrow drops it; returns it."""
    with _lock:
        _live.add(obj)
    return obj


def add_gauge(count: Callable[[], int]) -> None:
    """Also wait for ``count()`` (objects Arrow holds that are not Python
    objects, e.g. native files holding a reference to sealio's hooks) to
    reach zero."""
    with _lock:
        _gauges.append(count)


@contextlib.contextmanager
def call(refuse: bool = True) -> Iterator[None]:
    """Around every handler or file call that does work: counted, so the
    exit hook waits for it, and (``refuse``) refused once the hook ran."""
    global _busy
    with _lock:
        if _exiting and refuse:
            raise ExitingError("sealio: the interpreter is exiting; the sealed filesystem takes no new calls")
        _busy += 1
    try:
        yield
    finally:
        with _lock:
            _busy -= 1


def _state() -> tuple[int, int]:
    with _lock:
        busy, live, gauges = _busy, len(_live), list(_gauges)
    return busy, live + sum(g() for g in gauges)


def drain(quiet: float = QUIET_S, deadline: float = DEADLINE_S, settle: float = SETTLE_S) -> tuple[int, int]:
    """Refuse new calls, wait for those in flight and for Arrow to release
    the tracked objects (until none is left, or none was released for
    ``quiet`` seconds with no call in flight), then stop the worker pool.
    Returns (calls in flight, objects alive) at the end."""
    global _exiting
    with _lock:
        _exiting = True
    # A thread that signalled "done" still runs a few bytecodes before it
    # gives the GIL back to Arrow's C++; a long switch interval keeps it
    # from being preempted there (and then killed re-taking the GIL once
    # finalization began); the final sleeps let it finish.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(max(interval, 1.0))
    try:
        start = last = time.monotonic()
        busy, live = _state()
        while True:
            while busy or live:
                time.sleep(0.001)
                now = time.monotonic()
                nbusy, nlive = _state()
                if nlive != live or nbusy:
                    last = now
                busy, live = nbusy, nlive
                if now - start > deadline or (not busy and now - last > quiet):
                    break
            time.sleep(settle)
            if _state() == (busy, live) or time.monotonic() - start > deadline:
                break
            busy, live = _state()
        shutdown_pool()
    finally:
        sys.setswitchinterval(interval)
    return busy, live


atexit.register(drain)
