"""A real moto server (``pip install 'moto[server]'``) for AWS KMS, one per test
session: ``moto`` fixture -> :class:`Moto`."""

from __future__ import annotations

import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from servers._kms_process import ServerProcess, find_tool, free_port

REGION = "us-east-1"


@dataclass
class Moto:
    url: str
    server: ServerProcess

    def kms(self):  # -> a boto3 KMS client for admin steps (create, alias, disable)
        import boto3

        return boto3.client("kms", region_name=REGION, endpoint_url=self.url,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def new_key(self, alias: str) -> str:
        """Create a symmetric key under ``alias/NAME``; returns its key id."""
        c = self.kms()
        key_id = c.create_key()["KeyMetadata"]["KeyId"]
        c.create_alias(AliasName=alias, TargetKeyId=key_id)
        return key_id


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=0.5) as r:
            return r.status == 200
    except OSError:
        return False


def start_moto(workdir: Path | None = None, env: dict[str, str] | None = None) -> Moto:
    """``env``: extra environment, e.g. ``INITIAL_NO_AUTH_ACTION_COUNT=0`` to
    make moto check credentials (off by default). Without ``workdir`` the
    server gets a temporary one, removed when it stops."""
    exe = find_tool("moto_server")
    if exe is None:
        pytest.fail("moto_server is missing: pip install 'moto[server]' (it is in the test extra)")
    own = Path(tempfile.mkdtemp(prefix="sealio-moto-")) if workdir is None else None
    workdir = own or workdir
    assert workdir is not None
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = ServerProcess([exe, "-H", "127.0.0.1", "-p", str(port)], env={**os.environ, **(env or {})},
                           log=workdir / "moto.log", ready=lambda: _ready(url), stop_timeout=5.0, workdir=own)
    return Moto(url, server)


_shared: Moto | None = None


@pytest.fixture(scope="session")
def moto() -> Moto:
    """One moto server per test process (several test modules import this fixture)."""
    global _shared
    if _shared is None or _shared.server.proc.poll() is not None:
        _shared = start_moto()
    return _shared
