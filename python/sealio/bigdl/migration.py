"""Moving BigDL-encrypted outputs to sealed files.

Every part's MAC is verified before a byte of it is written, each sealed
file appears atomically, and memory stays constant. Parquet parts that
BigDL encrypted with Parquet Modular Encryption (:mod:`sealio.bigdl.parquet`)
become sealed plain Parquet.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from sealio.bigdl.dataset import Opener
from sealio.bigdl.directory import output_pairs, part_files
from sealio.bigdl.keys import DataKey
from sealio.errors import ConfigurationError
from sealio.io import ops

__all__ = ["migrate"]


def migrate(src: str | os.PathLike[str], dst: str | os.PathLike[str], opener: Opener, *, keys: Any,
            master_key: str | None = None, on_bytes: Callable[[int], None] | None = None,
            on_file: Callable[[Path, Path], None] | None = None,
            parts: Sequence[Path] | None = None) -> list[Path]:
    """Re-encrypt every BigDL part under ``src`` into a sealed file under
    ``dst`` (same relative names, less BigDL's ``.cbc`` suffix: the names
    ``sealio encrypt`` gives sealed files; into ``dst`` when it is a
    directory and ``src`` a file), streaming in constant memory; each part's
    MAC is verified before a byte of it is written, and each sealed file
    appears atomically. Parquet parts that BigDL encrypted with PME become
    sealed plain Parquet, one row group at a time. ``on_file(part, out)``
    runs before anything is created for ``out`` (it may refuse by raising);
    ``parts`` replaces :func:`part_files` (e.g. a walk that skips links)."""
    from sealio.bigdl import parquet as bigdl_parquet  # late: PME support stays unloaded until a part needs it

    written = []
    for part, out in output_pairs(src, dst, part_files(src) if parts is None else parts):
        if on_file:
            on_file(part, out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if part.stat().st_size and bigdl_parquet.is_pme(part):
            key = _pme_key(opener, part)
            with ops.open(out, "wb", keys=keys, master_key=master_key) as fout:
                bigdl_parquet.migrate_file(part, fout, key)
            if on_bytes:
                on_bytes(part.stat().st_size)
            written.append(out)
            continue
        with opener(part) as fin, ops.open(out, "wb", keys=keys, master_key=master_key) as fout:
            for chunk in _chunks(fin):
                fout.write(chunk)
                if on_bytes:
                    on_bytes(len(chunk))
        written.append(out)
    return written


def _pme_key(opener: Opener, part: Path) -> DataKey:
    """The data key of a BigDL PME Parquet part: the ``.meta`` key, through the KMS."""
    if opener.keys is None or not opener.meta_key:
        raise ConfigurationError(f"{part}: BigDL Parquet (Parquet Modular Encryption) needs the directory's "
                                 ".meta and the KMS options that wrapped it")
    key = opener.keys.decrypt_data_key(opener.meta_key)
    key.warn_if_weak(str(part))
    return key


def _chunks(f: IO[bytes], size: int = 4 << 20) -> Iterator[bytes]:
    while chunk := f.read(size):
        yield chunk
