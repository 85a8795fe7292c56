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

from typing import TYPE_CHECKING

from sealio import _lazy

# Every public name and the module that defines it, imported on first use
# (PEP 562): ``import sealio.bigdl.formats`` from the CLI's parser must not
# load every format, key source and pyarrow with it.
_WHERE = {
    "CommonReader": "common", "CommonWriter": "common", "encrypt_bytes": "common",
    "encrypt_many": "common", "open_common": "common",
    "EnvKeySource": "config", "key_source": "config", "load_key_file": "config", "opener": "config",
    "Opener": "dataset", "csv_batch_reader": "dataset", "detect_format": "dataset",
    "read_csv_table": "dataset",
    "FORMATS": "formats",
    "part_files": "directory", "read_meta": "directory", "write_meta": "directory",
    "Ehsm": "ehsm",
    "DataKey": "keys", "DataKeyText": "keys", "KeySource": "keys", "PlaintextPrimaryKey": "keys",
    "SimpleKms": "keys",
    "migrate": "migration",
    "BigDLFileSystem": "filesystem", "open_dataset": "filesystem",  # pyarrow.fs and fsspec with them
}

if TYPE_CHECKING:
    from sealio.bigdl.common import CommonReader, CommonWriter, encrypt_bytes, encrypt_many, open_common
    from sealio.bigdl.config import EnvKeySource, key_source, load_key_file, opener
    from sealio.bigdl.dataset import Opener, csv_batch_reader, detect_format, read_csv_table
    from sealio.bigdl.directory import part_files, read_meta, write_meta
    from sealio.bigdl.ehsm import Ehsm
    from sealio.bigdl.filesystem import BigDLFileSystem, open_dataset
    from sealio.bigdl.formats import FORMATS
    from sealio.bigdl.keys import DataKey, DataKeyText, KeySource, PlaintextPrimaryKey, SimpleKms
    from sealio.bigdl.migration import migrate

__all__ = sorted(_WHERE)


__getattr__, __dir__ = _lazy.exports(__name__, {name: f"sealio.bigdl.{module}" for name, module in _WHERE.items()})
