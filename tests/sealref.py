"""Pure-Python reference implementation of the sealed file format v1.

Written from ``docs/FORMAT.md`` alone, with ``cryptography`` and the
standard library only: it never imports sealio, so a bug shared with the C
core or the production Python would have to be made twice. Deliberately
simple and slow (one segment at a time, whole files in memory).

Errors are reported as :class:`RefError` with a ``kind``: ``"not_sealed"``,
``"unsupported"``, ``"format"`` (malformed header), ``"header"`` (header
authentication or key unwrap failed) or ``"payload"`` (segments, size).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = bytes.fromhex("895345414c494f0a")
HEADER = 1024
TAG = 16


class RefError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


class Kms(Protocol):
    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str: ...
    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes: ...


class DeterministicKms:
    """A test KMS whose wrapping is a deterministic function of its inputs,
    so vectors are reproducible: AES-256-GCM under SHA-256("sealio test
    master key" || name) with nonce = HMAC(master, key)[:12], base64."""

    PREFIX = "tkms1:"

    @staticmethod
    def _master(name: str) -> bytes:
        return hashlib.sha256(b"sealio test master key" + name.encode()).digest()

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        m = self._master(master_key_identifier)
        nonce = hmac.new(m, bytes(key_bytes), hashlib.sha256).digest()[:12]
        ct = AESGCM(m).encrypt(nonce, bytes(key_bytes), master_key_identifier.encode())
        return self.PREFIX + base64.b64encode(nonce + ct).decode()

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        if not wrapped_key.startswith(self.PREFIX):
            raise ValueError("not a test-KMS wrapped key")
        raw = base64.b64decode(wrapped_key[len(self.PREFIX):], validate=True)
        m = self._master(master_key_identifier)
        return AESGCM(m).decrypt(raw[:12], raw[12:], master_key_identifier.encode())


@dataclass
class FileInputs:
    """Every random value a writer draws, so a file is a pure function of these."""

    dek: bytes
    kek: bytes
    kek_id: bytes
    salt: bytes
    nonce_prefix: bytes
    dek_nonce: bytes
    master_key_id: str
    segment_log2: int = 12
    aad: bytes = b""


def _keys(dek: bytes, fixed16: bytes, salt: bytes, prefix: bytes, aad: bytes) -> tuple[bytes, bytes]:
    info = b"sealio/v1" + fixed16 + prefix + hashlib.sha256(aad).digest()
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=salt, info=info).derive(dek)
    return okm[:32], okm[32:]


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


def seal(plaintext: bytes, inp: FileInputs, kms: Kms) -> bytes:
    """Write a sealed file (header || segments) from fixed inputs."""
    seg = 1 << inp.segment_log2
    fixed16 = MAGIC + bytes([1, 1, inp.segment_log2, 0]) + struct.pack(">I", HEADER)
    mkid = inp.master_key_id.encode("utf-8")
    wkek = kms.wrap_key(inp.kek, inp.master_key_id).encode("ascii")
    assert len(mkid) <= 160 and 1 <= len(wkek) <= 697
    wrapped_dek = AESGCM(inp.kek).encrypt(inp.dek_nonce, inp.dek, b"sealio/v1/dek" + inp.kek_id)
    body = (fixed16 + inp.salt + inp.nonce_prefix + b"\x00" + inp.kek_id
            + bytes([len(mkid)]) + mkid.ljust(160, b"\x00")
            + struct.pack(">H", len(wkek)) + wkek.ljust(697, b"\x00")
            + inp.dek_nonce + wrapped_dek)
    assert len(body) == 992
    k_seg, k_hdr = _keys(inp.dek, fixed16, inp.salt, inp.nonce_prefix, inp.aad)
    out = [body, hmac.new(k_hdr, body, hashlib.sha256).digest()]
    gcm = AESGCM(k_seg)
    chunks = [plaintext[i:i + seg] for i in range(0, len(plaintext), seg)] or [b""]
    for i, chunk in enumerate(chunks):
        out.append(gcm.encrypt(_nonce(inp.nonce_prefix, i, i == len(chunks) - 1), chunk, None))
    return b"".join(out)


@dataclass
class Parsed:
    segment_log2: int
    salt: bytes
    nonce_prefix: bytes
    kek_id: bytes
    master_key_id: str
    wrapped_kek: str
    dek_nonce: bytes
    wrapped_dek: bytes
    mac: bytes
    body: bytes


