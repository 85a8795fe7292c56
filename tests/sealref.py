"""Pure-Python reference implementation of the sealed file format v1
(minor versions 1.0 and 1.1, the latter with a key commitment).

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
COMMIT_AT = 900  # 1.1: key commitment at header[900:932]


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
    minor: int = 1  # header byte 55: 0 = version 1.0, 1 = version 1.1 (key commitment)


def _keys(dek: bytes, fixed16: bytes, salt: bytes, prefix: bytes, aad: bytes,
          minor: int) -> tuple[bytes, bytes, bytes | None]:
    """(K_seg, K_hdr, commitment); 1.0: label "sealio/v1", L = 64, no
    commitment; 1.1: label "sealio/v1.1", L = 96, commitment = okm[64:96]."""
    label, length = (b"sealio/v1.1", 96) if minor == 1 else (b"sealio/v1", 64)
    info = label + fixed16 + prefix + hashlib.sha256(aad).digest()
    okm = HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(dek)
    return okm[:32], okm[32:64], (okm[64:96] if minor == 1 else None)


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


def seal(plaintext: bytes, inp: FileInputs, kms: Kms) -> bytes:
    """Write a sealed file (header || segments) from fixed inputs."""
    seg = 1 << inp.segment_log2
    fixed16 = MAGIC + bytes([1, 1, inp.segment_log2, 0]) + struct.pack(">I", HEADER)
    mkid = inp.master_key_id.encode("utf-8")
    wkek = kms.wrap_key(inp.kek, inp.master_key_id).encode("ascii")
    wkek_room = 665 if inp.minor == 1 else 697
    assert inp.minor in (0, 1) and len(mkid) <= 160 and 1 <= len(wkek) <= wkek_room
    wrapped_dek = AESGCM(inp.kek).encrypt(inp.dek_nonce, inp.dek, b"sealio/v1/dek" + inp.kek_id)
    k_seg, k_hdr, commitment = _keys(inp.dek, fixed16, inp.salt, inp.nonce_prefix, inp.aad, inp.minor)
    body = (fixed16 + inp.salt + inp.nonce_prefix + bytes([inp.minor]) + inp.kek_id
            + bytes([len(mkid)]) + mkid.ljust(160, b"\x00")
            + struct.pack(">H", len(wkek)) + wkek.ljust(wkek_room, b"\x00") + (commitment or b"")
            + inp.dek_nonce + wrapped_dek)
    assert len(body) == 992
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
    minor: int = 0
    commitment: bytes = b""


def parse_header(data: bytes, require_commitment: bool = False) -> Parsed:
    if len(data) == 0 or data[:8] != MAGIC[:min(8, len(data))]:
        raise RefError("not_sealed", "bad magic")
    if len(data) < 12:
        raise RefError("payload", "truncated header")
    if data[8] != 1 or data[9] != 1:
        raise RefError("unsupported", "version or suite")
    if len(data) < HEADER:
        raise RefError("payload", "truncated header")
    minor = data[55]
    if minor not in (0, 1):
        raise RefError("unsupported", f"minor version {minor}")
    if require_commitment and minor != 1:
        raise RefError("unsupported", "version 1.0 has no key commitment")
    if struct.unpack(">I", data[12:16])[0] != HEADER:
        raise RefError("format", "header size")
    h = data[:HEADER]
    if not 12 <= h[10] <= 22 or h[11]:
        raise RefError("format", "segment size or reserved byte")
    n = h[72]
    if n > 160 or any(h[73 + n:233]):
        raise RefError("format", "master key id")
    w = struct.unpack(">H", h[233:235])[0]
    wkek_end = COMMIT_AT if minor == 1 else 932
    if not 1 <= w <= wkek_end - 235 or any(h[235 + w:wkek_end]):
        raise RefError("format", "wrapped kek length/padding")
    wk = h[235:235 + w]
    if any(b < 0x20 or b > 0x7E for b in wk):
        raise RefError("format", "wrapped kek not printable ASCII")
    try:
        mkid = h[73:73 + n].decode("utf-8")
    except UnicodeDecodeError:
        raise RefError("format", "master key id not UTF-8") from None
    return Parsed(h[10], h[16:48], h[48:55], h[56:72], mkid, wk.decode("ascii"),
                  h[932:944], h[944:992], h[992:1024], h[:992], minor,
                  h[COMMIT_AT:932] if minor == 1 else b"")


def unwrap_dek(p: Parsed, kms: Kms) -> bytes:
    try:
        kek = kms.unwrap_key(p.wrapped_kek, p.master_key_id)
    except Exception as e:  # the test KMS signals any tampering by raising
        raise RefError("header", f"KEK unwrap failed: {type(e).__name__}") from None
    try:
        return AESGCM(kek).decrypt(p.dek_nonce, p.wrapped_dek, b"sealio/v1/dek" + p.kek_id)
    except InvalidTag:
        raise RefError("header", "DEK unwrap failed") from None


def open_header(data: bytes, kms: Kms, aad: bytes = b"",
                require_commitment: bool = False) -> tuple[Parsed, bytes]:
    """Parse, unwrap, check the commitment (1.1), authenticate; returns the
    header and K_seg."""
    p = parse_header(data, require_commitment)
    dek = unwrap_dek(p, kms)
    k_seg, k_hdr, commitment = _keys(dek, p.body[:16], p.salt, p.nonce_prefix, aad, p.minor)
    if commitment is not None and not hmac.compare_digest(commitment, p.commitment):
        raise RefError("header", "key commitment mismatch")
    if not hmac.compare_digest(hmac.new(k_hdr, p.body, hashlib.sha256).digest(), p.mac):
        raise RefError("header", "header MAC mismatch")
    return p, k_seg


def remac(data: bytes, dek: bytes, aad: bytes = b"") -> bytes:
    """``data`` with its header MAC recomputed from ``dek`` (as an attacker
    who knows the keys could): forged headers for the negative vectors."""
    p = parse_header(data)
    _, k_hdr, _ = _keys(dek, p.body[:16], p.salt, p.nonce_prefix, aad, p.minor)
    return p.body + hmac.new(k_hdr, p.body, hashlib.sha256).digest() + data[HEADER:]


def plaintext_size(file_size: int, segment_size: int) -> tuple[int, int]:
    c = file_size - HEADER
    if c < TAG:
        raise RefError("payload", "no final segment")
    n = (c + segment_size + TAG - 1) // (segment_size + TAG)
    last = c - (n - 1) * (segment_size + TAG)
    if last < TAG + 1 and not (last == TAG and n == 1):
        raise RefError("payload", "size does not end on a segment")
    return c - TAG * n, n


def unseal(data: bytes, kms: Kms, aad: bytes = b"", require_commitment: bool = False) -> bytes:
    """Authenticate and decrypt a whole sealed file."""
    p, k_seg = open_header(data, kms, aad, require_commitment)
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
    minor=0,  # vectors 01-39 are version 1.0; 41-70 are 1.1 (minor=1)
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

    def record(name, desc, inp, pt, data, expect, read_aad=None, read_options=None):
        inputs = {
            "dek": inp.dek.hex(), "kek": inp.kek.hex(), "kek_id": inp.kek_id.hex(),
            "salt": inp.salt.hex(), "nonce_prefix": inp.nonce_prefix.hex(),
            "dek_nonce": inp.dek_nonce.hex(), "master_key_id": inp.master_key_id,
            "wrapped_kek": kms.wrap_key(inp.kek, inp.master_key_id),
            "segment_log2": inp.segment_log2, "aad": inp.aad.hex(),
        }
        if inp.minor:  # absent means 1.0: the 1.0 vector files stay byte-identical
            inputs["minor_version"] = inp.minor
        v = {
            "name": name, "description": desc, "inputs": inputs,
            "read_aad": (inp.aad if read_aad is None else read_aad).hex(),
        }
        if read_options:
            v["read_options"] = read_options
        v.update({"plaintext": pt.hex() if expect["result"] == "ok" else "",
                  "file": data.hex(), "expect": expect})
        out.append(v)

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
    v10_multi = data

    # ---- version 1.1 (key commitment): the same scenarios, then its own failures
    ok11 = [
        ("41-v11-empty", "1.1: empty plaintext", 0, b"", {}),
        ("42-v11-one-byte", "1.1: one byte of plaintext", 1, b"", {}),
        ("43-v11-segment-plus-one", "1.1: one full segment and a 1-byte final segment", seg + 1, b"", {}),
        ("44-v11-aad-multi", "1.1: two full segments and a 100-byte final one, with AAD", 2 * seg + 100, aad5, {}),
        ("45-v11-unicode-key-id", "1.1: a non-ASCII master key id", 10, b"", {"master_key_id": "clé-maître/v1"}),
        ("46-v11-segment-64k", "1.1: 64 KiB segments, 100 bytes", 100, b"", {"segment_log2": 16}),
    ]
    for name, desc, n, aad, over in ok11:
        inp = dataclasses.replace(VECTOR_INPUTS, aad=aad, minor=1, **over)
        pt = pattern(n)
        data = seal(pt, inp, kms)
        assert unseal(data, kms, aad, require_commitment=True) == pt
        record(name, desc, inp, pt, data, {"result": "ok"})
        if name == "44-v11-aad-multi":
            base = (inp, pt, data)
    inp, pt, data = base
    record("47-v11-strict", "1.1 read with require_commitment", inp, pt, data, {"result": "ok"},
           read_options={"require_commitment": True})

    def setb(d: bytes, i: int, value: int) -> bytes:
        b = bytearray(d)
        b[i] = value
        return bytes(b)

    other_dek = bytes(range(0x60, 0x80))
    inp_other = dataclasses.replace(inp, dek=other_dek)
    other_file = seal(pt, inp_other, kms)
    # the original commitment, with the key slot and MAC of another DEK: a header
    # that authenticates under that DEK (MAC) but commits to the first one
    swapped = bytearray(other_file[:HEADER])
    swapped[COMMIT_AT:932] = data[COMMIT_AT:932]
    swapped_dek = remac(bytes(swapped), other_dek, inp.aad)[:HEADER] + other_file[HEADER:]
    forged = remac(flip(data, COMMIT_AT + 3), inp.dek, inp.aad)
    assert forged[992:HEADER] != data[992:HEADER]
    wkek_666 = bytearray(data)
    wkek_666[233:235] = struct.pack(">H", 666)
    bad11 = [
        ("60-v11-commitment-flip", "1.1: one bit of the key commitment flipped", flip(data, COMMIT_AT + 3),
         "header", None, None),
        ("61-v11-commitment-forged", "1.1: commitment changed and the header MAC recomputed with the "
         "right key: only the commitment check catches it", forged, "header", None, None),
        ("62-v11-commitment-other-dek", "1.1: key slot and MAC of another DEK, commitment of the first",
         swapped_dek, "header", None, None),
        ("63-v11-minor-2", "minor version byte set to 2", setb(data, 55, 2), "unsupported", None, None),
        ("64-v11-downgrade-1.0", "1.1 file with minor version set to 0: the commitment lands in the "
         "1.0 wrapped-KEK padding", setb(data, 55, 0), "format", None, None),
        ("65-v10-upgrade-1.1", "1.0 file (vector 05) with minor version set to 1: no valid commitment",
         setb(v10_multi, 55, 1), "header", None, None),
        ("66-v11-wrong-aad", "1.1 read with AAD of another path (the commitment binds the AAD)", data,
         "header", b"s3://bucket/table/part-1.parquet", None),
        ("67-v11-segment-flip", "1.1: one bit of segment 1 ciphertext flipped", flip(data, seg_at(1).start + 5),
         "payload", None, None),
        ("68-v11-wkek-len-666", "1.1: wrapped KEK length 666 overlaps the commitment", bytes(wkek_666),
         "format", None, None),
        ("69-v10-strict", "1.0 file (vector 05) read with require_commitment", v10_multi, "unsupported",
         None, {"require_commitment": True}),
    ]
    for name, desc, d, kind, read_aad, opts in bad11:
        v_inp = VECTOR_INPUTS if name.startswith(("65-", "69-")) else inp
        v_inp = dataclasses.replace(v_inp, aad=aad5)
        record(name, desc, v_inp, pt, d, {"result": "error", "kind": kind}, read_aad, opts)
    return out


def check_vector(v: dict, kms: Kms | None = None) -> None:
    """Run one vector through this reference; AssertionError on disagreement."""
    kms = kms or DeterministicKms()
    data = bytes.fromhex(v["file"])
    aad = bytes.fromhex(v["read_aad"])
    strict = v.get("read_options", {}).get("require_commitment", False)
    try:
        got = unseal(data, kms, aad, require_commitment=strict)
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
