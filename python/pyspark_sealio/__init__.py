"""Auto-registration: PySpark (>= 4.0) imports every ``pyspark_*`` module and
registers its ``DefaultSource``, so ``spark.read.format("sealio")`` works
without calling :func:`sealio.spark.register`."""

from sealio.spark._datasource import SealedDataSource as DefaultSource

__all__ = ["DefaultSource"]
