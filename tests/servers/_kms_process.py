"""One server process for the whole test session: free port on 127.0.0.1,
readiness polled against a deadline, stopped by PID (SIGTERM, then SIGKILL
after a timeout) at session end or interpreter exit, and killed with the
test process if that dies first (Linux parent-death signal)."""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_tool(name: str) -> str | None:
    """``name`` beside the running interpreter (a venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class ServerProcess:
    """A started server; ``stop()`` is idempotent and removes ``workdir``
    (the server's own temporary directory: its log, data, a dev token)."""

    def __init__(self, argv: list[str], *, env: dict[str, str] | None, log: Path,
                 ready: Callable[[], bool], deadline: float = 20.0, stop_timeout: float = 10.0,
                 workdir: Path | None = None) -> None:
        self.argv, self.log_path, self.stop_timeout, self.workdir = argv, log, stop_timeout, workdir
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        atexit.register(self.stop)
        end = time.monotonic() + deadline
        while True:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"{argv[0]} exited with {self.proc.returncode} before it was ready:\n{tail}")
            if ready():
                return
            if time.monotonic() > end:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"{argv[0]} was not ready within {deadline:g}s:\n{tail}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if not self._log.closed:
            self._log.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
