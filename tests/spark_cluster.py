"""A Spark standalone cluster on 127.0.0.1 for tests: one master and N
workers, each its own JVM started with pyspark's ``bin/spark-class``, in
its own process group, stopped by that id (the workers' executors with
them), with every directory under a temporary root.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@dataclass
class Cluster:
    root: Path
    master_url: str = ""
    ui_port: int = 0
    procs: list[subprocess.Popen] = field(default_factory=list)

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = open(self.root / f"{name}.log", "wb")
        self.procs.append(subprocess.Popen([str(spark_home() / "bin" / "spark-class"), *argv], env=env,
                                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        log.close()

    def state(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)  # the group this object started
                except ProcessLookupError:
                    pass
        for p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(f"--- {f.name}\n{f.read_text(errors='replace')[-3000:]}" for f in self.root.glob("*.log"))


def start(root: Path, workers: int = 2, cores: int = 1, memory: str = "1g", timeout: float = 90.0) -> Cluster:
    """Master and ``workers`` workers; returns once all workers are registered."""
    root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SPARK_HOME=str(spark_home()), SPARK_LOCAL_IP="127.0.0.1",
               SPARK_LOG_DIR=str(root / "logs"), SPARK_PID_DIR=str(root), SPARK_WORKER_DIR=str(root / "work"),
               SPARK_LOCAL_DIRS=str(root / "local"), SPARK_NO_DAEMONIZE="1",
               SPARK_DAEMON_MEMORY="256m")
    c = Cluster(root)
    port, c.ui_port = free_port(), free_port()
    c.master_url = f"spark://127.0.0.1:{port}"
    c._start("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                        "--webui-port", str(c.ui_port)], env)
    try:
        for i in range(workers):
            c._start(f"worker{i}", ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                                    "--webui-port", str(free_port()), "--port", str(free_port()),
                                    "--cores", str(cores), "--memory", memory,
                                    "--work-dir", str(root / f"work{i}"), c.master_url], env)
        deadline = time.monotonic() + timeout
        while True:
            try:
                alive = c.state().get("aliveworkers", 0)
            except OSError:
                alive = 0
            if alive >= workers:
                return c
            if time.monotonic() > deadline or any(p.poll() is not None for p in c.procs):
                raise RuntimeError(f"cluster did not start ({alive}/{workers} workers)\n{c.logs()}")
            time.sleep(0.5)
    except BaseException:
        c.stop()
        raise
