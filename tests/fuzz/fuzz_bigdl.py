"""Fuzz target: BigDL PPML's parsers (``sealio.bigdl``) on arbitrary bytes.

Input: ``selector (1) ‖ bytes``; the selector picks the entry point:

0. ``.meta`` (``dataset.parse_meta``, as ``read_meta`` reads it)
1. the common-format header (``common.parse_header``) and format detection
2. an ``auto`` opener over a common-format file (header, data key through a
   real plaintext primary key, HMAC, CBC), read to the end
3. a ``common`` opener with a ``.meta`` default key
4. a ``native`` opener (IV ‖ CBC, no MAC)
5. 6. ``legacy-2.1`` / ``legacy-2.2`` openers (legacy header, MAC variants)
7. a BigDL key file (``config.load_key_file``)
8. ``sealio bigdl inspect``'s header reader (``cli_bigdl._inspect_one``)
9. 10. a ``.meta`` / key file rebuilt from a seed document with hostile
   nodes (``_harness.json_variant``: byte mutations rarely keep JSON valid)

Properties: each raises only ``SealioError`` subclasses; a reader that
opens returns at most its size and stays seekable.
"""

from __future__ import annotations

import io

import atheris

with atheris.instrument_imports(include=["sealio"]):
    from sealio.cli import bigdl as cli_bigdl
    from sealio.bigdl import common, config, dataset
    from sealio.bigdl.keys import DataKeyText, PlaintextPrimaryKey
    from sealio.errors import SealioError

import _harness
import make_corpus

PK = make_corpus.BIGDL_PRIMARY_KEY
KEYS = PlaintextPrimaryKey(PK)
DATA_KEY = DataKeyText(make_corpus.BIGDL_DATA_KEY_TEXT).decrypt_data_key("")
META_KEY = KEYS.new_data_key()[0]
OPENERS = {
    2: dataset.Opener("auto", keys=KEYS),
    3: dataset.Opener("common", keys=KEYS, meta_key=META_KEY),
    4: dataset.Opener("native", primary_key_b64=PK),
    5: dataset.Opener("legacy-2.1", data_key=DATA_KEY),
    6: dataset.Opener("legacy-2.2", data_key=DATA_KEY),
}
FILE = _harness.scratch_dir() / "part-00000"
META_TEMPLATE = {"encryptedDataKey": META_KEY}
KEY_FILE_TEMPLATE = {"primary_key_plaintext": PK, "data_key_path": "/nonexistent/dataKey"}


def _read(opener: dataset.Opener, body: bytes) -> None:
    with opener.open_raw(io.BytesIO(body), name="part-00000") as r:
        size = r.size
        data = r.read()
        if len(data) > size:
            raise AssertionError("a BigDL reader returned more than its size")
        if size:
            r.seek(size // 2)
            r.read(64)


def one_input(data: bytes) -> None:
    if not data:
        return
    selector, body = data[0] % 11, data[1:]
    if selector >= 9:
        fdp = atheris.FuzzedDataProvider(body)
        template = META_TEMPLATE if selector == 9 else KEY_FILE_TEMPLATE
        body = _harness.json_variant(template, fdp).encode()
        selector = 0 if selector == 9 else 7
    with _harness.allowed(SealioError):
        if selector == 0:
            dataset.parse_meta(body)
        elif selector == 1:
            common.parse_header(body)
            dataset._detect(io.BytesIO(body), "part-00000")
        elif selector in OPENERS:
            _read(OPENERS[selector], body)
        elif selector == 7:
            _harness.write_private(FILE, body)
            config.load_key_file(FILE)
        else:
            _harness.write_private(FILE, body)
            cli_bigdl._inspect_one(FILE, len(body))


if __name__ == "__main__":
    _harness.main(one_input)
