"""Reading: one partition per file, per group of row groups for large
Parquet files; optional filter pushdown with row-group pruning."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql.datasource import DataSourceReader, InputPartition
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType

from sealio.spark._files import DataFile, data_files, open_plain
from sealio.spark._filters import combine, row_group_may_match, to_expression
from sealio.spark._formats import read_batches
from sealio.spark._options import Options

__all__ = ["SealedInputPartition", "SealedReader", "FilteringSealedReader", "pushdown_requested"]


@dataclass
class SealedInputPartition(InputPartition):
    """One file, or some row groups of one Parquet file (picklable, no keys)."""

    file: DataFile
    row_groups: tuple[int, ...] | None = None

    def __init__(self, file: DataFile, row_groups: tuple[int, ...] | None = None) -> None:
        super().__init__(file.rel)
        self.file = file
        self.row_groups = row_groups


def arrow_schema(schema: StructType) -> pa.Schema:
    return to_arrow_schema(schema, timezone="UTC")


def _row_group_stats(md: Any, index: int, names: Sequence[str]) -> dict[str, tuple[Any, Any, int, int]]:
    rg = md.row_group(index)
    out: dict[str, tuple[Any, Any, int, int]] = {}
    for i in range(rg.num_columns):
        col = rg.column(i)
        name = col.path_in_schema
        st = col.statistics
        if name not in names or st is None:
            continue
        nulls = st.null_count if st.has_null_count else -1
        lo, hi = (st.min, st.max) if st.has_min_max else (None, None)
        out[name] = (lo, hi, nulls, rg.num_rows)
    return out


class SealedReader(DataSourceReader):
    """Reads sealed files; Spark pickles it to the Python workers, which
    rebuild keys from ``options.keys`` (a configuration string)."""

    def __init__(self, options: Options, fmt: str, schema: StructType) -> None:
        self.options = options
        self.fmt = fmt
        self.schema = schema
        self.target = arrow_schema(schema)
        self.filters: list[Any] = []

    def partitions(self) -> Sequence[InputPartition]:
        parts: list[InputPartition] = []
        for f in data_files(self.options):
            if self.fmt == "parquet" and (f.size > self.options.max_partition_bytes or self.filters):
                parts.extend(self._parquet_splits(f))
            else:
                parts.append(SealedInputPartition(f))
        return parts or [SealedInputPartition(DataFile("", "", 0), ())]

    def _parquet_splits(self, f: DataFile) -> list[SealedInputPartition]:
        """Row groups grouped up to maxPartitionBytes (compressed size);
        groups whose statistics rule out every pushed filter are dropped."""
        with open_plain(self.options, f) as raw:
            md = pq.ParquetFile(raw).metadata
        names = set(self.target.names)
        out: list[SealedInputPartition] = []
        group: list[int] = []
        size = 0
        for i in range(md.num_row_groups):
            if self.filters and not row_group_may_match(self.filters, _row_group_stats(md, i, names), self.target):
                continue
            rg_size = md.row_group(i).total_byte_size
            if group and size + rg_size > self.options.max_partition_bytes:
                out.append(SealedInputPartition(f, tuple(group)))
                group, size = [], 0
            group.append(i)
            size += rg_size
        if group:
            out.append(SealedInputPartition(f, tuple(group)))
        return out

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, SealedInputPartition)
        if not partition.file.path:  # an empty dataset
            return
        predicate = combine(e for e in (to_expression(f, self.target) for f in self.filters) if e is not None)
        yield from read_batches(self.options, self.fmt, partition.file, self.target,
                                partition.row_groups, predicate)


class FilteringSealedReader(SealedReader):
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
