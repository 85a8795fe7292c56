"""Read, write and migrate BigDL PPML's encrypted files without a JVM.

Formats: ``common`` (the default since BigDL 2.3; HMAC verified here,
fail closed), ``native`` AES-CBC (no MAC), legacy 2.1/2.2. Key sources:
:class:`PlaintextPrimaryKey`, :class:`SimpleKms`, :class:`Ehsm`. BigDL's keys are weak by
construction (:class:`~sealio.errors.WeakKeyWarning`); ``migrate`` moves
the data to sealed files. See docs/BIGDL.md.
"""

from __future__ import annotations

from sealio.bigdl.common import CommonReader, CommonWriter, encrypt_bytes, encrypt_many, open_common
from sealio.bigdl.dataset import (FORMATS, Opener, csv_batch_reader, detect_format, migrate, part_files,
                                  read_csv_table, read_meta, write_meta)
from sealio.bigdl.ehsm import Ehsm
from sealio.bigdl.keys import DataKey, DataKeyText, KeySource, PlaintextPrimaryKey, SimpleKms

__all__ = ["FORMATS", "CommonReader", "CommonWriter", "DataKey", "DataKeyText", "Ehsm", "KeySource", "Opener",
           "PlaintextPrimaryKey", "SimpleKms", "csv_batch_reader", "detect_format", "encrypt_bytes", "encrypt_many",
           "migrate", "open_common", "part_files", "read_csv_table", "read_meta", "write_meta"]