def parse_header(data: bytes) -> Parsed:
    if len(data) == 0 or data[:8] != MAGIC[:min(8, len(data))]:
        raise RefError("not_sealed", "bad magic")
    if len(data) < 12:
        raise RefError("payload", "truncated header")
    if data[8] != 1 or data[9] != 1:
        raise RefError("unsupported", "version or suite")
    if len(data) < HEADER:
        raise RefError("payload", "truncated header")
    if struct.unpack(">I", data[12:16])[0] != HEADER:
        raise RefError("format", "header size")
    h = data[:HEADER]
    if not 12 <= h[10] <= 22 or h[11] or h[55]:
        raise RefError("format", "segment size or reserved byte")
    n = h[72]
    if n > 160 or any(h[73 + n:233]):
        raise RefError("format", "master key id")
    w = struct.unpack(">H", h[233:235])[0]
    if not 1 <= w <= 697 or any(h[235 + w:932]):
        raise RefError("format", "wrapped kek length/padding")
    wk = h[235:235 + w]
    if any(b < 0x20 or b > 0x7E for b in wk):
        raise RefError("format", "wrapped kek not printable ASCII")
    try:
        mkid = h[73:73 + n].decode("utf-8")
    except UnicodeDecodeError:
        raise RefError("format", "master key id not UTF-8") from None
    return Parsed(h[10], h[16:48], h[48:55], h[56:72], mkid, wk.decode("ascii"),
                  h[932:944], h[944:992], h[992:1024], h[:992])


def open_header(data: bytes, kms: Kms, aad: bytes = b"") -> tuple[Parsed, bytes]:
    """Parse, unwrap, authenticate; returns the header and K_seg."""
    p = parse_header(data)
    try:
        kek = kms.unwrap_key(p.wrapped_kek, p.master_key_id)
    except Exception as e:  # the test KMS signals any tampering by raising
        raise RefError("header", f"KEK unwrap failed: {type(e).__name__}") from None
    try:
        dek = AESGCM(kek).decrypt(p.dek_nonce, p.wrapped_dek, b"sealio/v1/dek" + p.kek_id)
    except InvalidTag:
        raise RefError("header", "DEK unwrap failed") from None
    k_seg, k_hdr = _keys(dek, p.body[:16], p.salt, p.nonce_prefix, aad)
    if not hmac.compare_digest(hmac.new(k_hdr, p.body, hashlib.sha256).digest(), p.mac):
        raise RefError("header", "header MAC mismatch")
    return p, k_seg


def plaintext_size(file_size: int, segment_size: int) -> tuple[int, int]:
    c = file_size - HEADER
    if c < TAG:
        raise RefError("payload", "no final segment")
    n = (c + segment_size + TAG - 1) // (segment_size + TAG)
    last = c - (n - 1) * (segment_size + TAG)
    if last < TAG + 1 and not (last == TAG and n == 1):
        raise RefError("payload", "size does not end on a segment")
    return c - TAG * n, n


def unseal(data: bytes, kms: Kms, aad: bytes = b"") -> bytes:
    """Authenticate and decrypt a whole sealed file."""
    p, k_seg = open_header(data, kms, aad)
    seg = 1 << p.segment_log2
    _, n = plaintext_size(len(data), seg)
    gcm = AESGCM(k_seg)
    out = []
    for i in range(n):
        chunk = data[HEADER + i * (seg + TAG):HEADER + (i + 1) * (seg + TAG)]
        try:
            out.append(gcm.decrypt(_nonce(p.nonce_prefix, i, i == n - 1), chunk, None))
        except InvalidTag:
            raise RefError("payload", f"segment {i} failed authentication") from None
    return b"".join(out)


# ------------------------------------------------------------ test vectors

VECTOR_INPUTS = FileInputs(
    dek=bytes(range(0x00, 0x20)),
    kek=bytes(range(0x20, 0x40)),
    kek_id=bytes(range(0xA0, 0xB0)),
    salt=bytes(range(0x40, 0x60)),
    nonce_prefix=bytes(range(0xF0, 0xF7)),
    dek_nonce=bytes(range(0xD0, 0xDC)),
    master_key_id="test-master",
    segment_log2=12,
)


def pattern(n: int) -> bytes:
    """Deterministic plaintext: byte i is (i * 31 + 7) mod 251."""
    return bytes((i * 31 + 7) % 251 for i in range(n))


