"""Numbered chunks of one job on several threads, failing as one serial
pass would.

Large reads, whole-file decrypts and whole-file encrypts split their work
into chunks that each thread takes in order (pread, transform, pwrite:
positional I/O needs no queue between threads, and each chunk stays in
cache from its read to its write). The first failure stops the others
from taking new chunks, and the failure with the lowest chunk index is
raised, so the error a user sees does not depend on thread timing.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from sealio.io.pool import PREFIX, executor, on_pool_thread

__all__ = ["ThreadBuffers", "run_chunks", "serialised"]


def run_chunks(count: int, work: Callable[[int], None], threads: int, *, own_threads: bool = False) -> None:
    """Call ``work(i)`` for every i in ``range(count)`` on up to ``threads``
    threads, the calling one included; raise the lowest-index failure.

    The helpers come from the package's pool, or with ``own_threads`` are
    started for this call (a whole-file command: one call per process,
    and no ``concurrent.futures`` to import); a helper that cannot start
    (the interpreter is exiting) leaves its share to the others. On a
    pool thread everything runs here: a helper queued behind the caller
    could wait for it."""
    helpers = 0 if on_pool_thread() else max(0, min(threads, count) - 1)
    if helpers == 0:
        for i in range(count):
            work(i)
        return
    counter = itertools.count()
    lock = threading.Lock()
    errors: list[tuple[int, BaseException]] = []

    def take() -> None:
        while not errors:
            with lock:
                i = next(counter)
            if i >= count:
                return
            try:
                work(i)
            except BaseException as e:  # noqa: BLE001 - re-raised by the caller below
                errors.append((i, e))
                return

    joins: list[Callable[[], object]] = []
    if own_threads:
        for _ in range(helpers):
            t = threading.Thread(target=take, name=f"{PREFIX}-chunks", daemon=True)
            try:
                t.start()
            except RuntimeError:  # "can't create new thread at interpreter shutdown"
                break
            joins.append(t.join)
    else:
        pool = executor()
        for f in [pool.submit(take) for _ in range(helpers)]:
            # a helper never started is cancelled; a running one is waited for
            joins.append(lambda f=f: f.cancel() or f.exception())
    try:
        take()
    finally:
        for join in joins:
            join()
    if errors:
        first = min(errors, key=lambda ie: ie[0])[1]
        errors.clear()  # no cycle exception -> traceback -> frame -> errors -> exception
        raise first


def serialised(fn: Callable[..., None]) -> Callable[..., None]:
    """``fn`` one call at a time, for a job's progress callback and its
    ``pwrite``. The kernel serialises buffered writes to one file anyway
    (ext4 holds the inode lock for the copy into the page cache); a second
    writer spins on that lock, burning the CPU the other threads decrypt
    on. Measured here (perf, 500 MB decrypt): when the page cache copy is
    slow (memory the VM must fault in from the host) 20-25% of all CPU
    samples were ``rwsem_spin_on_owner``; waiting on this lock sleeps."""
    lock = threading.Lock()

    def call(*args: object) -> None:
        with lock:
            fn(*args)

    return call


class ThreadBuffers:
    """One reusable buffer of ``size`` bytes per thread of a job; all are
    zeroed when the ``with`` block ends (they held plaintext)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._bufs: dict[int, bytearray] = {}

    def get(self) -> memoryview:
        key = threading.get_ident()
        buf = self._bufs.get(key)
        if buf is None:
            buf = self._bufs.setdefault(key, bytearray(self._size))
        return memoryview(buf)

    def __enter__(self) -> ThreadBuffers:
        return self

    def __exit__(self, *exc: object) -> None:
        for buf in self._bufs.values():
            buf[:] = bytes(len(buf))
