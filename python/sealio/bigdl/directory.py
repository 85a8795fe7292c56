"""A BigDL output directory: its part files and its ``.meta``.

BigDL writes one part file per partition next to a ``.meta`` JSON object
holding the write call's ``encryptedDataKey`` (and Spark's ``_SUCCESS``,
``.crc`` files); readers, the filesystems, Parquet migration and the CLI
all find parts and keys here, so this module imports no format.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from sealio.errors import ConfigurationError, FormatError
from sealio.io.atomic import AtomicFileSink
from sealio.io.tree import walk_tree

__all__ = ["CBC_SUFFIX", "META_MAX", "is_part", "output_pairs", "parse_meta", "part_files", "plaintext_name",
           "read_meta", "write_meta"]

_SKIP_PREFIXES = (".", "_")
CBC_SUFFIX = ".cbc"  # the extension of BigDL's CryptoCodec
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


def plaintext_name(name: str) -> str:
    """A part's name without BigDL's ``.cbc`` suffix: the name of its
    plaintext, and of its sealed file (sealed files keep the plaintext's
    name, as ``sealio encrypt`` writes them)."""
    return name[:-len(CBC_SUFFIX)] if name.endswith(CBC_SUFFIX) and len(name) > len(CBC_SUFFIX) else name


def output_pairs(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                 parts: Sequence[Path]) -> list[tuple[Path, Path]]:
    """(part, output) for decrypting or migrating ``parts`` of ``src``: a
    tree is mirrored under ``dst`` with ``.cbc`` dropped from each name; a
    single file goes to ``dst``, or into it when ``dst`` is a directory.
    Two parts that would land on one output (``a.csv`` and ``a.csv.cbc``)
    are a :class:`ConfigurationError`, raised before anything is written."""
    src_p, dst_p = Path(src), Path(dst)
    pairs = []
    for part in parts:
        if src_p.is_dir():
            rel = part.relative_to(src_p)
            out = dst_p / rel.parent / plaintext_name(rel.name)
        else:
            out = dst_p / plaintext_name(part.name) if dst_p.is_dir() else dst_p
        pairs.append((part, out))
    seen: dict[Path, Path] = {}
    for part, out in pairs:
        if out in seen:
            raise ConfigurationError(f"{seen[out]} and {part} would both be written to {out}")
        seen[out] = part
    return pairs


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
