"""BigDL known-answer vectors (tests/data/bigdl/vectors.json, made by the
independent reference): the reference still makes exactly these bytes,
and sealio reads each file to its plaintext or refuses it, through the
same opener the CLI and the filesystems use."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

import bigdl_vectors
import bigdl_xref as xref
from sealio import bigdl
from sealio.errors import IntegrityError

DATA = json.loads((Path(__file__).parent / "data" / "bigdl" / "vectors.json").read_text())
CTX = DATA["context"]
VECTORS = DATA["vectors"]


def _simple() -> bigdl.SimpleKms:
    return bigdl.SimpleKms(CTX["simple_app_id"], "api-key", CTX["simple_primary_key"])


def _opener(v: dict[str, Any]) -> bigdl.Opener:
    if v["format"] == "native":
        return bigdl.Opener("native", primary_key_b64=CTX["primary_key_plaintext"])
    if v["keys"] == "simple-data-key":
        edk = xref.simple_wrap(CTX["simple_primary_key"], "2718281828459045")
        return bigdl.Opener(v["format"], data_key=_simple().decrypt_data_key(edk))
    keys = _simple() if v["keys"] == "simple" else bigdl.PlaintextPrimaryKey(CTX["primary_key_plaintext"])
    return bigdl.Opener(v["format"], keys=keys)


def test_the_reference_still_makes_the_stored_vectors() -> None:
    assert bigdl_vectors.build() == VECTORS
    assert bigdl_vectors.CONTEXT == CTX


@pytest.mark.parametrize("v", [v for v in VECTORS if v["format"] != "key"], ids=lambda v: v["name"])
def test_sealio_reads_or_refuses_each_vector(v: dict[str, Any]) -> None:
    blob = bytes.fromhex(v["file"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if v["expect"] == "integrity":
            with pytest.raises(IntegrityError):
                _opener(v).open_raw(io.BytesIO(blob)).read()
            return
        with _opener(v).open_raw(io.BytesIO(blob)) as r:
            assert r.read() == bytes.fromhex(v["plaintext"])
            assert r.mac_variant == v.get("mac", None if v["format"] == "native" else "ciphertext")


@pytest.mark.parametrize("v", [v for v in VECTORS if v["format"] == "key"], ids=lambda v: v["name"])
def test_key_wrapping_vectors(v: dict[str, Any]) -> None:
    if v["keys"] == "simple":
        assert _simple().wrap(v["digits"]) == v["encrypted_data_key"]
        assert _simple().decrypt_data_key(v["encrypted_data_key"]).text == v["data_key"]
    else:
        keys = bigdl.PlaintextPrimaryKey(CTX["primary_key_plaintext"])
        assert keys.decrypt_data_key(v["encrypted_data_key"]).text == v["data_key"]
