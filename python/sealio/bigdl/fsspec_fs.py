"""The ``bigdl`` fsspec protocol: BigDL-encrypted files, read-only.

``bigdl::file:///data/people.bigdl/part-00000-....csv.cbc`` (or
``bigdl::s3://...``) opens a BigDL part file as an authenticated,
seekable plaintext file; pandas, Dask and DuckDB (``register_filesystem``)
read BigDL output through it. Options go under the protocol name:
``storage_options={"bigdl": {"keys": bigdl.PlaintextPrimaryKey(pk)}}``.
Key sources hold secrets, so fsspec never caches these instances, and
one pickles only when its key source does (:class:`~sealio.bigdl.EnvKeySource`,
which workers resolve from their own environment).

The adapter is :class:`sealio.fs.fsspec.PolicyFileSystem` over
:class:`sealio.bigdl.filesystem.BigDLCodec`. Listed sizes are ``None``;
``info`` gives the exact size after authenticating the file. The protocol is
registered by the ``fsspec.specs`` entry point.
"""

from __future__ import annotations

from typing import Any

import fsspec

from sealio.bigdl.dataset import Opener
from sealio.bigdl.filesystem import BigDLCodec
from sealio.fs.fsspec import PolicyFileSystem
from sealio.fs.policy import StoragePolicy

__all__ = ["BigDLFsspecFileSystem"]


class BigDLFsspecFileSystem(PolicyFileSystem):
    """Read-only fsspec filesystem of BigDL files over ``fs`` (or
    ``target_protocol`` with ``target_options``); ``format``, ``keys``,
    ``primary_key_b64``, ``data_key``, ``verify_mac`` and ``meta_key`` as for
    :func:`sealio.bigdl.filesystem.BigDLFileSystem`."""

    protocol = "bigdl"
    cachable = False  # instances hold key sources: never share one between callers

    def __init__(self, target_protocol: str | None = None, target_options: dict[str, Any] | None = None,
                 fs: fsspec.AbstractFileSystem | None = None, *, keys: Any = None, format: str = "auto",  # noqa: A002
                 primary_key_b64: str | None = None, data_key: Any = None, verify_mac: bool = True,
                 meta_key: str | None = None, fo: str | None = None, **kwargs: Any) -> None:
        opener = Opener(format, keys=keys, primary_key_b64=primary_key_b64, data_key=data_key,
                        verify_mac=verify_mac, meta_key=meta_key)
        super().__init__(target_protocol, target_options, fs, policy=StoragePolicy(BigDLCodec(opener)), **kwargs)

    @property
    def opener(self) -> Opener:
        return self.policy.codec.opener
