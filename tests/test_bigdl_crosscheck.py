"""sealio.bigdl against a second independent reference (tests/bigdl_xref.py),
plus the streaming readers and the streaming multi-buffer writer."""

from __future__ import annotations

import base64
import io
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe
import pytest

import bigdl_xref as xref
from sealio import IntegrityError, bigdl
from sealio.bigdl import common, legacy, native
from sealio.bigdl import parquet as bigdl_parquet
from sealio.bigdl.keys import DataKey, DataKeyText, PlaintextPrimaryKey, SimpleKms
from sealio.cli import main
from sealio.errors import FormatError, UnauthenticatedWarning

PRIMARY = base64.b64encode(bytes(range(7, 23))).decode()
pytestmark = pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")


def _read(reader) -> bytes:
    with reader as r:
        return r.read()


# ---------------------------------------------------------------- keys


def test_plaintext_primary_key_both_ways():
    keys = PlaintextPrimaryKey(PRIMARY)
    edk, dk = keys.new_data_key()
    assert xref.plaintext_unwrap(PRIMARY, edk) == dk.text
    mine = xref.plaintext_wrap(PRIMARY, xref.plaintext_new_data_key())
    assert keys.decrypt_data_key(mine).text == xref.plaintext_unwrap(PRIMARY, mine)


@pytest.mark.parametrize("pk", ["abcdefghijkl4821", "ABC-DEF.GHI 0007", "!!##$$%%&&,,0000", "zzzzzzzzzzzz9999"])
def test_simple_kms_wrap_and_unwrap_use_java_remainders(pk):
    """Characters below '0' make Java's % negative: wrap and unwrap must
    both follow it (Scala Char + Int appends the decimal code)."""
    src = SimpleKms(pk[:12], "key", pk)
    for digits in ("0000000000000000", "9876543210987654", "5555555555555555"):
        assert src.wrap(digits) == xref.simple_wrap(pk, digits)
        edk = xref.simple_wrap(pk, digits)
        assert src.unwrap(edk) == xref.simple_unwrap(pk, edk)


# -------------------------------------------------------------- common


@pytest.mark.parametrize("n", [1, 16, 4095, 70_001])
def test_reference_common_file_read_by_both_readers(tmp_path, n):
    keys = PlaintextPrimaryKey(PRIMARY)
    dk = xref.plaintext_new_data_key()
    plain = os.urandom(n)
    path = tmp_path / "part.cbc"
    path.write_bytes(xref.common_encrypt(dk, xref.plaintext_wrap(PRIMARY, dk), os.urandom(16), plain))
    assert _read(bigdl.open_common(path, keys)) == plain
    assert _read(common.open_common_stream(path, keys)) == plain


def test_encrypt_many_read_by_reference():
    keys = PlaintextPrimaryKey(PRIMARY)
    plains = [b"", b"a", os.urandom(100_000), b"x" * 32]
    blobs = bigdl.encrypt_many(plains, keys)
    for p, blob in zip(plains, blobs):
        if p:
            dk = xref.plaintext_unwrap(PRIMARY, xref.common_header(blob)[0])
            assert xref.common_decrypt(dk, blob) == p
        else:
            assert blob == b""


class _ChangesAfterFirstPass(io.BytesIO):
    """A file whose ciphertext changes once it has been read to the end
    (the MAC pass): the decrypting pass then sees other bytes."""

    def __init__(self, data: bytes, flip_at: int) -> None:
        super().__init__(data)
        self.flip_at, self.passes = flip_at, 0

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 0 and pos == 400:
            self.passes += 1
            if self.passes == 2:
                buf = self.getbuffer()
                buf[self.flip_at] ^= 1
                del buf
        return super().seek(pos, whence)


@pytest.mark.parametrize("opener", ["common", "stream"])
def test_a_file_changed_between_the_passes_fails(opener):
    keys = PlaintextPrimaryKey(PRIMARY)
    dk = xref.plaintext_new_data_key()
    plain = os.urandom(50_000)
    blob = xref.common_encrypt(dk, xref.plaintext_wrap(PRIMARY, dk), os.urandom(16), plain)
    f = _ChangesAfterFirstPass(blob, 400 + 20_000)
    with pytest.raises(IntegrityError):
        if opener == "common":
            _read(bigdl.CommonReader(f, keys))
        else:
            _read(common.open_common_stream(f, keys))


