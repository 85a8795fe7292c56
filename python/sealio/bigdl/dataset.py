"""BigDL-encrypted CSV directories as Arrow data (pyarrow, no JVM).

Spark writes one CSV per partition, each with its own header line when
``header=true``. Parts are decrypted and parsed one at a time (HMAC
verified first), so :func:`bigdl_batches` streams in bounded memory; the
schema is inferred from the first non-empty part and imposed on the rest.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads

from sealio.bigdl.formats import open_part, part_files
from sealio.bigdl.keys import KeySource

__all__ = ["bigdl_batches", "bigdl_dataset", "open_bigdl_file", "read_bigdl_csv"]


def open_bigdl_file(path: str | os.PathLike[str] | IO[bytes], keys: KeySource, *, format: str = "common",
                    verify_mac: bool = True, encrypted_data_key: str | None = None) -> io.BufferedReader:
    """One BigDL part file as a readable, buffered binary file object
    (plaintext; the HMAC is verified before the first byte)."""
    raw = open_part(path, keys, format=format, verify_mac=verify_mac, encrypted_data_key=encrypted_data_key)
    return io.BufferedReader(raw, buffer_size=1 << 20)


def _csv_reader(f: IO[bytes], header: bool, schema: pa.Schema | None,
                parse: pacsv.ParseOptions | None) -> pacsv.CSVStreamingReader:
    read = pacsv.ReadOptions(autogenerate_column_names=not header,
                             column_names=None if header or schema is None else schema.names)
    conv = pacsv.ConvertOptions(column_types=dict(zip(schema.names, schema.types)) if schema else None)
    return pacsv.open_csv(f, read_options=read, parse_options=parse, convert_options=conv)


def bigdl_batches(directory: str | os.PathLike[str], keys: KeySource, *, header: bool = True,
                  format: str = "common", verify_mac: bool = True,
                  parse_options: pacsv.ParseOptions | None = None) -> pa.RecordBatchReader:
    """A streaming :class:`pyarrow.RecordBatchReader` over every part file
    of a BigDL CSV directory (keys from each part's own header)."""
    parts = part_files(directory) if Path(directory).is_dir() else [Path(directory)]
    parts = [p for p in parts if p.stat().st_size]
    if not parts:
        raise ValueError(f"{directory}: no non-empty part files")
    first = open_bigdl_file(parts[0], keys, format=format, verify_mac=verify_mac)
    try:
        reader = _csv_reader(first, header, None, parse_options)
    except BaseException:
        first.close()
        raise
    schema = reader.schema

    def batches() -> Iterator[pa.RecordBatch]:
        with first:
            yield from reader
        for p in parts[1:]:
            with open_bigdl_file(p, keys, format=format, verify_mac=verify_mac) as f:
                yield from _csv_reader(f, header, schema, parse_options)

    return pa.RecordBatchReader.from_batches(schema, batches())


def read_bigdl_csv(directory: str | os.PathLike[str], keys: KeySource, **kw: Any) -> pa.Table:
    """The whole BigDL CSV directory as one table."""
    return bigdl_batches(directory, keys, **kw).read_all()


def bigdl_dataset(directory: str | os.PathLike[str], keys: KeySource, **kw: Any) -> pads.Dataset:
    """The directory as a :mod:`pyarrow.dataset` dataset (filters and
    projections through the usual ``to_table(filter=...)`` API; DuckDB and
    polars scan it too). Decrypted and verified on construction."""
    return pads.dataset(read_bigdl_csv(directory, keys, **kw))
