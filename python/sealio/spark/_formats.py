"""Parquet, CSV and JSON inside sealed files: schema inference, reading
into batches of exactly the declared schema, and writing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from sealio.spark._files import DataFile, maybe_decompress, open_plain
from sealio.spark._options import Options

__all__ = ["infer_arrow_schema", "read_batches", "conform", "write_file", "EXTENSIONS"]

EXTENSIONS = {"parquet": ".parquet", "csv": ".csv", "json": ".json"}


def _csv_read_options(options: Options, names: Sequence[str] | None) -> pacsv.ReadOptions:
    if names is not None:  # positional, as Spark matches a declared schema to CSV columns
        return pacsv.ReadOptions(column_names=list(names), skip_rows=1 if options.header else 0,
                                 block_size=8 << 20)
    return pacsv.ReadOptions(autogenerate_column_names=not options.header, block_size=8 << 20)


def _csv_type(t: pa.DataType) -> pa.DataType:
    """Parse zone-less CSV timestamps as naive; :func:`conform` then reads
    them as UTC (a text with an offset is converted by pyarrow)."""
    return pa.timestamp(t.unit) if pa.types.is_timestamp(t) and t.tz is not None else t


def _csv_convert(options: Options, types: dict[str, pa.DataType] | None) -> pacsv.ConvertOptions:
    if types is not None:
        types = {k: _csv_type(v) for k, v in types.items()}
    return pacsv.ConvertOptions(column_types=types, null_values=[options.null_value],
                                strings_can_be_null=True, quoted_strings_can_be_null=False)


def infer_arrow_schema(options: Options, fmt: str, f: DataFile) -> pa.Schema:
    """The schema of the first file, as pyarrow reads it."""
    with open_plain(options, f) as raw:
        if fmt == "parquet":
            return pq.read_schema(raw)
        stream = maybe_decompress(raw, f.rel)
        if fmt == "json":
            return pajson.read_json(stream).schema
        reader = pacsv.open_csv(stream, read_options=_csv_read_options(options, None),
                                parse_options=pacsv.ParseOptions(delimiter=options.delimiter),
                                convert_options=_csv_convert(options, None))
        schema = reader.schema
        if not options.header:  # Spark's names for headerless CSV
            schema = pa.schema([pa.field(f"_c{i}", fld.type) for i, fld in enumerate(schema)])
        if not options.infer_schema:
            schema = pa.schema([pa.field(fld.name, pa.string()) for fld in schema])
        return schema


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


def read_batches(options: Options, fmt: str, f: DataFile, target: pa.Schema,
                 row_groups: Sequence[int] | None, predicate: Any) -> Iterator[pa.RecordBatch]:
    """Decrypt and parse one file (or some of its row groups)."""
    with open_plain(options, f) as raw:
        if fmt == "parquet":
            pf = pq.ParquetFile(raw)
            present = set(pf.schema_arrow.names)
            columns = [n for n in target.names if n in present]
            batches: Any = pf.iter_batches(batch_size=options.batch_rows, row_groups=row_groups,
                                           columns=columns, use_threads=False)
        else:
            stream = maybe_decompress(raw, f.rel)
            if fmt == "csv":
                table = pacsv.read_csv(stream, read_options=_csv_read_options(options, target.names),
                                       parse_options=pacsv.ParseOptions(delimiter=options.delimiter),
                                       convert_options=_csv_convert(options, dict(zip(target.names, target.types))))
            else:
                table = pajson.read_json(stream, parse_options=pajson.ParseOptions(
                    explicit_schema=pa.schema([pa.field(x.name, x.type) for x in target]),
                    unexpected_field_behavior="ignore"))
            batches = table.to_batches(max_chunksize=options.batch_rows)
        for batch in batches:
            if predicate is not None:
                batch = batch.filter(predicate)
            if batch.num_rows:
                yield conform(batch, target)


def write_file(options: Options, fmt: str, path: str, aad: str | None,
               batches: Iterator[pa.RecordBatch], master_key: str | None) -> int:
    """Write ``batches`` as one sealed file (published atomically on close,
    removed if anything fails); returns the row count."""
    from sealio.streams import open as sealed_open

    rows = 0
    with sealed_open(path, "wb", keys=options.keys, master_key=master_key, aad=aad) as sink:
        writer: Any = None
        try:
            for batch in batches:
                if writer is None:
                    writer = _open_writer(fmt, sink, batch.schema, options)
                if fmt == "json":
                    _write_json(sink, batch)
                else:
                    writer.write_batch(batch) if fmt == "parquet" else writer.write(batch)
                rows += batch.num_rows
        finally:
            if writer is not None and fmt != "json":
                writer.close()
    return rows


def _open_writer(fmt: str, sink: Any, schema: pa.Schema, options: Options) -> Any:
    if fmt == "parquet":
        return pq.ParquetWriter(sink, schema)
    if fmt == "csv":
        return pacsv.CSVWriter(sink, schema, write_options=pacsv.WriteOptions(
            include_header=options.header, delimiter=options.delimiter))
    return True  # json: written row by row


def _write_json(sink: Any, batch: pa.RecordBatch) -> None:
    import json

    lines = [json.dumps(row, default=str, separators=(",", ":")) for row in batch.to_pylist()]
    if lines:
        sink.write(("\n".join(lines) + "\n").encode("utf-8"))
