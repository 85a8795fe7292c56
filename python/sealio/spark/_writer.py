"""Writing with a commit protocol: tasks write sealed files into a staging
directory, the driver publishes them on ``commit`` (for overwrite, only
then are the old files removed) and deletes them on ``abort``.

Files are sealed through the shared layer (:func:`sealio.arrow.EncryptedFileSystem`
over the staging directory, so ``bindPath`` binds each file to the name it
will have below the root); commit moves ciphertext in the base filesystem
(a rename on local disk)."""

from __future__ import annotations

import contextlib
import os
import posixpath
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
from pyspark.sql.datasource import DataSourceArrowWriter, WriterCommitMessage
from pyspark.sql.types import StructType

from sealio.spark._formats import EXTENSIONS, conform, write_file
from sealio.spark._options import Options
from sealio.spark._reader import arrow_schema
from sealio.spark._storage import Location, base_filesystem, dataset_filesystem, is_local, list_data_files

__all__ = ["SealedCommitMessage", "SealedDataSourceWriter", "STAGING"]

STAGING = "_sealio_staging"


@dataclass
class SealedCommitMessage(WriterCommitMessage):
    staged: str | None  # the staged file's path in the base filesystem, None if the task had no rows
    final: str | None
    rows: int


def _publish_empty(fs: pafs.FileSystem, path: str) -> None:
    """The ``_SUCCESS`` marker. On local disk created exclusively and
    renamed into place: never written through (and so never truncating) a
    link planted there; elsewhere one PUT of an empty object."""
    if not is_local(fs):
        fs.open_output_stream(path).close()
        return
    from sealio.io.atomic import AtomicFileSink

    sink = AtomicFileSink(path)
    try:
        sink.publish()
    except BaseException:
        sink.abort()
        raise


class SealedDataSourceWriter(DataSourceArrowWriter):
    """Created on the driver, pickled to tasks: every task of one job shares
    ``job_id`` and so one staging directory."""

    def __init__(self, options: Options, fmt: str, schema: StructType, overwrite: bool) -> None:
        self.options = options
        self.fmt = fmt
        self.target = arrow_schema(schema)
        self.overwrite = overwrite
        self.job_id = uuid.uuid4().hex
        base, self.root = base_filesystem(options)
        self.staging = posixpath.join(self.root, STAGING, self.job_id)
        if base.get_file_info(self.root).type == pafs.FileType.File:
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
        base, _ = base_filesystem(self.options)
        base.create_dir(self.staging, recursive=True)
        fs = dataset_filesystem(self.options, self.staging)  # paths (and AAD) below the root: the name

        def chain() -> Iterator[pa.RecordBatch]:
            yield first
            yield from batches

        sink = fs.open_output_stream(name)
        try:
            rows = write_file(self.options, self.fmt, sink, chain())
        except BaseException:
            with contextlib.suppress(OSError):
                sink.close()  # inside the staging directory: never committed, removed by abort
                fs.delete_file(name)
            raise
        sink.close()  # sealed and published (locally: fsync and rename)
        return SealedCommitMessage(posixpath.join(self.staging, name), posixpath.join(self.root, name), rows)

    def commit(self, messages: list[Any]) -> None:
        base, _ = base_filesystem(self.options)
        done = [m for m in messages if isinstance(m, SealedCommitMessage) and m.staged]
        if self.overwrite and base.get_file_info(self.root).type == pafs.FileType.Directory:
            keep = {m.final for m in done}
            where = Location(self.root, None)
            for rel in list_data_files(pafs.SubTreeFileSystem(self.root, base), where):
                if posixpath.join(self.root, rel) not in keep:
                    base.delete_file(posixpath.join(self.root, rel))
        for m in done:
            base.move(m.staged, m.final)  # ciphertext as it is: a rename on local disk
        self._cleanup(base)
        _publish_empty(base, posixpath.join(self.root, "_SUCCESS"))

    def abort(self, messages: list[Any]) -> None:
        self._cleanup(base_filesystem(self.options)[0])

    def _cleanup(self, base: pafs.FileSystem) -> None:
        try:
            base.delete_dir(self.staging)
        except OSError:
            pass
        if is_local(base):
            try:
                os.rmdir(os.path.dirname(self.staging))  # only if no other job is staging
            except OSError:
                pass
