"""Fuzz target: the KMS configuration-string parser, ``sealio.kms.from_uri``
(and ``KmsRef``), on arbitrary text.

Input bytes are decoded as UTF-8 with ``surrogateescape``, as Python
decodes argv and the environment, where these strings come from. Building
a client contacts nothing (Vault's and AWS's clients connect on first
use), so no network is involved; a fake Vault token is set so that the
Vault path gets past its credential check.

Properties: ``from_uri`` and ``KmsRef`` raise only ``SealioError``
subclasses; no message and no repr carries the Vault token from the
environment, nor echoes a URI that has a password in its userinfo.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import atheris

with atheris.instrument_imports(include=["sealio"]):
    from sealio.errors import SealioError
    from sealio.kms import KmsRef, from_uri

import _harness

TOKEN = "hvs.FUZZ-ONLY-TOKEN-7f3a9c"
os.environ["VAULT_TOKEN"] = TOKEN
for _name in ("SEALIO_PASSPHRASE", "SEALIO_PASSPHRASE_FILE", "AWS_PROFILE"):
    os.environ.pop(_name, None)
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def _check_secret_free(text: str, uri: str) -> None:
    if TOKEN in text:
        raise AssertionError("a message or repr carries the Vault token")
    try:
        password = urlsplit("x://" + uri.partition("://")[2]).password
    except ValueError:
        password = None
    if password and len(uri) > 3 and uri in text:
        raise AssertionError("a message echoes a URI with a password in its userinfo")


def one_input(data: bytes) -> None:
    uri = data.decode("utf-8", "surrogateescape")
    try:
        client = from_uri(uri)
    except SealioError as e:
        _check_secret_free(str(e), uri)
    else:
        _check_secret_free(repr(client), uri)
    try:
        ref = KmsRef(uri)
    except SealioError as e:
        _check_secret_free(str(e), uri)
    else:
        _check_secret_free(repr(ref), uri)


if __name__ == "__main__":
    _harness.main(one_input)
