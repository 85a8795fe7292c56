"""Read, write and migrate BigDL PPML's encrypted files without a JVM.

Formats: ``common`` (the default since BigDL 2.3; HMAC verified here,
fail closed), ``native`` AES-CBC (no MAC), legacy 2.1/2.2. Key sources:
:class:`PlaintextPrimaryKey`, :class:`SimpleKms`, :class:`Ehsm`. BigDL's keys are weak by
construction (:class:`~sealio.errors.WeakKeyWarning`); ``migrate`` moves
the data to sealed files. See docs/BIGDL.md.

Modules, one format or job each: :mod:`.common`, :mod:`.native`,
:mod:`.legacy` (the three CBC formats, read through :mod:`._cbcfile`),
:mod:`.parquet` (BigDL's PME Parquet), :mod:`.keys` and :mod:`.config`
(key sources), :mod:`.directory` (part files and ``.meta``),
:mod:`.dataset` (opening and reading outputs), :mod:`.migration` (to
sealed files), :mod:`.filesystem` and :mod:`.fsspec_fs` (filesystems).
"""

from __future__ import annotations

from sealio.bigdl.common import CommonReader, CommonWriter, encrypt_bytes, encrypt_many, open_common
from sealio.bigdl.config import EnvKeySource, key_source, load_key_file, opener
from sealio.bigdl.dataset import FORMATS, Opener, csv_batch_reader, detect_format, read_csv_table
from sealio.bigdl.directory import part_files, read_meta, write_meta
from sealio.bigdl.ehsm import Ehsm
from sealio.bigdl.keys import DataKey, DataKeyText, KeySource, PlaintextPrimaryKey, SimpleKms
from sealio.bigdl.migration import migrate

__all__ = ["FORMATS", "BigDLFileSystem", "CommonReader", "CommonWriter", "DataKey", "DataKeyText", "Ehsm",
           "EnvKeySource", "KeySource", "Opener", "PlaintextPrimaryKey", "SimpleKms", "csv_batch_reader",
           "detect_format", "encrypt_bytes", "encrypt_many", "key_source", "load_key_file", "migrate",
           "open_common", "open_dataset", "opener", "part_files", "read_csv_table", "read_meta", "write_meta"]


def __getattr__(name: str) -> object:
    # pyarrow.fs and fsspec load only when a filesystem is asked for
    if name == "BigDLFileSystem":
        from sealio.bigdl.filesystem import BigDLFileSystem
        return BigDLFileSystem
    if name == "open_dataset":
        from sealio.bigdl.filesystem import open_dataset
        return open_dataset
    raise AttributeError(f"module 'sealio.bigdl' has no attribute {name!r}")
