"""Reading: one partition per file, per group of row groups for large
Parquet files; optional filter pushdown with partition and row-group
pruning (``pyarrow.dataset``'s, from the filters :mod:`._filters` translates)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from pyspark.sql.datasource import DataSourceReader, InputPartition
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType

from sealio.spark._filters import combine, to_expression
from sealio.spark._formats import conform, file_format, file_schema
from sealio.spark._options import Options
from sealio.spark._storage import Location, dataset_filesystem, discover

__all__ = ["SealedInputPartition", "SealedDataSourceReader", "FilteringSealedDataSourceReader", "arrow_schema",
           "pushdown_requested"]


@dataclass
class SealedInputPartition(InputPartition):
    """One file, or some row groups of one Parquet file, with its hive
    partition values and the dataset's partition column names (picklable,
    no keys); ``path`` None: an empty dataset."""

    path: str | None
    row_groups: tuple[int, ...] | None = None
    partition: pc.Expression | None = None
    names: tuple[str, ...] = ()

    def __init__(self, path: str | None, row_groups: tuple[int, ...] | None = None,
                 partition: pc.Expression | None = None, names: tuple[str, ...] = ()) -> None:
        super().__init__(path or "")
        self.path = path
        self.row_groups = row_groups
        self.partition = partition
        self.names = names


def arrow_schema(schema: StructType) -> pa.Schema:
    return to_arrow_schema(schema, timezone="UTC")


class SealedDataSourceReader(DataSourceReader):
    """Reads a dataset through the shared filesystem layer; Spark pickles it
    to the Python workers, which rebuild filesystems and keys from
    ``options`` (configuration only)."""

    def __init__(self, options: Options, fmt: str, schema: StructType, where: Location) -> None:
        self.options = options
        self.fmt = fmt
        self.where = where
        self.target = arrow_schema(schema)
        self.filters: list[Any] = []

    def _format(self, names: Sequence[str]) -> ds.FileFormat:
        """The format reading files whose partition columns are ``names``."""
        return file_format(self.options, self.fmt, None if self.fmt == "parquet"
                           else file_schema(self.fmt, self.target, names))

    def _predicate(self) -> pc.Expression | None:
        return combine(e for e in (to_expression(f, self.target) for f in self.filters) if e is not None)

    def partitions(self) -> Sequence[InputPartition]:
        fs = dataset_filesystem(self.options, self.where.root)
        # Planning opens no file but Parquet footers: partition values come from the paths,
        # typed as the declared schema says (columns it leaves out are not read).
        dataset = discover(fs, self.where, ds.ParquetFileFormat(), self.target)
        predicate = self._predicate()
        fragments = list(dataset.get_fragments() if predicate is None else dataset.get_fragments(filter=predicate))
        names = tuple(sorted({k for f in fragments for k in ds.get_partition_keys(f.partition_expression)},
                             key=self.target.names.index))
        parts: list[InputPartition] = []
        split = self.fmt == "parquet"
        sizes = {i.path: i.size for i in fs.get_file_info([f.path for f in fragments])} if split else {}
        for frag in fragments:
            expr = None if frag.partition_expression.equals(pc.scalar(True)) else frag.partition_expression
            size = sizes.get(frag.path)
            if split and (predicate is not None or size is None or size > self.options.max_partition_bytes):
                parts.extend(self._row_group_splits(frag, expr, names, predicate))
            else:
                parts.append(SealedInputPartition(frag.path, None, expr, names))
        return parts or [SealedInputPartition(None, ())]

    def _row_group_splits(self, frag: Any, expr: pc.Expression | None, names: tuple[str, ...],
                          predicate: pc.Expression | None) -> list[SealedInputPartition]:
        """Row groups grouped up to maxPartitionBytes (compressed size);
        groups whose statistics rule out the pushed filters are dropped."""
        pieces = frag.split_by_row_group() if predicate is None else frag.split_by_row_group(filter=predicate)
        out: list[SealedInputPartition] = []
        group: list[int] = []
        size = 0
        for piece in pieces:
            rg = piece.row_groups[0]
            if group and size + rg.total_byte_size > self.options.max_partition_bytes:
                out.append(SealedInputPartition(frag.path, tuple(group), expr, names))
                group, size = [], 0
            group.append(rg.id)
            size += rg.total_byte_size
        if group:
            out.append(SealedInputPartition(frag.path, tuple(group), expr, names))
        return out

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, SealedInputPartition)
        if partition.path is None:  # an empty dataset
            return
        fs: pafs.FileSystem = dataset_filesystem(self.options, self.where.root)
        names = partition.names
        fmt = self._format(names)
        expr = pc.scalar(True) if partition.partition is None else partition.partition
        if partition.row_groups is not None:
            frag = fmt.make_fragment(partition.path, fs, partition_expression=expr,
                                     row_groups=list(partition.row_groups))
        else:
            frag = fmt.make_fragment(partition.path, fs, partition_expression=expr)
        physical = frag.physical_schema if self.fmt == "parquet" else file_schema(self.fmt, self.target, names)
        schema = pa.schema([f for f in physical if f.name not in names] + [self.target.field(n) for n in names])
        columns = [n for n in self.target.names if n in schema.names]
        for batch in frag.to_batches(schema=schema, columns=columns, filter=self._predicate(),
                                     batch_size=self.options.batch_rows, use_threads=False):
            if batch.num_rows:
                yield conform(batch, self.target)


class FilteringSealedDataSourceReader(SealedDataSourceReader):
    """The reader with ``pushFilters``: Spark refuses any reader that has it
    unless ``spark.sql.python.filterPushdown.enabled`` is true, so it is
    only handed out when that is the case."""

    def pushFilters(self, filters: list[Any]) -> Iterator[Any]:
        for f in filters:
            if to_expression(f, self.target) is None:
                yield f
            else:
                self.filters.append(f)


def pushdown_requested(options: Options) -> bool:
    """Whether to hand Spark a reader with ``pushFilters``.

    Only with the option ``pushFilters=true`` (off by default): Spark 4.1-4.3
    caches the planned read of a relation after a pushdown and reuses it
    for later queries of the same DataFrame that push nothing (a ``count()``
    after a filtered ``collect()`` counts the filtered rows), so pushed
    filters are only safe on a DataFrame used for one query. And only when
    Spark plans through its pushdown entry point, i.e. when
    ``spark.sql.python.filterPushdown.enabled`` is true: the data source
    cannot read that conf, and Spark refuses a reader with ``pushFilters``
    when it is false, so we look at which worker entry point called us."""
    if not options.push_filters:
        return False
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename.endswith("data_source_pushdown_filters.py"):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False
