"""The examples in docs/ARROW.md and docs/PME.md run as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import sealio
from sealio.kms import KmsRef

DOCS = Path(__file__).resolve().parent.parent / "docs"


def python_blocks(name: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", (DOCS / name).read_text(), flags=re.S | re.M)


@pytest.mark.slow
def test_arrow_md_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    blocks = python_blocks("ARROW.md")
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)
    KmsRef.forget()
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/ARROW.md", "exec"), namespace)  # noqa: S102 - our own docs
    out = capsys.readouterr().out
    assert "b'\\x89SEALIO\\n'" in out and "(5, 2)" in out
    assert (tmp_path / "data" / "copy.parquet").read_bytes().startswith(b"\x89SEALIO\n")


def test_pme_md_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    [block] = python_blocks("PME.md")
    ring = sealio.LocalKeyring.create(tmp_path / "keyring.json")
    ring.generate("footer")
    ring.generate("col")
    monkeypatch.chdir(tmp_path)
    code = block.replace("local:///home/me/.config/sealio/keyring.json", f"local://{ring.path}")
    exec(compile(code, "docs/PME.md", "exec"), {})  # noqa: S102
    assert os.path.getsize(tmp_path / "pme.parquet") > 0
