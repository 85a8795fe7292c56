"""Fuzz target: the keyring loader, ``sealio.LocalKeyring(path)`` on an
arbitrary file (mode 0600), with the passphrase the protected seeds use.

Half the inputs are seed keyrings rebuilt node by node with hostile
values (``_harness.json_variant``): byte mutations alone rarely keep JSON
valid. A keyring file is input: its JSON, its key entries and its KDF parameters
(scrypt cost) come from whoever could write the file. Properties: loading
raises only ``SealioError`` subclasses, within the per-input time and the
memory bound (an unbounded scrypt cost is a hang or an allocation above
``-rss_limit_mb``); a keyring that loads answers ``names``/``versions``/
``default`` and round-trips a wrapped key under each of its names, with
the same errors only.
"""

from __future__ import annotations

import json

import atheris

with atheris.instrument_imports(include=["sealio"]):
    import sealio
    from sealio.errors import SealioError

import _harness
import make_corpus

PATH = _harness.scratch_dir() / "keys.json"
DEK = bytes(range(32))
TEMPLATES = [json.loads(p.read_bytes()) for p in sorted((make_corpus.CORPUS / "keyring").iterdir())
             if p.read_bytes().lstrip().startswith(b"{")]


def one_input(data: bytes) -> None:
    """Odd first byte: a seed keyring rebuilt with hostile nodes (the rest
    of the input drives the choice); otherwise the bytes are the file."""
    if data[:1] and data[0] & 1:
        fdp = atheris.FuzzedDataProvider(data[1:])
        data = _harness.json_variant(TEMPLATES[fdp.ConsumeIntInRange(0, len(TEMPLATES) - 1)], fdp).encode()
    _harness.write_private(PATH, data)
    with _harness.allowed(SealioError):
        ring = sealio.LocalKeyring(PATH, passphrase=make_corpus.KEYRING_PASSPHRASE)
        ring.default  # noqa: B018 - the property is part of what a loaded keyring answers
        for name in ring.names():
            ring.versions(name)
            wrapped = ring.wrap_key(DEK, name)
            if ring.unwrap_key(wrapped, name) != DEK:
                raise AssertionError("a wrapped key did not unwrap to itself")


if __name__ == "__main__":
    _harness.main(one_input)
