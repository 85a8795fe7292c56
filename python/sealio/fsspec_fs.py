"""The ``sealio`` fsspec protocol (compatibility path): the adapter lives in
:mod:`sealio.fs.fsspec`, the rules in :mod:`sealio.fs.policy`.

``sealio::s3://bucket/data/part-0.parquet`` (or ``sealio::file:///...``)
reads and writes sealed files through the inner filesystem, under the same
names, reporting plaintext sizes without reading files; options go in
``storage_options={"sealio": {"keys": "local:///abs/keyring.json"}, "s3": {...}}``.
The protocol is registered by the ``fsspec.specs`` entry point.
"""

from __future__ import annotations

from sealio.fs.fsspec import SealioFileSystem, target_filesystem

__all__ = ["SealioFileSystem", "target_filesystem"]
