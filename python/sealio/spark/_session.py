"""A ``local[N]`` SparkSession that works on laptops and CI runners."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["local_session"]


def local_session(app: str = "sealio", *, cores: int = 2, conf: Mapping[str, str] | None = None,
                  jars: list[str] | None = None) -> Any:
    """Workers run this interpreter (``PYSPARK_PYTHON``), the driver binds to
    127.0.0.1 (no DNS, nothing listening outside), the UI is off, shuffle
    partitions match the cores, pushdown of filters into Python data sources
    is on, and ``format("sealio")`` is registered."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    try:
        from pyspark.sql import SparkSession
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError("local_session needs pyspark, which is not installed: "
                                  "pip install 'sealio[spark]'", name=e.name) from None

    builder = (SparkSession.builder.master(f"local[{cores}]").appName(app)
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", str(cores))
               .config("spark.driver.memory", os.environ.get("SEALIO_SPARK_MEMORY", "2g"))
               .config("spark.sql.python.filterPushdown.enabled", "true")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    if jars:
        cp = os.pathsep.join(jars)
        builder = builder.config("spark.driver.extraClassPath", cp).config("spark.executor.extraClassPath", cp)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    with _quiet_pandas3_notice():
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    from sealio.spark._datasource import register  # not the package: no sealio.spark <-> _session cycle

    register(spark)
    return spark


@contextlib.contextmanager
def _quiet_pandas3_notice() -> Iterator[None]:
    """Without PySpark 4's FutureWarning about pandas >= 3 while the context
    starts: it fires at every SparkContext start, pandas used or not
    (converting the first JVM argument imports ``pyspark.testing.utils``,
    which checks the pandas version). sealio pins pandas >= 3 deliberately
    and tests its Spark paths with it; the filter is scoped to this block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"PySpark does not yet fully support pandas >= 3",
                                category=FutureWarning)
        yield
