"""The SimpleQuery walkthrough (``sealio demo simple-query``)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytest.importorskip("pyspark", minversion="4.0")

from sealio import cli  # noqa: E402
from sealio.spark.simple_query import JOBS, generate_people  # noqa: E402


def test_people_csv_shape_and_seed(tmp_path: Path) -> None:
    generate_people(tmp_path / "a.csv", 500, seed=7)
    generate_people(tmp_path / "b.csv", 500, seed=7)
    generate_people(tmp_path / "c.csv", 500, seed=8)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()
    with open(tmp_path / "a.csv", newline="") as fh:
        reader = csv.reader(fh)
        assert next(reader) == ["name", "age", "job"]
        people = list(reader)
    assert len(people) == 500
    assert all(3 <= len(n) <= 7 and n.isascii() and n.islower() and n.isalpha() for n, _, _ in people)
    assert {int(a) for _, a, _ in people} <= set(range(18, 61)) and {j for _, _, j in people} == set(JOBS)


def test_demo_simple_query_agrees_everywhere(spark, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["demo", "simple-query", "--rows", "3000", "--seed", "11", "--keep", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "# OK: Spark" in out
    work = next(tmp_path.glob("sealio-simple-query-*"))
    result = [p for p in (work / "result").iterdir() if not p.name.startswith("_")]
    assert result and all(b"Developer" not in p.read_bytes() for p in result)
    assert spark.range(3).count() == 3  # the shared session was left running
