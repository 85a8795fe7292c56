"""A newcomer's path without surprises (issue 15): what a first user of the
command line runs into, each case through the real ``sealio`` entry point
or the public API."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

import sealio
from sealio.cli import main

SEG = 4096


@pytest.fixture()
def ring(tmp_path: Path) -> sealio.LocalKeyring:
    kr = sealio.LocalKeyring.create(tmp_path / "keys.json")
    kr.generate("k")
    return kr


def _sealed(ring: sealio.LocalKeyring, nbytes: int) -> bytes:
    buf = io.BytesIO()
    with sealio.open(buf, "wb", keys=ring, master_key="k", segment_size=SEG) as f:
        f.write(os.urandom(nbytes))
    return buf.getvalue()


# ------------------------------------------------------------ truncation


def test_cut_at_a_segment_boundary_says_truncated(ring: sealio.LocalKeyring, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    data = _sealed(ring, 3 * SEG + 100)
    cut = data[:1024 + 2 * (SEG + 16)]  # two whole segments, the final one gone
    with pytest.raises(sealio.IntegrityError, match=r"truncated: it ends after segment 1, which is authentic"):
        sealio.open(io.BytesIO(cut), "rb", keys=ring)
    (tmp_path / "cut").write_bytes(cut)
    assert main(["verify", "--keyring", str(ring.path), str(tmp_path / "cut")]) == 1
    assert "is truncated" in capsys.readouterr().err


@pytest.mark.parametrize(("drop", "why"), [
    (1, r"segment 3 \(the last in the file\) failed authentication: the file is truncated or was modified"),
    (17, r"segment 3 \(the last in the file\) failed authentication: the file is truncated or was modified"),
    (100, r"truncated \(size does not end on a segment\)"),  # less than a tag left: only a cut does that
])
def test_cut_inside_the_last_segment_says_truncated(ring: sealio.LocalKeyring, drop: int, why: str) -> None:
    data = _sealed(ring, 3 * SEG + 100)
    with pytest.raises(sealio.IntegrityError, match=why):
        sealio.open(io.BytesIO(data[:-drop]), "rb", keys=ring)


def test_a_flipped_bit_in_a_whole_last_segment_is_not_called_truncated(ring: sealio.LocalKeyring) -> None:
    data = bytearray(_sealed(ring, 2 * SEG))  # the final segment is a whole one
    data[-20] ^= 1
    with pytest.raises(sealio.IntegrityError, match="truncated or was modified"):
        sealio.open(io.BytesIO(bytes(data)), "rb", keys=ring)
