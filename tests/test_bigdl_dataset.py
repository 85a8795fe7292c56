"""SimpleQuery (BigDL's PPML example) over BigDL-encrypted CSV input."""

from __future__ import annotations

import base64
import csv
import io
import random

import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest

import bigdl_ref as ref
from sealio import IntegrityError
from sealio.bigdl import (PlaintextPrimaryKey, bigdl_batches, bigdl_dataset, open_bigdl_file,
                          read_bigdl_csv, write_directory)

PRIMARY = base64.b64encode(bytes(range(50, 66))).decode()
pytestmark = pytest.mark.filterwarnings("ignore::sealio.errors.WeakKeyWarning")


def people_csv(n: int, seed: int) -> tuple[list[list[str]], int]:
    """Like BigDL's generate_people_csv.py: name,age,job; returns rows and
    the count of Developers aged 20..40."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 7)))
        rows.append([name, str(rng.randint(18, 60)), rng.choice(["Developer", "Engineer", "Researcher"])])
    expected = sum(1 for _, a, j in rows if j == "Developer" and 20 <= int(a) <= 40)
    return rows, expected


def _csv_bytes(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", "age", "job"])
    w.writerows(rows)
    return buf.getvalue().encode()


def test_simple_query_over_bigdl_encrypted_input(tmp_path):
    keys = PlaintextPrimaryKey(PRIMARY)
    rows, expected = people_csv(3000, seed=7)
    parts = [_csv_bytes(rows[i:i + 1000]) for i in range(0, 3000, 1000)]  # header in every part
    write_directory(tmp_path / "people", parts + [b""], keys)

    ds = bigdl_dataset(tmp_path / "people", keys)
    developers = ds.to_table(filter=(pc.field("job") == "Developer")
                             & (pc.field("age") >= 20) & (pc.field("age") <= 40))
    assert developers.column_names == ["name", "age", "job"]
    assert developers.num_rows == expected > 0

    # SimpleQuery writes its result back encrypted (overwrite, header, one partition)
    out = io.BytesIO()
    import pyarrow.csv as pacsv

    pacsv.write_csv(developers, out)
    write_directory(tmp_path / "result", [out.getvalue()], keys)
    back = read_bigdl_csv(tmp_path / "result", keys)
    assert back.num_rows == expected
    assert back.column("name").to_pylist() == developers.column("name").to_pylist()


def test_streaming_batches_and_file_object(tmp_path):
    keys = PlaintextPrimaryKey(PRIMARY)
    rows, _ = people_csv(500, seed=1)
    paths = write_directory(tmp_path / "p", [_csv_bytes(rows[:250]), _csv_bytes(rows[250:])], keys)
    reader = bigdl_batches(tmp_path / "p", keys)
    assert sum(b.num_rows for b in reader) == 500
    with open_bigdl_file(paths[0], keys) as f:
        assert f.readline() == b"name,age,job\n"
    dk = keys.unwrap(ref.common_header(paths[1].read_bytes())[0])
    assert ref.common_decrypt(dk, paths[1].read_bytes()).count(b"\n") == 251


def test_tampered_part_fails_the_query(tmp_path):
    keys = PlaintextPrimaryKey(PRIMARY)
    rows, _ = people_csv(200, seed=2)
    paths = write_directory(tmp_path / "p", [_csv_bytes(rows[:100]), _csv_bytes(rows[100:])], keys)
    raw = bytearray(paths[1].read_bytes())
    raw[450] ^= 1
    paths[1].write_bytes(raw)
    with pytest.raises(IntegrityError):
        read_bigdl_csv(tmp_path / "p", keys)
    assert isinstance(bigdl_dataset(tmp_path / "p" / paths[0].name, keys), pads.Dataset)
