"""The JVM side of sealio: build the Java sources (the Parquet Modular
Encryption KmsClient ``io/sealio/parquet/`` and the sealed Hadoop
FileSystem ``io/sealio/hadoop/``) with ``javac`` against the jars inside
pyspark into one jar, and the Spark conf for native PME.

The Java source ships as package data (``sealio/_java/``, copied there by
setup.py) or, in a source checkout, lives in ``java/``. The jar is cached in
the user's cache directory, ``$SEALIO_CACHE_DIR`` or
``${XDG_CACHE_HOME:-~/.cache}/sealio``, under ``java/<hash of source and
pyspark version>``: never in site-packages or the checkout, and only the
first call pays the ~1-2 s compile.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from sealio.errors import ConfigurationError

__all__ = ["kms_client_jar", "native_pme_conf", "KMS_CLIENT_CLASS", "CRYPTO_FACTORY_CLASS"]

KMS_CLIENT_CLASS = "io.sealio.parquet.SealioKmsClient"
CRYPTO_FACTORY_CLASS = "org.apache.parquet.crypto.keytools.PropertiesDrivenCryptoFactory"
_SOURCE = Path("io/sealio/parquet/SealioKmsClient.java")


def java_source_dir() -> Path:
    """The root of the Java sources: the installed package data, or the
    checkout's ``java/`` (found by its pyproject.toml next to it)."""
    data = resources.files("sealio") / "_java"
    if (data / _SOURCE).is_file():
        return Path(str(data))
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file() and (parent / "java" / _SOURCE).is_file():
            return parent / "java"
    raise ConfigurationError(
        "the Java sources of sealio are missing (sealio/_java in a wheel, java/ in a checkout): "
        "reinstall sealio")


def cache_dir() -> Path:
    """sealio's per-user cache: ``$SEALIO_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/sealio``, else ``~/.cache/sealio``."""
    explicit = os.environ.get("SEALIO_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "sealio"


def _java_tool(name: str) -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / name).exists():
        return str(Path(home) / "bin" / name)
    found = shutil.which(name)
    if found is None:
        raise ConfigurationError(f"{name} not found: install a JDK (17+) or set JAVA_HOME")
    return found


def spark_jars_dir() -> Path:
    """The jars Spark runs with: ``$SPARK_HOME/jars`` or pyspark's own."""
    home = os.environ.get("SPARK_HOME")
    if home and (Path(home) / "jars").is_dir():
        return Path(home) / "jars"
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def kms_client_jar(source_dir: str | os.PathLike[str] | None = None,
                   build_dir: str | os.PathLike[str] | None = None) -> Path:
    """Compile sealio's Java sources once (the KmsClient and the sealed
    FileSystem, :mod:`sealio.spark.native_fs`) and return the path of their jar.

    ``source_dir`` overrides :func:`java_source_dir`, ``build_dir`` the
    cache (:func:`cache_dir` ``/ "java"``)."""
    src_root = Path(source_dir) if source_dir else java_source_dir()
    src = src_root / _SOURCE
    if not src.is_file():
        raise ConfigurationError(f"Java source {src} not found")
    sources = sorted((src_root / "io" / "sealio").rglob("*.java"))
    jars = spark_jars_dir()
    import pyspark

    h = hashlib.sha256(pyspark.__version__.encode())
    for f in sources:
        h.update(str(f.relative_to(src_root)).encode() + b"\0" + f.read_bytes())
    digest = h.hexdigest()[:16]
    out_dir = Path(build_dir) if build_dir else cache_dir() / "java"
    jar = out_dir / digest / "sealio-spark.jar"
    if jar.is_file():
        return jar
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".javac-", dir=out_dir))
    try:
        classes = work / "classes"
        classes.mkdir()
        cp = os.pathsep.join(str(p) for p in sorted(jars.glob("*.jar")))
        _run([_java_tool("javac"), "--release", "11", "-nowarn", "-cp", cp, "-d", str(classes),
              *(str(f) for f in sources)])
        _run([_java_tool("jar"), "--create", "--file", str(work / jar.name), "-C", str(classes), "."])
        jar.parent.mkdir(parents=True, exist_ok=True)
        os.replace(work / jar.name, jar)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return jar


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ConfigurationError(f"{Path(argv[0]).name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")


def native_pme_conf(keys: str, *, prefix: str = "spark.hadoop.") -> Mapping[str, str]:
    """Spark conf for Spark's native Parquet reader/writer with PME keys
    from a sealio keyring (``keys`` = ``local:///abs/keyring.json``).

    Put the jar from :func:`kms_client_jar` on the driver and executor class
    path. Writers add ``parquet.encryption.footer.key`` and
    ``parquet.encryption.column.keys`` as write options. Use ``prefix=""``
    for per-read/write options or ``spark.conf.set``."""
    if not keys.startswith("local://"):
        raise ConfigurationError("the Java KmsClient reads local keyrings: keys must be local:///abs/path")
    return {
        f"{prefix}parquet.crypto.factory.class": CRYPTO_FACTORY_CLASS,
        f"{prefix}parquet.encryption.kms.client.class": KMS_CLIENT_CLASS,
        f"{prefix}sealio.kms": keys,
        # parquet-java caches KMS clients by instance id: one id per keyring
        f"{prefix}parquet.encryption.kms.instance.id": keys,
    }
