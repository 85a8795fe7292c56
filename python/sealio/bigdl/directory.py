"""A BigDL output directory: its part files and its ``.meta``.

BigDL writes one part file per partition next to a ``.meta`` JSON object
holding the write call's ``encryptedDataKey`` (and Spark's ``_SUCCESS``,
``.crc`` files); readers, the filesystems, Parquet migration and the CLI
all find parts and keys here, so this module imports no format.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sealio.errors import FormatError
from sealio.io.atomic import AtomicFileSink
from sealio.io.tree import walk_tree

__all__ = ["META_MAX", "is_part", "parse_meta", "part_files", "read_meta", "write_meta"]

_SKIP_PREFIXES = (".", "_")
META_MAX = 64 << 10  # BigDL's .meta is one short JSON object; anything larger is not one


def is_part(rel: str) -> bool:
    """Whether the file at POSIX path ``rel`` inside a BigDL output holds
    data: nothing under a name starting with ``.`` or ``_`` does (``.meta``,
    ``_SUCCESS``, ``.crc`` files, Spark's ``_temporary``)."""
    return not any(part.startswith(_SKIP_PREFIXES) for part in rel.split("/"))


def _quiet(_path: Path, _why: str) -> None:
    """Entries that are not regular files are not parts: left out silently."""


def part_files(path: str | os.PathLike[str]) -> list[Path]:
    """The data files of a BigDL output, sorted: a file itself, or a
    directory's regular files that :func:`is_part` accepts. Symbolic links
    are followed (loops cut), as a dataset reader always has."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise FileNotFoundError(f"{p}: no such file or directory")
    return sorted(f for f, rel in walk_tree(p, follow_symlinks=True, on_skip=_quiet) if is_part(rel))


def read_meta(directory: str | os.PathLike[str]) -> str | None:
    """The ``encryptedDataKey`` of a directory's ``.meta`` (case-insensitive
    field name, unknown fields ignored), or None when there is none."""
    meta = Path(directory) / ".meta"
    if not meta.is_file():
        return None
    with open(meta, "rb") as f:
        return parse_meta(f.read(META_MAX + 1), str(meta))


def parse_meta(raw: bytes, name: str = ".meta") -> str | None:
    """``.meta`` bytes -> its ``encryptedDataKey`` ("" when BigDL had none
    to record, None for an empty file). Anything hostile (too large, too
    deep, an integer past Python's digit limit) is a :class:`FormatError`."""
    if len(raw) > META_MAX:
        raise FormatError(f"{name}: larger than {META_MAX} bytes, not a BigDL .meta")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise FormatError(f"{name}: not UTF-8 text") from None
    if not text:
        return None
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError, int digit limit, nesting depth
        raise FormatError(f"{name}: not JSON (or nested or sized beyond any BigDL .meta)") from None
    for k, v in doc.items() if isinstance(doc, dict) else ():
        if k.lower() == "encrypteddatakey" and isinstance(v, str):
            return v
    raise FormatError(f"{name}: no encryptedDataKey field")


def write_meta(directory: str | os.PathLike[str], encrypted_data_key: str) -> None:
    """As BigDL's Jackson pretty printer writes it; published atomically
    (a new exclusive temporary file renamed over ``.meta``, never written
    through a link planted there)."""
    body = ('{\n  "encryptedDataKey" : ' + json.dumps(encrypted_data_key) + "\n}\n").encode("utf-8")
    sink = AtomicFileSink(Path(directory, ".meta"))
    try:
        sink.write(memoryview(body))
        sink.publish()
    except BaseException:
        sink.abort()
        raise