@pytest.mark.parametrize("at", [30, 400, 401, 10_000, -33, -1])
def test_tampering_rejected_by_the_streaming_reader(tmp_path, at):
    keys = PlaintextPrimaryKey(PRIMARY)
    dk = xref.plaintext_new_data_key()
    raw = bytearray(xref.common_encrypt(dk, xref.plaintext_wrap(PRIMARY, dk), os.urandom(16), os.urandom(20_000)))
    raw[at] ^= 2
    (tmp_path / "p").write_bytes(raw)
    with pytest.raises((IntegrityError, FormatError)):
        _read(common.open_common_stream(tmp_path / "p", keys))
    with pytest.raises((IntegrityError, FormatError)):
        _read(bigdl.open_common(tmp_path / "p", keys))


# --------------------------------------------------- native and legacy


def test_native_streamed_in_chunks(tmp_path):
    plain = os.urandom(3 * (1 << 20) + 7)
    (tmp_path / "n").write_bytes(xref.native_encrypt(PRIMARY, os.urandom(16), plain))
    with pytest.warns(UnauthenticatedWarning):
        r = native.open_native_stream(tmp_path / "n", PRIMARY)
    with r:
        first = r.read(10)
        assert first == plain[:10] and r.read() == plain[10:]
    with pytest.warns(UnauthenticatedWarning):
        opener = bigdl.Opener("native", primary_key_b64=PRIMARY)
        assert _read(opener(tmp_path / "n")) == plain


