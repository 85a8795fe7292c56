"""A keyring file is input: its KDF cost, size, depth and shape are bounded,
and every malformed file is one KmsError that names the file, never a key
(issue 12, items 5 and 6)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

import sealio
from sealio import keys as K
from sealio.errors import KmsError, SealioError
from sealio.keys import DEFAULT_SCRYPT_N, LocalKeyring

# The documented caps (sealio.keys.MAX_SCRYPT_*): spelled out so that this
# file also runs, and fails, against code that has none.
MAX_N, MAX_R, MAX_P, MAX_MEMORY, MAX_BYTES = 1 << 20, 32, 16, 1 << 30, 4 << 20

KEY = os.urandom(32)
KEY_B64 = base64.b64encode(KEY).decode()


def _plain(keys: Any, **top: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"format": "sealio-keyring", "version": 1, "default": "main", "keys": keys}
    doc.update(top)
    return doc


def _good_keys() -> dict[str, Any]:
    return {"main": {"versions": [{"version": 1, "created": "", "key": KEY_B64}]}}


def _write(tmp_path: Path, doc: Any, name: str = "kr.json") -> Path:
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    p.chmod(0o600)
    return p


def _sealed_doc(tmp_path: Path, **kdf: Any) -> Path:
    """A real passphrase keyring (cheap KDF) whose kdf block is then replaced."""
    p = tmp_path / "pw.json"
    LocalKeyring.create(p, "pw", scrypt_n=1 << 10).generate("main")
    doc = json.loads(p.read_text())
    doc["kdf"].update(kdf)
    p.write_text(json.dumps(doc))
    return p


def _refused(path: Path, passphrase: str | None = None, match: str = "malformed") -> KmsError:
    with pytest.raises(KmsError, match=match) as info:
        LocalKeyring(path, passphrase)
    text = str(info.value) + repr(info.value)
    assert KEY_B64 not in text and KEY.hex() not in text
    assert info.value.__cause__ is None
    return info.value


def test_the_caps_are_documented_and_allow_the_default() -> None:
    assert (K.MAX_SCRYPT_N, K.MAX_SCRYPT_R, K.MAX_SCRYPT_P) == (MAX_N, MAX_R, MAX_P)
    assert (K.MAX_SCRYPT_MEMORY, K.MAX_KEYRING_BYTES) == (MAX_MEMORY, MAX_BYTES)
    assert DEFAULT_SCRYPT_N <= MAX_N and 128 * DEFAULT_SCRYPT_N * 8 <= MAX_MEMORY


@pytest.mark.parametrize("kdf", [
    {"n": 1 << 30},                       # 1 TiB with r=8: MemoryError before the cap
    {"n": 1 << 24, "r": 1 << 10},          # the 171 GB class of issue 12
    {"r": 1 << 20},
    {"p": 1 << 27},
    {"n": MAX_N * 2, "r": 1},              # 256 MiB, but above the cap on n
    {"n": MAX_N, "r": 16},                 # 2 GiB: above the memory cap
    {"r": MAX_R + 1},
    {"p": MAX_P + 1},
    {"n": 1000},                           # not a power of two
    {"n": 1},
    {"n": -1024},
    {"n": 1e400},                          # inf: OverflowError in int()
    {"n": "1024"},
    {"n": True},
    {"r": 0},
    {"salt": 5},
    {"salt": "AAAA"},                      # 3 bytes
    {"name": "argon2id"},
])
def test_kdf_parameters_are_bounded_before_deriving(tmp_path: Path, kdf: dict[str, Any]) -> None:
    p = _sealed_doc(tmp_path, **kdf)
    _refused(p, "pw", match="scrypt|kdf|KDF")


def test_create_refuses_a_cost_above_the_cap(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scrypt_n"):
        LocalKeyring.create(tmp_path / "x.json", "pw", scrypt_n=MAX_N * 2)
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("doc", [
    _plain([]),                                                               # AttributeError before
    _plain({"main": []}),
    _plain({"main": {"versions": {}}}),
    _plain({"main": {"versions": [5]}}),
    _plain({"main": {"versions": [{"version": 1, "key": 5}]}}),              # AttributeError before
    _plain({"main": {"versions": [{"version": 1e400, "key": KEY_B64}]}}),    # OverflowError before
    _plain({"main": {"versions": [{"version": 1.5, "key": KEY_B64}]}}),
    _plain({"main": {"versions": [{"version": 0, "key": KEY_B64}]}}),
    _plain({"main": {"versions": [{"version": 10 ** 30, "key": KEY_B64}]}}),
    _plain({"main": {"versions": [{"version": True, "key": KEY_B64}]}}),
    _plain({"main": {"versions": [{"version": 1, "key": KEY_B64}, {"version": 1, "key": KEY_B64}]}}),
    _plain({"main": {"versions": [{"version": 1, "key": KEY_B64[:-4]}]}}),
    _plain({"main": {"versions": [{"version": 1, "key": KEY_B64, "created": 5}]}}),
    _plain({"main": {"versions": []}}),
    _plain({"": {"versions": [{"version": 1, "key": KEY_B64}]}}),
    _plain(_good_keys(), default=5),
    _plain(_good_keys(), default="absent"),
])
def test_malformed_keyrings_are_one_kms_error(tmp_path: Path, doc: dict[str, Any]) -> None:
    _refused(_write(tmp_path, doc))


@pytest.mark.parametrize("version", ["1e400", "Infinity", "NaN", "2", '"1"', "null", "true"])
def test_unsupported_versions(tmp_path: Path, version: str) -> None:
    text = json.dumps(_plain(_good_keys())).replace('"version": 1,', f'"version": {version},', 1)
    _refused(_write(tmp_path, text), match="version")


def test_deeply_nested_json_is_refused(tmp_path: Path) -> None:
    depth = 100_000  # RecursionError inside json before
    _refused(_write(tmp_path, '{"format": "sealio-keyring", "keys": ' + "[" * depth + "]" * depth + "}"),
             match="malformed|nested|cannot read")


def test_oversized_keyring_is_refused_before_parsing(tmp_path: Path) -> None:
    p = tmp_path / "big.json"
    p.write_text(json.dumps(_plain(_good_keys())) + " " * MAX_BYTES)
    p.chmod(0o600)
    _refused(p, match="larger than")


def test_a_directory_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "ring").mkdir()
    _refused(tmp_path / "ring", match="is a directory")


def test_well_formed_keyring_still_loads(tmp_path: Path) -> None:
    ring = LocalKeyring(_write(tmp_path, _plain(_good_keys())))
    assert ring.unwrap_key(ring.wrap_key(b"k" * 32, "main"), "main") == b"k" * 32


@pytest.mark.parametrize("path", ["/" + "a" * 300 + "/kr.json", "/" + "d/" * 3000 + "kr.json"])
def test_impossible_paths_are_sealio_errors(path: str) -> None:
    with pytest.raises(SealioError) as info:
        LocalKeyring(path)
    assert len(str(info.value)) < 600  # the path is shortened in the message
