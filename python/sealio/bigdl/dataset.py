"""Reading BigDL-encrypted outputs: format detection, the :class:`Opener`
of part files, and pyarrow tables and batch readers over a directory.

Keys are read from each part file's own header: BigDL's append mode
overwrites ``.meta`` with the newest data key, which would orphan older
parts. The directory's layout (part files, ``.meta``) is
:mod:`sealio.bigdl.directory`, re-exported here; migration to sealed files
is :mod:`sealio.bigdl.migration`.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sealio.bigdl import common, legacy, native
from sealio.bigdl._cbcfile import CbcFile, open_source
from sealio.bigdl.directory import META_MAX, parse_meta, part_files, read_meta, write_meta
from sealio.bigdl.formats import FORMATS
from sealio.bigdl.keys import DataKey, KeySource
from sealio.errors import ConfigurationError, FormatError

__all__ = ["FORMATS", "META_MAX", "Opener", "csv_batch_reader", "detect_format", "parse_meta", "part_files",
           "read_csv_table", "read_meta", "write_meta"]


def detect_format(path: str | os.PathLike[str]) -> str:
    """``common`` where the bytes say so unambiguously; the native format
    has no header and cannot be told from noise, and legacy files do not
    record their key size."""
    with open(path, "rb") as f:
        return _detect(f, os.fspath(path))


def _detect(f: IO[bytes], name: str) -> str:
    f.seek(0)
    head = f.read(common.HEADER_SIZE)
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    if size == 0:
        return "common"
    if len(head) == common.HEADER_SIZE:
        try:
            common.parse_header(head)
            if head[-1] == common.FILL:
                return "common"
        except FormatError:
            pass
    if head[:1] == bytes([legacy.LEGACY_MAGIC]):
        raise FormatError(f"{name}: looks like a BigDL 2.1/2.2 legacy file: pass --format legacy-2.1 "
                          "or legacy-2.2 (the key size differs and is not recorded)")
    raise FormatError(f"{name}: not a BigDL common-format file (for native AES-CBC files pass "
                      "--format native)")


class _CachedKeys:
    """A key source that asks its inner source once per encrypted data key
    (a BigDL write call shares one key across its parts; eHSM is a network
    round trip). Lives in memory only."""

    LIMIT = 1024

    def __init__(self, inner: KeySource) -> None:
        self.inner = inner
        self._keys: dict[str, DataKey] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"_CachedKeys({self.inner!r})"

    def __reduce__(self) -> Any:
        raise TypeError("a BigDL key cache holds data keys and cannot be pickled")

    def decrypt_data_key(self, encrypted: str) -> DataKey:
        with self._lock:
            key = self._keys.get(encrypted)
        if key is None:
            key = self.inner.decrypt_data_key(encrypted)
            with self._lock:
                if len(self._keys) >= self.LIMIT:
                    self._keys.clear()
                self._keys[encrypted] = key
        return key

    def new_data_key(self) -> tuple[str, DataKey]:
        return self.inner.new_data_key()


class Opener:
    """Opens BigDL part files of one format as authenticated, seekable
    plaintext streams. Data keys are decrypted once per distinct
    ``encryptedDataKey`` and kept in memory for this opener's lifetime.
    ``meta_key``: the directory's ``.meta`` ``encryptedDataKey``, for parts
    whose header carries no key (BigDL's Python ``generate_encrypted_file``)
    and for native files written under a KMS. It pickles only when its key
    source does (:class:`~sealio.bigdl.EnvKeySource`)."""

    def __init__(self, fmt: str, *, keys: KeySource | None = None, primary_key_b64: str | None = None,
                 data_key: DataKey | None = None, verify_mac: bool = True, meta_key: str | None = None) -> None:
        if fmt not in (*FORMATS, "auto"):
            raise ValueError(f"unknown BigDL format {fmt!r} (one of {', '.join(FORMATS)}, auto)")
        self.fmt, self.primary_key_b64 = fmt, primary_key_b64
        self.keys = None if keys is None else _CachedKeys(keys)
        self.data_key, self.verify_mac, self.meta_key = data_key, verify_mac, meta_key or None

    def __repr__(self) -> str:
        return f"Opener({self.fmt!r}, verify_mac={self.verify_mac})"

    def __reduce__(self) -> Any:
        # only configuration travels; a source holding secrets refuses to pickle itself
        if self.primary_key_b64 is not None or self.data_key is not None:
            raise TypeError("a BigDL opener with a primary key or data key cannot be pickled "
                            "(key material never travels in a pickle)")
        return (Opener, (self.fmt,), {"keys": None if self.keys is None else self.keys.inner,
                                      "verify_mac": self.verify_mac, "meta_key": self.meta_key})

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(self.fmt, keys=state["keys"], verify_mac=state["verify_mac"],  # type: ignore[misc]
                      meta_key=state.get("meta_key"))

    def __call__(self, path: str | os.PathLike[str]) -> io.BufferedReader:
        """The file at ``path`` as a buffered, seekable plaintext stream."""
        return io.BufferedReader(self.open_raw(path), 1 << 20)

    def _native_key(self) -> str:
        """The plaintext primary key, or, for a native write under a KMS, the
        base64 data key that ``.meta`` wraps (unwrapped once, on first use)."""
        if self.primary_key_b64 is not None:
            return self.primary_key_b64
        if self.keys is None or not self.meta_key:
            raise ConfigurationError("the native format needs the plaintext primary key, or a KMS "
                                     "and the directory's .meta")
        return self.keys.decrypt_data_key(self.meta_key).text  # cached by _CachedKeys

    def open_raw(self, file: str | os.PathLike[str] | IO[bytes], *, name: str | None = None) -> CbcFile:
        """A path or an open binary file (closed with the reader) as a raw
        :class:`~sealio.bigdl._cbcfile.CbcFile`. A 0-byte file is BigDL's
        empty partition and reads as empty whatever the format, before any
        key is resolved; a file of 1..N bytes too short for its format is
        refused."""
        f, _ = open_source(file)
        if name is None:
            name = os.fspath(file) if isinstance(file, (str, os.PathLike)) else str(getattr(f, "name", "file"))
        try:
            if f.seek(0, os.SEEK_END) == 0:  # an empty partition: empty in every format, no key needed
                return CbcFile.empty(f, True, name)
            f.seek(0)
            fmt = _detect(f, name) if self.fmt == "auto" else self.fmt
            if fmt == "common":
                if self.keys is None:
                    raise ConfigurationError("the common format needs a key source")
                return common.open_common_stream(f, self.keys, verify_mac=self.verify_mac, name=name,
                                                 owns=True, default_key=self.meta_key)
            if fmt == "native":
                return native.open_native_stream(f, self._native_key(), name=name, owns=True)
            if self.data_key is None:
                raise ConfigurationError("legacy formats need the data key (from the dataKey file)")
            return legacy.open_legacy_stream(f, self.data_key, fmt, verify_mac=self.verify_mac, name=name,
                                             owns=True)
        except BaseException:
            f.close()
            raise


def read_csv_table(path: str | os.PathLike[str], opener: Opener, **read_options: Any) -> Any:
    """A BigDL-encrypted CSV output (with header, as SimpleQuery writes and
    reads it) as one ``pyarrow.Table``; every part is authenticated first."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    tables = []
    for part in part_files(path):
        if Path(part).stat().st_size == 0:
            continue
        with opener(part) as f:
            tables.append(pacsv.read_csv(f, **read_options))
    if not tables:
        raise FormatError(f"{path}: no non-empty part files")
    return pa.concat_tables(tables, promote_options="default")


def csv_batch_reader(path: str | os.PathLike[str], opener: Opener, **read_options: Any) -> Any:
    """A streaming ``pyarrow.RecordBatchReader`` over a BigDL CSV output:
    one part decrypted (and authenticated) at a time, so memory is bounded
    by a part's parse buffers, not the dataset. The schema is inferred from
    the first non-empty part and imposed on the others. DuckDB, polars and
    ``pyarrow.dataset.dataset(reader)`` consume it directly."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    parts = [p for p in part_files(path) if Path(p).stat().st_size]
    if not parts:
        raise FormatError(f"{path}: no non-empty part files")
    first = opener(parts[0])
    try:
        reader = pacsv.open_csv(first, **read_options)
    except BaseException:
        first.close()
        raise
    schema = reader.schema
    conv = read_options.pop("convert_options", None) or pacsv.ConvertOptions()
    conv.column_types = dict(zip(schema.names, schema.types))

    def batches() -> Iterator[Any]:
        with first:
            yield from reader
        for p in parts[1:]:
            with opener(p) as f:
                yield from pacsv.open_csv(f, convert_options=conv, **read_options)

    return pa.RecordBatchReader.from_batches(schema, batches())
