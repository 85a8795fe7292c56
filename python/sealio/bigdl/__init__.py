"""BigDL PPML compatibility: read and write its encrypted files and keys.

Unlike BigDL, the HMAC of every part file is verified before plaintext is
returned (``verify_mac=False`` is the explicit, warned salvage opt-out).
See docs/BIGDL.md.
"""

from __future__ import annotations

from typing import Any

from sealio.bigdl.common import CommonWriter, open_common, read_header
from sealio.bigdl.formats import FORMATS, detect_format, open_legacy, open_native, open_part, part_files
from sealio.bigdl.keys import KeySource, PlaintextPrimaryKey, SimpleKms, split_data_key
from sealio.bigdl.meta import read_meta, write_meta
from sealio.bigdl.parts import encrypt_parts, write_directory

__all__ = [
    "CommonWriter",
    "bigdl_batches",
    "bigdl_dataset",
    "open_bigdl_file",
    "read_bigdl_csv",
    "FORMATS",
    "detect_format",
    "open_legacy",
    "open_native",
    "open_part",
    "part_files",
    "KeySource",
    "PlaintextPrimaryKey",
    "SimpleKms",
    "encrypt_parts",
    "open_common",
    "read_header",
    "read_meta",
    "split_data_key",
    "write_directory",
    "write_meta",
]


_LAZY = {"bigdl_batches", "bigdl_dataset", "open_bigdl_file", "read_bigdl_csv"}


def __getattr__(name: str) -> Any:  # pyarrow is imported only when a dataset is read
    if name in _LAZY:
        from sealio.bigdl import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'sealio.bigdl' has no attribute {name!r}")