def _vectors() -> list[dict]:
    import dataclasses

    kms = DeterministicKms()
    seg = 1 << VECTOR_INPUTS.segment_log2
    aad5 = b"s3://bucket/table/part-0.parquet"
    ok_cases = [
        ("01-empty", "empty plaintext: header and one 16-byte tag", 0, b"", {}),
        ("02-one-byte", "one byte of plaintext", 1, b"", {}),
        ("03-one-segment", "exactly one full segment (the final one)", seg, b"", {}),
        ("04-segment-plus-one", "one full segment and a 1-byte final segment", seg + 1, b"", {}),
        ("05-aad-multi", "two full segments and a 100-byte final one, with AAD", 2 * seg + 100, aad5, {}),
        ("06-two-segments", "exactly two full segments", 2 * seg, b"", {}),
        ("07-unicode-key-id", "a non-ASCII master key id", 10, b"", {"master_key_id": "clé-maître/v1"}),
        ("08-segment-64k", "64 KiB segments (the default), 100 bytes", 100, b"", {"segment_log2": 16}),
    ]
    out = []

    def record(name, desc, inp, pt, data, expect, read_aad=None):
        out.append({
            "name": name, "description": desc,
            "inputs": {
                "dek": inp.dek.hex(), "kek": inp.kek.hex(), "kek_id": inp.kek_id.hex(),
                "salt": inp.salt.hex(), "nonce_prefix": inp.nonce_prefix.hex(),
                "dek_nonce": inp.dek_nonce.hex(), "master_key_id": inp.master_key_id,
                "wrapped_kek": kms.wrap_key(inp.kek, inp.master_key_id),
                "segment_log2": inp.segment_log2, "aad": inp.aad.hex(),
            },
            "read_aad": (inp.aad if read_aad is None else read_aad).hex(),
            "plaintext": pt.hex() if expect["result"] == "ok" else "",
            "file": data.hex(), "expect": expect,
        })

    base = None
    for name, desc, n, aad, over in ok_cases:
        inp = dataclasses.replace(VECTOR_INPUTS, aad=aad, **over)
        pt = pattern(n)
        data = seal(pt, inp, kms)
        assert unseal(data, kms, aad) == pt
        record(name, desc, inp, pt, data, {"result": "ok"})
        if name == "05-aad-multi":
            base = (inp, pt, data)
    inp, pt, data = base
    S = seg + TAG

    def seg_at(i: int) -> slice:
        return slice(HEADER + i * S, HEADER + (i + 1) * S)

    def flip(d: bytes, i: int, bit: int = 1) -> bytes:
        b = bytearray(d)
        b[i] ^= bit
        return bytes(b)

    segs = [data[seg_at(i)] for i in range(3)]
    other = seal(pt, dataclasses.replace(inp, salt=bytes(32)), kms)  # same keys, another file
    bad = [
        ("20-bad-magic", "first magic byte changed", flip(data, 0), "not_sealed", None),
        ("21-version-2", "version byte set to 2", flip(data, 8, 3), "unsupported", None),
        ("22-suite-2", "suite byte set to 2", flip(data, 9, 3), "unsupported", None),
        ("23-reserved", "reserved byte 11 non-zero", flip(data, 11), "format", None),
        ("24-salt-flip", "one bit of the salt flipped", flip(data, 20), "header", None),
        ("25-segment-size", "segment_log2 changed 12 -> 13", data, "header", None),
        ("26-wrapped-dek-flip", "one bit of the wrapped DEK flipped", flip(data, 950), "header", None),
        ("27-mac-flip", "one bit of the header MAC flipped", flip(data, 1000), "header", None),
        ("28-wrong-aad", "read with AAD of another path", data, "header", b"s3://bucket/table/part-1.parquet"),
        ("29-no-aad", "read without the AAD", data, "header", b""),
        ("30-segment-flip", "one bit of segment 1 ciphertext flipped", flip(data, seg_at(1).start + 5), "payload", None),
        ("31-tag-flip", "one bit of the final tag flipped", flip(data, len(data) - 1), "payload", None),
        ("32-truncated-boundary", "final segment dropped (cut at a segment boundary)", data[:seg_at(2).start], "payload", None),
        ("33-truncated-minus-one", "last byte removed", data[:-1], "payload", None),
        ("34-trailing-byte", "one byte appended", data + b"\x00", "payload", None),
        ("35-swap", "segments 0 and 1 swapped", data[:HEADER] + segs[1] + segs[0] + b"".join(segs[2:]), "payload", None),
        ("36-duplicate", "segment 0 duplicated in place of segment 1", data[:HEADER] + segs[0] + segs[0] + b"".join(segs[2:]), "payload", None),
        ("37-splice", "segment 1 taken from another file under the same keys", data[:HEADER] + segs[0] + other[seg_at(1)] + b"".join(segs[2:]), "payload", None),
        ("38-header-only", "header without any segment", data[:HEADER], "payload", None),
        ("39-short-header", "cut inside the header", data[:500], "payload", None),
    ]
    for name, desc, d, kind, read_aad in bad:
        if name == "25-segment-size":
            d = bytearray(data)
            d[10] = 13
            d = bytes(d)
        record(name, desc, inp, pt, d, {"result": "error", "kind": kind}, read_aad)
    return out


def check_vector(v: dict, kms: Kms | None = None) -> None:
    """Run one vector through this reference; AssertionError on disagreement."""
    kms = kms or DeterministicKms()
    data = bytes.fromhex(v["file"])
    aad = bytes.fromhex(v["read_aad"])
    try:
        got = unseal(data, kms, aad)
    except RefError as e:
        assert v["expect"]["result"] == "error" and v["expect"]["kind"] == e.kind, (v["name"], e.kind)
        return
    assert v["expect"]["result"] == "ok", v["name"]
    assert got == bytes.fromhex(v["plaintext"]), v["name"]


if __name__ == "__main__":  # regenerate tests/data/format/*.json
    import json
    import pathlib

    target = pathlib.Path(__file__).resolve().parent / "data" / "format"
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.json"):
        old.unlink()
    for v in _vectors():
        check_vector(v)
        (target / f"{v['name']}.json").write_text(json.dumps(v, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(list(target.glob('*.json')))} vectors to {target}")
