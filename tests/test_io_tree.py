"""sealio.io.tree.walk: the one tree walker's rules (lstat, links and
special files skipped with one report each through ``on_skip``, our
temporary files hidden, loops cut, the root followed)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from sealio.io.tree import walk


def _tree(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    (root / "b.csv").write_text("b")
    (root / "a.csv").write_text("a")
    (root / "sub" / "c.csv").write_text("c")
    (root / ".a.csv.x1.sealio-tmp").write_text("half-written")
    os.symlink(root / "a.csv", root / "link.csv")
    os.mkfifo(root / "pipe")


def test_files_in_order_and_skips_reported(tmp_path: Path) -> None:
    _tree(tmp_path)
    skips: list[tuple[Path, str]] = []
    got = [rel for _, rel in walk(tmp_path, on_skip=lambda p, why: skips.append((p, why)))]
    assert got == ["a.csv", "b.csv", "sub/c.csv"]  # files before subdirectories, sorted
    assert sorted(p.name for p, _ in skips) == ["link.csv", "pipe"]  # the temporary file silently
    why = dict((p.name, w) for p, w in skips)
    assert "symbolic link, not followed" in why["link.csv"] and "FIFO" in why["pipe"]


def test_follow_symlinks_follows_and_cuts_loops(tmp_path: Path) -> None:
    _tree(tmp_path)
    os.symlink(tmp_path, tmp_path / "sub" / "up")
    skips: list[str] = []
    got = [rel for _, rel in walk(tmp_path, follow_symlinks=True, on_skip=lambda p, why: skips.append(why))]
    assert got == ["a.csv", "b.csv", "link.csv", "sub/c.csv"]
    assert any("directory loop" in w for w in skips)


def test_the_root_is_followed_and_checked(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert [(p, rel) for p, rel in walk(tmp_path / "f")] == [(tmp_path / "f", "f")]
    with pytest.raises(FileNotFoundError):
        list(walk(tmp_path / "missing"))
    os.mkfifo(tmp_path / "p")
    with pytest.raises(ValueError, match="FIFO, not a regular file or a directory"):
        list(walk(tmp_path / "p"))


def test_skips_are_logged_without_a_callback(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _tree(tmp_path)
    with caplog.at_level(logging.WARNING, logger="sealio.io.tree"):
        assert len(list(walk(tmp_path))) == 3
    assert sum("skipped" in r.getMessage() for r in caplog.records) == 2
