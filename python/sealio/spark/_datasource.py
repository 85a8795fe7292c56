"""The ``sealio`` Python data source (PySpark >= 4.0)."""

from __future__ import annotations

from typing import Any

import pyarrow.dataset as ds
from pyspark.sql.datasource import DataSource, DataSourceReader, DataSourceWriter
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import StructField, StructType

from sealio.errors import ConfigurationError
from sealio.spark._formats import file_format, spark_schema
from sealio.spark._options import Options, format_of, parse_options
from sealio.spark._reader import FilteringSealedDataSourceReader, SealedDataSourceReader, pushdown_requested
from sealio.spark._storage import Location, dataset_filesystem, discover, list_data_files, locate
from sealio.spark._writer import SealedDataSourceWriter

__all__ = ["SealedDataSource", "register"]


def register(spark: Any) -> None:
    """Make ``format("sealio")`` available in ``spark``."""
    spark.dataSource.register(SealedDataSource)


def _nullable(schema: StructType) -> StructType:
    """File sources declare every column nullable (as Spark's own do)."""
    return StructType([StructField(f.name, f.dataType, True, f.metadata) for f in schema.fields])


class SealedDataSource(DataSource):
    """``spark.read.format("sealio")`` / ``df.write.format("sealio")``.

    The path is a local path, ``s3://bucket/prefix`` (pyarrow's S3 client;
    options ``s3.endpoint``, ``s3.region``, ``s3.scheme``, ``s3.anonymous``;
    credentials from each process's environment) or an fsspec URL. Files
    are listed (``key=value`` directories are partition columns), opened
    and parsed through the shared layer (:mod:`sealio.fs`, ``pyarrow.dataset``).
    Options: ``format`` (parquet, csv, json; else from the file extension),
    ``keys`` (a KMS configuration string such as
    ``local:///abs/keyring.json``; or ``keyring`` = a path, or
    ``$SEALIO_KEYRING``), ``masterKey`` (writing), ``bindPath`` (bind each
    file to its path below the root), CSV ``header``/``delimiter``/
    ``inferSchema``/``nullValue``, ``maxPartitionBytes``, ``batchRows``,
    ``pushFilters`` (true: push filters into the scan when
    ``spark.sql.python.filterPushdown.enabled`` is true; off by default,
    see :func:`sealio.spark._reader.pushdown_requested`). ``bigdl``
    (common, native, legacy-2.1, legacy-2.2, auto) reads BigDL PPML's
    encrypted CSV/JSON instead, MACs verified, with keys from
    ``bigdlKeyFile`` (a JSON settings file, see
    :func:`sealio.bigdl.load_key_file`) or each worker's environment.
    Options that look like secrets are refused.
    """

    def __init__(self, options: dict[str, str]) -> None:
        super().__init__(options)
        self._parsed: Options | None = None
        self._where: Location | None = None

    @classmethod
    def name(cls) -> str:
        return "sealio"

    @property
    def parsed(self) -> Options:
        if self._parsed is None:
            self._parsed = parse_options(self.options)
        return self._parsed

    @property
    def where(self) -> Location:
        if self._where is None:
            self._where = locate(self.parsed)
        return self._where

    def _files(self) -> list[str]:
        return list_data_files(dataset_filesystem(self.parsed, self.where.root), self.where)

    def _format(self) -> str:
        opts = self.parsed
        if opts.format:
            return opts.format
        try:
            files = self._files()
        except FileNotFoundError:
            files = []
        return format_of(opts, files[0] if files else None)

    def schema(self) -> StructType:
        opts = self.parsed
        fs = dataset_filesystem(opts, self.where.root)
        files = list_data_files(fs, self.where)
        if not files:
            raise ConfigurationError(f"no data files under {opts.path}: give a schema to read an empty dataset")
        fmt = format_of(opts, files[0])
        dataset = discover(fs, self.where, file_format(opts, fmt))  # the first file's schema, and partitions
        names = {k for f in dataset.get_fragments() for k in ds.get_partition_keys(f.partition_expression)}
        inferred = spark_schema(opts, fmt, dataset.schema, sorted(names))
        return _nullable(from_arrow_schema(inferred, prefer_timestamp_ntz=False))

    def reader(self, schema: StructType) -> DataSourceReader:
        opts = self.parsed
        cls = FilteringSealedDataSourceReader if pushdown_requested(opts) else SealedDataSourceReader
        return cls(opts, self._format(), schema, self.where)

    def writer(self, schema: StructType, overwrite: bool) -> DataSourceWriter:
        opts = self.parsed
        if opts.bigdl is not None:
            raise ConfigurationError("option 'bigdl' is for reading BigDL output; write sealed files (without "
                                     "it), or BigDL files with `sealio bigdl encrypt`")
        fmt = opts.format
        if fmt is None:
            raise ConfigurationError("writing needs option 'format' (parquet, csv or json)")
        return SealedDataSourceWriter(opts, fmt, schema, overwrite)

    def __repr__(self) -> str:
        return f"SealedDataSource(path={self.options.get('path')!r})"
