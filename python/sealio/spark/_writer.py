"""Writing with a commit protocol: tasks write sealed files into a staging
directory, the driver publishes them on ``commit`` (for overwrite, only
then are the old files removed) and deletes them on ``abort``."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyspark.sql.datasource import DataSourceArrowWriter, WriterCommitMessage
from pyspark.sql.types import StructType

from sealio.spark._files import list_files
from sealio.spark._formats import EXTENSIONS, conform, write_file
from sealio.spark._options import Options
from sealio.spark._reader import arrow_schema

__all__ = ["SealedCommitMessage", "SealedWriter", "STAGING"]

STAGING = "_sealio_staging"


@dataclass
class SealedCommitMessage(WriterCommitMessage):
    staged: str | None  # absolute path of the staged file, None if the task had no rows
    final: str | None
    rows: int


def _publish_empty(path: str) -> None:
    """The ``_SUCCESS`` marker, created exclusively and renamed into place:
    never written through (and so never truncating) a link planted there."""
    from sealio.streams import _AtomicFileSink

    sink = _AtomicFileSink(path)
    try:
        sink.publish()
    except BaseException:
        sink.abort()
        raise


class SealedWriter(DataSourceArrowWriter):
    """Created on the driver, pickled to tasks: every task of one job shares
    ``job_id`` and so one staging directory."""

    def __init__(self, options: Options, fmt: str, schema: StructType, overwrite: bool) -> None:
        self.options = options
        self.fmt = fmt
        self.target = arrow_schema(schema)
        self.overwrite = overwrite
        self.job_id = uuid.uuid4().hex
        self.staging = os.path.join(options.path, STAGING, self.job_id)
        if os.path.isfile(options.path):
            raise FileExistsError(f"{options.path} is a file; sealio writes a directory of files")

    def write(self, iterator: Iterator[pa.RecordBatch]) -> SealedCommitMessage:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        part = ctx.partitionId() if ctx is not None else 0
        attempt = ctx.attemptNumber() if ctx is not None else 0
        batches = (conform(b, self.target) for b in iterator if b.num_rows)
        first = next(batches, None)
        if first is None:
            return SealedCommitMessage(None, None, 0)
        name = f"part-{part:05d}-{self.job_id[:12]}-a{attempt}{EXTENSIONS[self.fmt]}"
        os.makedirs(self.staging, exist_ok=True)
        staged = os.path.join(self.staging, name)
        aad = name if self.options.bind_path else None  # the name it will have below the root

        def chain() -> Iterator[pa.RecordBatch]:
            yield first
            yield from batches

        rows = write_file(self.options, self.fmt, staged, aad, chain(), self.options.master_key)
        return SealedCommitMessage(staged, os.path.join(self.options.path, name), rows)

    def commit(self, messages: list[Any]) -> None:
        done = [m for m in messages if isinstance(m, SealedCommitMessage) and m.staged]
        if self.overwrite:
            keep = {m.final for m in done}
            for f in list_files(self.options.path):
                if f.path not in keep:
                    os.unlink(f.path)
        for m in done:
            os.replace(m.staged, m.final)
        self._cleanup()
        _publish_empty(os.path.join(self.options.path, "_SUCCESS"))

    def abort(self, messages: list[Any]) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        try:
            os.rmdir(os.path.dirname(self.staging))  # only if no other job is staging
        except OSError:
            pass
