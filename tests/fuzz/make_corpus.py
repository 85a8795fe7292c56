"""Write the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

Every seed is made with sealio's own API, so the fuzzers start from inputs
that get past the magic, the lengths and the MACs. Deterministic where the
format allows (fixed keys, fixed plaintexts); the sealed files carry random
salts and nonces, so rerunning changes their bytes, not their coverage.

The ``open`` target needs the keyring its seeds were sealed under:
``tests/fuzz/corpus/open.keyring.json`` (a test key, nothing else is
sealed under it). It is kept when it exists, so only the seeds change.

    python tests/fuzz/make_corpus.py            # all targets
    python tests/fuzz/make_corpus.py header kms_uri
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
OPEN_KEYRING = CORPUS / "open.keyring.json"
OPEN_AAD = b"fuzz/open"

# Fixed, public test keys for the BigDL seeds (fuzz_bigdl.py uses the same).
BIGDL_PRIMARY_KEY = "AAECAwQFBgcICQoLDA0ODw=="  # base64 of bytes 0..15
BIGDL_DATA_KEY_TEXT = "c2VhbGlvLWZ1enotZGF0YS1rZXktdGV4dC0wMDAwMDA="

# Fixed control prefix of fuzz_open.py inputs: mode byte + offset + size.
OPEN_PREFIX = struct.Struct(">Bqq")
KEYRING_PASSPHRASE = "fuzz-passphrase"


def _write(target: str, seeds: dict[str, bytes]) -> None:
    d = CORPUS / target
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for name, data in seeds.items():
        (d / name).write_bytes(data)
    print(f"{target}: {len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes")


def _sealed(keys: object, plaintext: bytes, *, segment_size: int, master_key: str,
            aad: bytes | None = None) -> bytes:
    import sealio

    buf = io.BytesIO()
    buf.close = lambda: None  # type: ignore[method-assign]  # keep the bytes after the writer closes
    with sealio.open(buf, "wb", keys=keys, master_key=master_key, segment_size=segment_size, aad=aad) as f:
        f.write(plaintext)
    return buf.getvalue()


def _open_keyring() -> object:
    import sealio

    if not OPEN_KEYRING.exists():
        CORPUS.mkdir(parents=True, exist_ok=True)
        ring = sealio.LocalKeyring.create(OPEN_KEYRING)
        ring.generate("fuzz")
        ring.rotate("fuzz")
        ring.generate("other-key")
    os.chmod(OPEN_KEYRING, 0o600)
    return sealio.LocalKeyring(OPEN_KEYRING)


def header() -> None:
    ring = _open_keyring()
    seeds: dict[str, bytes] = {}
    for log2 in (12, 16, 22):
        data = _sealed(ring, b"x" * 100, segment_size=1 << log2, master_key="fuzz")
        trailer = struct.pack(">Q", len(data)) + bytes([log2 - 12])
        seeds[f"header-seg{log2}"] = data[:1024] + trailer
    long_id = _sealed(ring, b"", segment_size=4096, master_key="other-key")
    seeds["header-empty-plaintext"] = long_id[:1024] + struct.pack(">Q", len(long_id)) + b"\x00"
    seeds["truncated-inside-header"] = long_id[:40]
    seeds["magic-only"] = long_id[:8]
    seeds["plain-csv"] = b"id,name\n1,alice\n2,bob\n"
    _write("header", seeds)


def open_() -> None:
    ring = _open_keyring()
    seeds: dict[str, bytes] = {}
    cases = {
        "empty": (b"", 4096, None),
        "one-byte": (b"!", 4096, None),
        "one-segment": (bytes(range(256)) * 16, 4096, None),
        "three-segments": (b"sealio " * 1500, 4096, None),
        "with-aad": (b"bound to a path " * 40, 4096, OPEN_AAD),
    }
    for i, (name, (plain, seg, aad)) in enumerate(cases.items()):
        sealed = _sealed(ring, plain, segment_size=seg, master_key="fuzz", aad=aad)
        mode = i | (0x80 if aad else 0)
        seeds[name] = OPEN_PREFIX.pack(mode, len(plain) // 3, 5000) + sealed
    sealed = _sealed(ring, b"tail " * 2000, segment_size=4096, master_key="fuzz")
    seeds["truncated"] = OPEN_PREFIX.pack(1, 0, 1 << 20) + sealed[:-100]
    seeds["not-sealed"] = OPEN_PREFIX.pack(2, 0, 10) + b"PAR1" + bytes(60)
    _write("open", seeds)


def keyring() -> None:
    import sealio

    seeds: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        plain = sealio.LocalKeyring.create(Path(tmp, "plain.json"))
        plain.generate("analytics")
        plain.rotate("analytics")
        plain.generate("orders", make_default=False)
        seeds["plain"] = Path(tmp, "plain.json").read_bytes()
        empty = sealio.LocalKeyring.create(Path(tmp, "empty.json"))
        del empty
        seeds["empty"] = Path(tmp, "empty.json").read_bytes()
        # the smallest scrypt cost, so each execution stays cheap
        sealed = sealio.LocalKeyring.create(Path(tmp, "sealed.json"), KEYRING_PASSPHRASE, scrypt_n=2)
        sealed.generate("analytics")
        seeds["passphrase"] = Path(tmp, "sealed.json").read_bytes()
    _write("keyring", seeds)


def kms_uri() -> None:
    uris = [
        "local:///nonexistent/sealio-fuzz/keys.json",
        "local://localhost/tmp/keys.json",
        "local:///tmp",
        "vault+https://vault.example:8200/transit/keys/orders",
        "vault+http://127.0.0.1:8200/transit?timeout=2.5&retries=3&namespace=team-a",
        "vault+https://[::1]:8200/kv/transit/keys/a.b-c_d",
        "aws-kms://alias/orders?region=eu-west-1",
        "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        "?region=eu-west-1&endpoint=http://127.0.0.1:5000&timeout=1&retries=0",
        "aws-kms://alias/x?profile=dev&region=us-east-1",
        "unknown-scheme://host/path",
    ]
    _write("kms_uri", {f"uri-{i:02d}": u.encode() for i, u in enumerate(uris)})


def bigdl() -> None:
    from sealio import bigdl
    from sealio.bigdl import common, legacy, native
    from sealio.bigdl.keys import DataKeyText, PlaintextPrimaryKey

    pk = PlaintextPrimaryKey(BIGDL_PRIMARY_KEY)
    data_key = DataKeyText(BIGDL_DATA_KEY_TEXT).decrypt_data_key("")
    csv = b"name,age,job\nalice,33,Developer\nbob,41,Manager\n" * 3
    edk, _ = pk.new_data_key()
    seeds: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        bigdl.write_meta(tmp, edk)
        seeds["meta"] = bytes([0]) + Path(tmp, ".meta").read_bytes()
    seeds["meta-empty-key"] = bytes([0]) + b'{"encryptedDataKey": "", "other": [1, 2.5, null]}'
    seeds["meta-lowercase"] = bytes([0]) + b'{"encrypteddatakey": "QUJD"}'
    one = common.encrypt_bytes(csv, pk)
    seeds["common-header"] = bytes([1]) + one[:common.HEADER_SIZE]
    seeds["common-auto"] = bytes([2]) + one
    seeds["common-empty"] = bytes([2])
    seeds["common-no-key"] = bytes([3]) + common.build_header("", one[8 + len(edk):8 + len(edk) + 16]) + \
        one[common.HEADER_SIZE:]
    seeds["native"] = bytes([4]) + native.encrypt_native(csv, BIGDL_PRIMARY_KEY)
    seeds["legacy-2.1"] = bytes([5]) + legacy.encrypt_legacy(csv, data_key, "legacy-2.1", epoch=1_700_000_000)
    seeds["legacy-2.2"] = bytes([6]) + legacy.encrypt_legacy(csv, data_key, "legacy-2.2", epoch=1_700_000_000)
    seeds["key-file"] = bytes([7]) + json.dumps({"primary_key_plaintext": BIGDL_PRIMARY_KEY,
                                                 "data_key_path": "/nonexistent/dataKey"}).encode()
    seeds["inspect-legacy"] = bytes([8]) + legacy.encrypt_legacy(b"x" * 20, data_key, "legacy-2.2", epoch=-1)
    seeds["inspect-common"] = bytes([8]) + one
    seeds["meta-structured"] = bytes([9]) + bytes(range(1, 17))
    seeds["key-file-structured"] = bytes([10]) + bytes(range(1, 17))
    _write("bigdl", seeds)


def gcm_segments() -> None:
    """fuzz_gcm_segments.c input: [log2-4 byte][flags][key 32][prefix 7][sealed]."""
    from sealio import primitives as p

    seeds: dict[str, bytes] = {}
    key = bytes(range(32))
    prefix = b"fuzzpfx"
    for i, (log2, plain_len, final, threads) in enumerate(
            [(4, 0, 1, 0), (4, 40, 1, 1), (6, 200, 1, 2), (8, 256, 0, 0), (10, 3000, 1, 3), (4, 16, 0, 0)]):
        seg = 1 << log2
        plain = bytes((7 * j) & 0xFF for j in range(plain_len))
        out = bytearray(p.sealed_segments_size(plain_len, seg))
        n = p.AesGcm(key).seal_segments_into(plain, out, seg, prefix=prefix, first_index=7,
                                             final=bool(final))
        for kernel_bit in (0, 1):
            flags = kernel_bit | final << 1 | threads << 2
            seeds[f"seg{seg}-len{plain_len}-f{final}-t{threads}-k{kernel_bit}"] = \
                bytes([log2 - 4, flags]) + key + prefix + bytes(out[:n])
    _write("gcm_segments", seeds)


TARGETS: dict[str, Callable[[], None]] = {"header": header, "open": open_, "keyring": keyring,
                                          "kms_uri": kms_uri, "bigdl": bigdl, "gcm_segments": gcm_segments}


def main(argv: list[str]) -> int:
    import warnings

    warnings.simplefilter("ignore")
    names = argv or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"unknown targets {unknown}; known: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    for n in names:
        TARGETS[n]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
