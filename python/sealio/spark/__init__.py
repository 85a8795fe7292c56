"""Spark integration: the ``sealio`` data source and the native Parquet
encryption (PME) path.

* ``register(spark)`` registers the Python data source (PySpark >= 4.0);
  installing sealio also auto-registers it through ``pyspark_sealio``.
* ``kms_client_jar()`` compiles the Java KmsClient (``java/``) against the
  jars inside pyspark; ``native_pme_conf(keys)`` is the Spark conf that lets
  Spark's own Parquet reader and writer use sealio's keyring.
* ``local_session()`` builds a ``local[N]`` session with the settings that
  make PySpark behave on a workstation or CI runner.
* ``native_fs_conf(keys)`` / ``sealed_url(path)`` and ``bigdl_fs_conf()`` /
  ``bigdl_url(path)`` (from :mod:`sealio.spark.native_fs`): the Spark conf and
  URLs of the JVM ``sealed://`` and ``bigdl://`` filesystems.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["SealedDataSource", "register", "kms_client_jar", "native_pme_conf", "local_session",
           "native_fs_conf", "sealed_url", "bigdl_fs_conf", "bigdl_url"]

_NATIVE_FS = ("native_fs_conf", "sealed_url", "bigdl_fs_conf", "bigdl_url")  # sealed:// and bigdl:// on the JVM

@contextlib.contextmanager
def _needs_pyspark(what: str) -> Iterator[None]:
    """One sentence instead of a traceback into ``pyspark.sql`` when the
    spark extra is missing (``name`` kept, so the CLI still maps it)."""
    try:
        yield
    except ModuleNotFoundError as e:
        if (e.name or "").partition(".")[0] != "pyspark":
            raise
        raise ModuleNotFoundError(f"{what} needs pyspark, which is not installed: pip install 'sealio[spark]'",
                                  name=e.name) from None


def register(spark: Any) -> None:
    """Make ``format("sealio")`` available in ``spark``."""
    with _needs_pyspark("sealio.spark.register"):
        from sealio.spark._datasource import register as _register

    _register(spark)


def __getattr__(name: str) -> Any:  # keep ``import sealio.spark`` light (no pyspark import)
    if name == "SealedDataSource":
        with _needs_pyspark("sealio.spark.SealedDataSource"):
            from sealio.spark._datasource import SealedDataSource

        return SealedDataSource
    if name in ("kms_client_jar", "native_pme_conf"):
        from sealio.spark import _jvm

        return getattr(_jvm, name)
    if name in _NATIVE_FS:
        from sealio.spark import native_fs

        return getattr(native_fs, name)
    if name == "local_session":
        from sealio.spark._session import local_session

        return local_session
    raise AttributeError(name)
