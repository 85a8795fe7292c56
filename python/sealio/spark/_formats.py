"""Spark's CSV/JSON/Parquet options as ``pyarrow.dataset`` file formats,
schemas as Spark sees them, batches cast to exactly the declared schema,
and writing one file of batches.

Parsing (and decompressing ``.csv.gz`` & co., told by pyarrow from the
extension) is ``pyarrow.dataset``'s; only the mapping of Spark's options
and schema rules lives here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.json as pajson
import pyarrow.parquet as pq

from sealio.spark._options import Options

__all__ = ["EXTENSIONS", "conform", "file_format", "file_schema", "spark_schema", "write_file"]

EXTENSIONS = {"parquet": ".parquet", "csv": ".csv", "json": ".json"}
_BLOCK = 8 << 20


def _csv_type(t: pa.DataType) -> pa.DataType:
    """Parse zone-less CSV timestamps as naive; :func:`conform` then reads
    them as UTC (a text with an offset is converted by pyarrow)."""
    return pa.timestamp(t.unit) if pa.types.is_timestamp(t) and t.tz is not None else t


def file_format(options: Options, fmt: str, data: pa.Schema | None = None) -> ds.FileFormat:
    """The dataset format for ``fmt``; ``data``: the columns of each file
    (a declared schema less the partition columns), None to infer them."""
    if fmt == "parquet":
        return ds.ParquetFileFormat()
    if fmt == "json":
        parse = pajson.ParseOptions(unexpected_field_behavior="ignore",
                                    explicit_schema=None if data is None else pa.schema(list(data)))
        return ds.JsonFileFormat(parse_options=parse, read_options=pajson.ReadOptions(block_size=_BLOCK))
    if data is not None:  # positional, as Spark matches a declared schema to CSV columns
        read = pacsv.ReadOptions(column_names=data.names, skip_rows=1 if options.header else 0, block_size=_BLOCK)
        types: dict[str, pa.DataType] | None = {f.name: _csv_type(f.type) for f in data}
    else:
        read = pacsv.ReadOptions(autogenerate_column_names=not options.header, block_size=_BLOCK)
        types = None
    return ds.CsvFileFormat(parse_options=pacsv.ParseOptions(delimiter=options.delimiter), read_options=read,
                            convert_options=pacsv.ConvertOptions(column_types=types,
                                                                 null_values=[options.null_value],
                                                                 strings_can_be_null=True,
                                                                 quoted_strings_can_be_null=False))


def spark_schema(options: Options, fmt: str, inferred: pa.Schema, partitions: Sequence[str]) -> pa.Schema:
    """The inferred schema with Spark's CSV rules: ``_c0, _c1, ...`` for
    headerless files, strings unless ``inferSchema`` (data columns only)."""
    if fmt != "csv":
        return inferred
    out = []
    for i, fld in enumerate(f for f in inferred if f.name not in partitions):
        name = fld.name if options.header else f"_c{i}"
        out.append(pa.field(name, fld.type if options.infer_schema else pa.string()))
    return pa.schema(out + [f for f in inferred if f.name in partitions])


def file_schema(fmt: str, target: pa.Schema, partitions: Sequence[str]) -> pa.Schema:
    """What a CSV/JSON file read with :func:`file_format` (``data`` from
    ``target``) yields, before :func:`conform`."""
    fields = [f for f in target if f.name not in partitions]
    return pa.schema([pa.field(f.name, _csv_type(f.type)) for f in fields] if fmt == "csv" else fields)


def conform(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    """Select, order and cast columns to exactly ``target`` (Spark checks
    types and nullability); columns missing from the file become nulls."""
    if batch.schema.equals(target):
        return batch
    arrays = []
    names = batch.schema.names
    for fld in target:
        if fld.name in names:
            col = batch.column(names.index(fld.name))
            arrays.append(col if col.type == fld.type else pc.cast(col, fld.type))
        else:
            arrays.append(pa.nulls(batch.num_rows, fld.type))
    return pa.RecordBatch.from_arrays(arrays, schema=target)


def write_file(options: Options, fmt: str, sink: Any, batches: Iterator[pa.RecordBatch]) -> int:
    """Write ``batches`` as one file into ``sink`` (an output stream of the
    shared layer, sealed and published when the caller closes it); returns
    the row count."""
    rows = 0
    writer: Any = None
    try:
        for batch in batches:
            if fmt == "json":
                lines = [json.dumps(row, default=str, separators=(",", ":")) for row in batch.to_pylist()]
                if lines:
                    sink.write(("\n".join(lines) + "\n").encode("utf-8"))
            else:
                if writer is None:
                    writer = pq.ParquetWriter(sink, batch.schema) if fmt == "parquet" else pacsv.CSVWriter(
                        sink, batch.schema, write_options=pacsv.WriteOptions(include_header=options.header,
                                                                             delimiter=options.delimiter))
                writer.write_batch(batch) if fmt == "parquet" else writer.write(batch)
            rows += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows
