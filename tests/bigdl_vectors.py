"""Known-answer vectors for BigDL's formats, made by the independent
reference (tests/bigdl_xref.py) from fixed keys, IVs and plaintexts, and
stored in tests/data/bigdl/vectors.json. The tests check that the
reference still produces exactly the stored bytes and that sealio reads
each one to its plaintext, or refuses it.

Regenerate (only when the reference is deliberately changed):
``python tests/bigdl_vectors.py > tests/data/bigdl/vectors.json``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import bigdl_xref as xref

PRIMARY = base64.b64encode(bytes(range(0x41, 0x51))).decode()  # plaintext primary key (AES-128)
SIMPLE_APP_ID, SIMPLE_PK = "sealiovector", "sealiovector0314"
IV = bytes(range(0xA0, 0xB0))
EPOCH = 1_650_000_000
PLAINTEXTS = {
    "one-byte": b"x",
    "one-block": b"name,age,job\nab\n",  # 16 bytes: a whole padding block follows
    "people": b"name,age,job\nann,30,Developer\nbob,41,Engineer\ncyd,25,Researcher\n",
}


def _flip(blob: bytes, at: int) -> bytes:
    b = bytearray(blob)
    b[at] ^= 0x01
    return bytes(b)


def build() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    dk_plain = base64.b64encode(bytes(range(16))).decode()  # the plaintext-primary-key source's 24-char key
    edk_plain = xref.plaintext_wrap(PRIMARY, dk_plain)
    edk_simple = xref.simple_wrap(SIMPLE_PK, "2718281828459045")
    dk_simple = xref.simple_unwrap(SIMPLE_PK, edk_simple)
    for name, plain in PLAINTEXTS.items():
        common = xref.common_encrypt(dk_plain, edk_plain, IV, plain)
        out.append({"name": f"common-plaintext-key-{name}", "format": "common", "keys": "plaintext",
                    "file": common.hex(), "plaintext": plain.hex(), "expect": "ok"})
        out.append({"name": f"common-simplekms-{name}", "format": "common", "keys": "simple",
                    "file": xref.common_encrypt(dk_simple, edk_simple, IV, plain).hex(),
                    "plaintext": plain.hex(), "expect": "ok"})
        out.append({"name": f"native-{name}", "format": "native", "keys": "plaintext",
                    "file": xref.native_encrypt(PRIMARY, IV, plain).hex(), "plaintext": plain.hex(),
                    "expect": "ok"})
        for mac, blob in (("ciphertext", xref.legacy_encrypt(dk_simple, "2.2", EPOCH, IV, plain)),
                          ("header+ciphertext", xref.legacy_encrypt_fernet(dk_simple, EPOCH, IV, plain)),
                          ("ciphertext-without-padding", xref.legacy_encrypt_stream(dk_simple, EPOCH, IV, plain))):
            out.append({"name": f"legacy-2.2-{mac}-{name}", "format": "legacy-2.2", "keys": "simple-data-key",
                        "mac": mac, "file": blob.hex(), "plaintext": plain.hex(), "expect": "ok"})
        out.append({"name": f"common-tampered-ciphertext-{name}", "format": "common", "keys": "plaintext",
                    "file": _flip(common, 400).hex(), "plaintext": "", "expect": "integrity"})
        out.append({"name": f"common-tampered-mac-{name}", "format": "common", "keys": "plaintext",
                    "file": _flip(common, len(common) - 1).hex(), "plaintext": "", "expect": "integrity"})
        out.append({"name": f"common-truncated-{name}", "format": "common", "keys": "plaintext",
                    "file": common[:-16].hex(), "plaintext": "", "expect": "integrity"})
    out.append({"name": "simplekms-wrap", "format": "key", "keys": "simple", "digits": "2718281828459045",
                "encrypted_data_key": edk_simple, "data_key": dk_simple, "expect": "ok"})
    out.append({"name": "plaintext-key-wrap", "format": "key", "keys": "plaintext",
                "encrypted_data_key": edk_plain, "data_key": dk_plain, "expect": "ok"})
    return out


CONTEXT = {"primary_key_plaintext": PRIMARY, "simple_app_id": SIMPLE_APP_ID, "simple_primary_key": SIMPLE_PK,
           "iv": IV.hex(), "epoch": EPOCH}

if __name__ == "__main__":
    print(json.dumps({"context": CONTEXT, "vectors": build()}, indent=1))
