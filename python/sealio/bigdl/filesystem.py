"""BigDL-encrypted directories as a read-only ``pyarrow.fs`` filesystem.

``pyarrow.dataset`` (and through it DuckDB, polars and pandas) reads a
BigDL PPML output directory as it is: names are kept, each part file is
opened with :class:`~sealio.bigdl.dataset.Opener` (key from the part's
own header, MAC verified before any plaintext, seekable), and files whose
names start with ``.`` or ``_`` (``.meta``, ``_SUCCESS``, ``.crc``) are
skipped by pyarrow's dataset discovery as usual.

Listed sizes are ``None``: a CBC plaintext size is only known from the
padding of the authenticated last block, which needs the key and a MAC
pass (reading the padding unauthenticated would be a padding oracle).
Opening a file gives its exact size. Directory listings leave out 0-byte
files, BigDL's empty partitions, which hold no rows and no CSV header. Writing is refused; BigDL
output is written by ``sealio bigdl encrypt`` (one data key per call, as
BigDL's readers expect), and new data belongs in sealed files.
"""

from __future__ import annotations

from typing import Any, Callable

import pyarrow.fs as pafs

from sealio.bigdl._cbcfile import CbcFile
from sealio.bigdl.dataset import Opener, parse_meta
from sealio.fs.arrow import PolicyFileSystemHandler, as_arrow_fs
from sealio.fs.policy import StoragePolicy

__all__ = ["BigDLCodec", "BigDLFileSystem", "BigDLFileSystemHandler", "open_dataset"]


class BigDLCodec:
    """BigDL part files under a :class:`~sealio.fs.policy.StoragePolicy`:
    read-only, sizes unknown until a file is authenticated, 0-byte files
    (BigDL's empty partitions: no rows, and no CSV header that a reader
    could infer columns from) hidden from listings. Each file is opened with
    ``opener`` (:class:`~sealio.bigdl.dataset.Opener`)."""

    kind = "bigdl"
    writable = False
    bind_paths = False
    passthrough = False
    measures_sizes = True

    def __init__(self, opener: Opener) -> None:
        self.opener = opener

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BigDLCodec) and other.opener is self.opener  # key sources have no equality

    def __hash__(self) -> int:
        return id(self.opener)

    def __repr__(self) -> str:
        return f"BigDLCodec(format={self.opener.fmt!r})"

    def check_picklable(self) -> None:
        # fsspec keeps constructor arguments (storage_options) for pickling and to_json
        if self.opener.primary_key_b64 or self.opener.data_key:
            raise TypeError("a bigdl filesystem given a primary key or data key cannot be pickled or "
                            "serialised (key material never leaves the process); use a key source "
                            "such as sealio.bigdl.EnvKeySource")

    def __reduce__(self) -> Any:
        self.check_picklable()
        return (BigDLCodec, (self.opener,))  # the opener pickles only when its key source does

    def listed_size(self, size: int, sniff: Callable[[], bytes]) -> int | None:
        # a CBC plaintext size is only known from the padding of the authenticated
        # last block: reading it unauthenticated would be a padding oracle
        return None

    def hides(self, size: int | None) -> bool:
        return size == 0

    def open_reader(self, source: Any, path: str, owned: Any) -> CbcFile:
        return self.opener.open_raw(source, name=path)  # closes ``source`` with the reader

    def check_can_write(self) -> None:
        pass  # never reached: the policy refuses writes to a read-only codec

    def open_writer(self, target: Any, path: str, commit: Any, discard: Any) -> Any:
        raise OSError("BigDL output is written by `sealio bigdl encrypt`")


class BigDLFileSystemHandler(PolicyFileSystemHandler):
    """The handler behind :func:`BigDLFileSystem`. It pickles only when its
    key source does (:class:`~sealio.bigdl.EnvKeySource`): secrets never travel."""

    def __init__(self, base: Any, opener: Opener) -> None:
        super().__init__(base, StoragePolicy(BigDLCodec(opener)))

    @property
    def opener(self) -> Opener:
        return self.policy.codec.opener


def BigDLFileSystem(base: Any = None, *, keys: Any = None, format: str = "auto",  # noqa: N802,A002
                    primary_key_b64: str | None = None, data_key: Any = None,
                    verify_mac: bool = True, meta_key: str | None = None) -> pafs.PyFileSystem:
    """A read-only ``pyarrow.fs.FileSystem`` of BigDL-encrypted files in
    ``base`` (default: local disk; any pyarrow or fsspec filesystem).

    ``format``: ``common`` (BigDL >= 2.3), ``native``, ``legacy-2.1``,
    ``legacy-2.2``, or ``auto`` (default: common files are recognised by
    their header). ``keys``: a :class:`~sealio.bigdl.KeySource` for the
    common format; ``primary_key_b64`` for native files; ``data_key`` for
    the legacy formats. ``verify_mac=False`` is the salvage opt-out (warns).
    ``meta_key``: the ``.meta`` ``encryptedDataKey``, for parts whose header
    has no key and for native files written under a KMS
    (:func:`open_dataset` reads it from the directory).

    >>> fs = BigDLFileSystem(keys=bigdl.PlaintextPrimaryKey(pk))        # doctest: +SKIP
    >>> ds.dataset("/data/people.bigdl", filesystem=fs, format="csv")  # doctest: +SKIP
    """
    opener = Opener(format, keys=keys, primary_key_b64=primary_key_b64, data_key=data_key,
                    verify_mac=verify_mac, meta_key=meta_key)
    return pafs.PyFileSystem(BigDLFileSystemHandler(pafs.LocalFileSystem() if base is None else base, opener))


def _meta_key(base: Any, source: Any) -> str | None:
    """The ``.meta`` data key of a directory ``source`` on ``base``, if any."""
    if not isinstance(source, str):
        return None
    fs = pafs.LocalFileSystem() if base is None else as_arrow_fs(base)
    path = source.rstrip("/") + "/.meta"
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return parse_meta(f.read(), path)


def open_dataset(source: Any, *, keys: Any = None, bigdl_format: str = "auto", primary_key_b64: str | None = None,
                 data_key: Any = None, verify_mac: bool = True, base: Any = None, format: Any = "csv",  # noqa: A002
                 **kwargs: Any) -> Any:
    """``pyarrow.dataset.dataset`` over a BigDL output directory (or file,
    or list of files) on ``base``: CSV with a header by default, as BigDL
    writes it; ``format`` and ``kwargs`` go to ``pyarrow.dataset.dataset``.
    Every part is authenticated as it is opened. 0-byte parts (BigDL's
    empty partitions, in any format) hold no rows: a directory's listing
    leaves them out, and so does a list of files."""
    import pyarrow.dataset as ds

    fs = BigDLFileSystem(base, keys=keys, format=bigdl_format, primary_key_b64=primary_key_b64,
                         data_key=data_key, verify_mac=verify_mac, meta_key=_meta_key(base, source))
    return ds.dataset(_without_empty_parts(base, source), filesystem=fs, format=format, **kwargs)


def _without_empty_parts(base: Any, source: Any) -> Any:
    """A list of files less its 0-byte parts (BigDL's empty partitions: no
    rows, and no CSV header a reader could infer columns from), as a
    directory listing leaves them out; unchanged if nothing else is left."""
    if not isinstance(source, (list, tuple)) or not all(isinstance(s, str) for s in source):
        return source
    fs = pafs.LocalFileSystem() if base is None else as_arrow_fs(base)
    kept = [s for s, info in zip(source, fs.get_file_info(list(source)))
            if not (info.type == pafs.FileType.File and info.size == 0)]
    return kept or source