@pytest.mark.parametrize("version", ["2.1", "2.2"])
def test_legacy_streamed_and_verified(tmp_path, version):
    dk = "Qm9vbXNoYWthbGFrYWJvb20gYm9vbQ=="  # 32 characters: 2.1 gets a full AES-256 key
    plain = os.urandom(2 * (1 << 20) + 3)
    blob = xref.legacy_encrypt(dk, version, int(time.time()), os.urandom(16), plain)
    (tmp_path / "l").write_bytes(blob)
    key = DataKey(dk)
    fmt = f"legacy-{version}"
    assert _read(legacy.open_legacy_stream(tmp_path / "l", key, fmt)) == plain
    assert _read(bigdl.Opener(fmt, data_key=key)(tmp_path / "l")) == plain
    raw = bytearray(blob)
    raw[len(raw) // 2] ^= 1
    (tmp_path / "l").write_bytes(raw)
    with pytest.raises(IntegrityError):
        legacy.open_legacy_stream(tmp_path / "l", key, fmt)
    with pytest.warns(UnauthenticatedWarning):
        salvaged = _read(legacy.open_legacy_stream(tmp_path / "l", key, fmt, verify_mac=False))
    assert len(salvaged) == len(plain) and salvaged != plain


# ----------------------------------------------------- streaming writer


def test_encrypt_parts_streams_many_files_read_by_reference(tmp_path):
    keys = SimpleKms("abcdefghijkl", "key", "abcdefghijkl0314")
    plains = [os.urandom(n) for n in (0, 5, 16, 4096, 9000, 100_000, 1, 33, 48, 70_000)]
    jobs = [(io.BytesIO(p), len(p), tmp_path / f"part-{i:05d}.csv.cbc") for i, p in enumerate(plains)]
    seen: list[int] = []
    edk = common.encrypt_parts(jobs, keys, chunk=4096, width=3, progress=seen.append)
    assert sum(seen) == sum(map(len, plains))
    dk = xref.simple_unwrap("abcdefghijkl0314", edk)
    for i, p in enumerate(plains):
        blob = (tmp_path / f"part-{i:05d}.csv.cbc").read_bytes()
        assert xref.common_decrypt(dk, blob) == p
        if p:
            assert xref.common_header(blob)[0] == edk


def test_encrypt_parts_publishes_nothing_on_failure(tmp_path):
    class Broken(io.BytesIO):
        def readinto(self, b):  # noqa: ANN001
            raise OSError("disk gone")

    keys = DataKeyText("k" * 32)
    jobs = [(io.BytesIO(b"fine" * 100), 400, tmp_path / "a.cbc"), (Broken(b"x" * 50), 50, tmp_path / "b.cbc")]
    with pytest.raises(OSError):
        common.encrypt_parts(jobs, keys)
    assert list(tmp_path.iterdir()) == []


def test_cli_encrypt_streams_and_reference_reads(tmp_path):
    src = tmp_path / "plain"
    src.mkdir()
    files = {"a.csv": b"name,age,job\nann,30,Developer\n", "b.csv": os.urandom(2 * (1 << 20) + 1), "e.csv": b""}
    for k, v in files.items():
        (src / k).write_bytes(v)
    assert main(["bigdl", "encrypt", "-q", "--primary-key-plaintext", PRIMARY, str(src), str(tmp_path / "enc")]) == 0
    edk = bigdl.read_meta(tmp_path / "enc")
    dk = xref.plaintext_unwrap(PRIMARY, edk)
    assert (tmp_path / "enc/.meta").read_text() == xref.meta_text(edk)
    for k, v in files.items():
        assert xref.common_decrypt(dk, (tmp_path / "enc" / f"{k}.cbc").read_bytes()) == v
    assert not [p for p in (tmp_path / "enc").iterdir() if p.name.endswith(".sealio-tmp")]


# -------------------------------------------------------------- parquet


class XrefKms(pe.KmsClient):
    def __init__(self, data_key: str) -> None:
        super().__init__()
        self.keys = xref.parquet_master_keys(data_key)

    def wrap_key(self, key_bytes, master_key_identifier):  # noqa: ANN001
        return xref.inmemory_kms_wrap(self.keys[master_key_identifier], key_bytes, master_key_identifier,
                                      os.urandom(12))

    def unwrap_key(self, wrapped_key, master_key_identifier):  # noqa: ANN001
        return xref.inmemory_kms_unwrap(self.keys[master_key_identifier], wrapped_key, master_key_identifier)


def test_parquet_key_mapping_matches_second_reference(tmp_path: Path):
    table = pa.table({"name": ["ann", "bob"], "age": [30, 41]})
    keys = SimpleKms("abcdefghijkl", "key", "abcdefghijkl2718")
    edk, dk = keys.new_data_key()
    factory = pe.CryptoFactory(lambda _c: XrefKms(dk.text))
    props = factory.file_encryption_properties(
        pe.KmsConnectionConfig(), pe.EncryptionConfiguration(footer_key="footerKey",
                                                             column_keys={"key1": table.column_names}))
    pq.write_table(table, tmp_path / "part-00000-x-c000.parquet", encryption_properties=props)
    bigdl.write_meta(tmp_path, edk)
    assert bigdl_parquet.read_table(tmp_path, keys).equals(table)


def test_simple_query_streams_over_bigdl_parts(tmp_path: Path):
    """SimpleQuery (developers aged 20..40) through the streaming batch
    reader: parts written by the second reference, each with its header."""
    import random

    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    rng = random.Random(11)
    rows = [("".join(rng.choice("abcdefghij") for _ in range(rng.randint(3, 7))), rng.randint(18, 60),
             rng.choice(["Developer", "Engineer", "Researcher"])) for _ in range(3000)]
    expected = sum(1 for _, a, j in rows if j == "Developer" and 20 <= a <= 40)
    dk = xref.plaintext_new_data_key()
    edk = xref.plaintext_wrap(PRIMARY, dk)
    for i in range(3):
        text = "name,age,job\n" + "".join(f"{n},{a},{j}\n" for n, a, j in rows[i * 1000:(i + 1) * 1000])
        (tmp_path / f"part-0000{i}-x-c000.csv.cbc").write_bytes(
            xref.common_encrypt(dk, edk, os.urandom(16), text.encode()))
    (tmp_path / "part-00003-x-c000.csv.cbc").write_bytes(b"")  # an empty partition
    bigdl.write_meta(tmp_path, edk)
    reader = bigdl.csv_batch_reader(tmp_path, bigdl.Opener("common", keys=PlaintextPrimaryKey(PRIMARY)))
    ds = pads.dataset(reader)
    devs = ds.to_table(filter=(pc.field("job") == "Developer") & (pc.field("age") >= 20) & (pc.field("age") <= 40))
    assert devs.num_rows == expected > 0
    assert devs.column_names == ["name", "age", "job"]
