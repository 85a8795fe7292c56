"""Set-up shared by the tests of sealio's JVM side in one local Spark
session: a fresh keyring, and Hadoop properties set on the session for one
module and put back as they were after it (other modules share the session).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sealio


def keyring(directory: Path, *names: str) -> tuple[sealio.LocalKeyring, str]:
    """An unprotected keyring in ``directory`` with one master key per name, and its ``local://`` URI."""
    path = directory / "keyring.json"
    kr = sealio.LocalKeyring.create(path)
    for name in names:
        kr.generate(name)
    return kr, f"local://{path}"


@contextmanager
def hadoop_conf(spark: Any, conf: Mapping[str, str]) -> Iterator[Any]:
    """``spark`` with ``conf`` set on its Hadoop configuration; each key's
    earlier value (or its absence) is restored on exit."""
    hconf = spark._jsc.hadoopConfiguration()
    before = {k: hconf.get(k) for k in conf}
    for k, v in conf.items():
        hconf.set(k, v)
    try:
        yield spark
    finally:
        for k, v in before.items():
            if v is None:
                hconf.unset(k)
            else:
                hconf.set(k, v)
