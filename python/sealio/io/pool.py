"""The one worker pool of the package and the ``threads=`` bound.

Readers split large reads across it and fill read-ahead windows on it;
anything else that wants background work in sealio uses :func:`executor`
rather than starting a pool of its own. Its size is :func:`default_threads`
(``$SEALIO_THREADS`` or the CPU count), fixed when it is first used.

Once the interpreter exits (``concurrent.futures`` refuses new work then,
and :func:`shutdown` has stopped the pool) a submitted task runs in the
caller's thread, so a read that Arrow still makes at exit completes
instead of failing on "cannot schedule new futures".
"""

from __future__ import annotations

import functools
import os
import threading
from typing import TYPE_CHECKING, Any

from sealio.errors import ConfigurationError

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["MAX_THREADS", "default_threads", "executor", "on_pool_thread", "shutdown", "threads_arg"]

MAX_THREADS = 1024  # bound on ``threads=``: the C core takes an int, pools stay sane


def default_threads() -> int:
    """``$SEALIO_THREADS`` (clamped to 1..MAX_THREADS) or the number of CPUs."""
    env = os.environ.get("SEALIO_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ConfigurationError("SEALIO_THREADS must be an integer") from None
        return min(MAX_THREADS, max(1, n))
    return min(MAX_THREADS, _cpus())


def threads_arg(threads: Any) -> int:
    """Validate ``threads=`` before anything is allocated: None (the default)
    or an int in 1..MAX_THREADS (TypeError / ValueError otherwise)."""
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads must be an int, not {type(threads).__name__}")
    if not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads must be in 1..{MAX_THREADS}")
    return threads


@functools.lru_cache(maxsize=1)
def _cpus() -> int:
    return max(1, os.cpu_count() or 1)


def _new_pool(workers: int) -> ThreadPoolExecutor:
    """The pool; after shutdown (its own or the interpreter's) it runs
    tasks inline rather than refusing them. ``concurrent.futures`` is
    imported here, by the first user of the pool: with the ``logging`` it
    imports it was ~8 ms of every CLI start, and the CLI's whole-file
    commands start their own threads (:func:`sealio.io.chunks.run_chunks`)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    class _Pool(ThreadPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            try:
                return super().submit(fn, *args, **kwargs)
            except RuntimeError:  # "cannot schedule new futures after (interpreter) shutdown"
                done: Future[Any] = Future()
                try:
                    done.set_result(fn(*args, **kwargs))
                except BaseException as e:  # noqa: BLE001 - delivered through the future, as the pool would
                    done.set_exception(e)
                return done

    return _Pool(max_workers=workers, thread_name_prefix=PREFIX)


PREFIX = "sealio-pool"  # names of the pool's threads, and of run_chunks' own
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_stopped = False


def executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = _new_pool(max(2, default_threads()))
            if _stopped:
                _pool.shutdown(wait=False)  # inline from now on
        return _pool


def on_pool_thread() -> bool:
    """Whether the caller is one of the pool's own threads: work it
    submits there and waits for could wait behind itself, so such
    callers do that work inline."""
    return threading.current_thread().name.startswith(PREFIX)


def shutdown() -> None:
    """Stop the pool at interpreter exit: queued and running tasks finish
    (a reader may wait on them), later submissions run inline."""
    global _stopped
    with _pool_lock:
        _stopped = True
        pool = _pool
    if pool is not None:
        pool.shutdown(wait=True)
