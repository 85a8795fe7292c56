"""The per-directory ``.meta`` file BigDL writes next to its part files.

Common format: Jackson's pretty print of ``{"encryptedDataKey": ...}``;
native format: an empty file. BigDL's append mode overwrites it, so it
names only the newest write's key: readers use each part's own header.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sealio.errors import FormatError

__all__ = ["META_NAME", "meta_text", "read_meta", "write_meta"]

META_NAME = ".meta"


def meta_text(encrypted_data_key: str | None) -> str:
    """The exact bytes BigDL writes (empty for the native format)."""
    if encrypted_data_key is None:
        return ""
    return "{\n  \"encryptedDataKey\" : " + json.dumps(encrypted_data_key) + "\n}\n"


def read_meta(directory: str | os.PathLike[str]) -> str | None:
    """The directory's encryptedDataKey, "" for an empty (native) .meta,
    None when there is no .meta. Field names match case-insensitively;
    unknown fields are ignored, as in BigDL."""
    path = Path(directory) / META_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    if not text.strip():
        return ""
    try:
        doc = json.loads(text)
    except ValueError:
        raise FormatError(f"{path}: not JSON") from None
    if not isinstance(doc, dict):
        raise FormatError(f"{path}: not a JSON object")
    for k, v in doc.items():
        if k.lower() == "encrypteddatakey" and isinstance(v, str):
            return v
    raise FormatError(f"{path}: no encryptedDataKey field")


def write_meta(directory: str | os.PathLike[str], encrypted_data_key: str | None) -> None:
    tmp = Path(directory) / (META_NAME + ".sealio-tmp")
    tmp.write_text(meta_text(encrypted_data_key), encoding="utf-8")
    os.replace(tmp, Path(directory) / META_NAME)
