"""EHSM client and key source against a local server speaking EHSM's protocol."""

from __future__ import annotations

import json
import os

import pytest

import bigdl_ref as ref
from sealio.bigdl import open_common, write_directory
from sealio.bigdl.ehsm import EhsmClient, EhsmKeySource, enroll, sign_request
from sealio.cli import main
from sealio.errors import KmsAuthError, KmsError, KmsUnavailableError, WeakKeyWarning
from servers.ehsm import EhsmServer


@pytest.fixture(scope="module")
def ehsm():
    server = EhsmServer()
    yield server
    server.stop()


@pytest.fixture
def client(ehsm):
    app_id, api_key = enroll(ehsm.url)
    return EhsmClient(ehsm.url, app_id, api_key)


def test_signature_known_answer():
    # HMAC-SHA256("key", "appid=a&payload=aad=test&keyid=k&keylen=32&timestamp=1"), base64
    import base64
    import hashlib
    import hmac

    text = b"appid=a&payload=aad=test&keyid=k&keylen=32&timestamp=1"
    want = base64.b64encode(hmac.new(b"key", text, hashlib.sha256).digest()).decode()
    assert sign_request("key", "a", {"keylen": 32, "keyid": "k", "aad": "test"}, 1) == want


def test_key_source_round_trip(tmp_path, client, ehsm):
    keyid = client.create_key()
    keys = EhsmKeySource(client, keyid)
    with pytest.warns(WeakKeyWarning, match="96 bits"):
        paths = write_directory(tmp_path, [b"secret,rows\n" * 100], keys)
    edk = ref.common_header(paths[0].read_bytes())[0]
    dk = client.decrypt(keyid, edk)
    assert len(dk) == 44  # base64 of 32 bytes, used as text
    assert ref.common_decrypt(dk, paths[0].read_bytes()) == b"secret,rows\n" * 100
    with pytest.warns(WeakKeyWarning), open_common(paths[0], EhsmKeySource(client, keyid)) as r:
        assert r.read() == b"secret,rows\n" * 100
    assert {"Enroll", "CreateKey", "GenerateDataKeyWithoutPlaintext", "Decrypt"} <= set(ehsm.state.calls)
    assert client._api_key not in repr(client)


def test_bad_api_key_is_an_auth_error(ehsm, client):
    keyid = client.create_key()
    bad = EhsmClient(ehsm.url, client._app_id, "wrong-key")
    with pytest.raises(KmsAuthError):
        bad.generate_data_key_without_plaintext(keyid)


def test_unknown_key_and_unreachable(ehsm, client):
    with pytest.raises(KmsError):
        client.decrypt("nope", "AAAA")
    with pytest.raises(KmsUnavailableError):
        EhsmClient("http://127.0.0.1:9", "a", "b", timeout=2).create_key()


@pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")
def test_cli_with_ehsm_from_environment(tmp_path, ehsm, client, monkeypatch):
    keyid = client.create_key()
    (tmp_path / "primaryKey").write_text(keyid + "\n")
    monkeypatch.setenv("SEALIO_BIGDL_EHSM_URL", ehsm.url)
    monkeypatch.setenv("SEALIO_BIGDL_EHSM_APP_ID", client._app_id)
    monkeypatch.setenv("SEALIO_BIGDL_EHSM_API_KEY", client._api_key)
    (tmp_path / "in.csv").write_bytes(os.urandom(5000))
    pk = ["--primary-key-path", str(tmp_path / "primaryKey")]
    assert main(["bigdl", "encrypt", "-q", *pk, str(tmp_path / "in.csv"), str(tmp_path / "enc")]) == 0
    edk = json.loads((tmp_path / "enc/.meta").read_text())["encryptedDataKey"]
    assert len(edk) <= 376
    assert main(["bigdl", "decrypt", "-q", *pk, str(tmp_path / "enc"), str(tmp_path / "out")]) == 0
    assert (tmp_path / "out/in.csv").read_bytes() == (tmp_path / "in.csv").read_bytes()
