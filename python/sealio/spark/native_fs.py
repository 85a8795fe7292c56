"""Stock Spark on sealed files: the Java Hadoop FileSystem
``io.sealio.hadoop.SealedFileSystem`` (``java/io/sealio/hadoop/``, in the
jar :func:`sealio.spark.kms_client_jar` builds) and its optional JNI
library over the C core (``csrc/jni/``), compiled here on first use.

``spark.read.parquet("sealed:///data/t")`` then reads the sealed files
under ``/data/t`` with Spark's own readers (column pruning, filter
pushdown, splits), and ``df.write.csv("sealed:///out")`` writes sealed
files through Spark's committers. docs/SPARK.md lists the conf keys.

The library is cached like the jar (``$SEALIO_CACHE_DIR/jni/<hash>/``);
it needs a C compiler, a JDK's ``include/`` and the C core's sources (a
source checkout or an sdist); without them the filesystem decrypts with
the JDK's AES-GCM (JCE) instead.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from sealio.errors import ConfigurationError
from sealio.spark._jvm import _java_tool, _run, cache_dir

__all__ = ["BIGDL_FS_CLASS", "BIGDL_SCHEME", "FS_CLASS", "SCHEME", "bigdl_fs_conf", "bigdl_url", "c_source_dir",
           "jni_library", "native_fs_conf", "sealed_url"]

FS_CLASS = "io.sealio.hadoop.SealedFileSystem"
SCHEME = "sealed"
_GLUE = Path("jni") / "sealio_jni.c"


def c_source_dir() -> Path | None:
    """The C core's sources with the JNI glue: package data ``sealio/_csrc``
    where the build copies them there, else the ``csrc/`` of a source
    checkout or sdist (found by the pyproject.toml next to it); None when
    neither is installed."""
    from importlib import resources

    data = Path(str(resources.files("sealio") / "_csrc"))
    if (data / _GLUE).is_file() and (data / "include" / "sealio.h").is_file():
        return data
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file() and (parent / "csrc" / _GLUE).is_file():
            return parent / "csrc"
    return None


def _java_home() -> Path:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "include" / "jni.h").is_file():
        return Path(home)
    javac = Path(_java_tool("javac")).resolve()
    home_dir = javac.parent.parent
    if not (home_dir / "include" / "jni.h").is_file():
        raise ConfigurationError(f"no jni.h under {home_dir}/include: set JAVA_HOME to a JDK")
    return home_dir


def jni_library(build_dir: str | os.PathLike[str] | None = None) -> Path:
    """Compile the JNI glue with the C core into one shared library once and
    return its path (``build_dir`` overrides the cache directory).

    Raises :class:`ConfigurationError` when the sources, a compiler
    (``$CC``, else gcc/cc) or a JDK are missing, or compiling fails."""
    src = c_source_dir()
    if src is None:
        raise ConfigurationError("the C core's sources are not installed (a wheel ships only the compiled "
                                 "cffi module): the sealed filesystem uses JCE")
    java_home = _java_home()
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise ConfigurationError("no C compiler (set $CC): the sealed filesystem uses JCE")
    files = sorted(src.glob("*.c")) + [src / _GLUE]
    headers = sorted(src.glob("*.h")) + sorted((src / "include").glob("*.h"))
    h = hashlib.sha256(str(java_home).encode())
    for f in files + headers:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    out_dir = Path(build_dir) if build_dir else cache_dir() / "jni"
    lib = out_dir / h.hexdigest()[:16] / "libsealio_jni.so"
    if lib.is_file():
        return lib
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".cc-", dir=out_dir))
    try:
        # the cffi build's flags (csrc/ffi_build.py): kernels pick their ISA per function
        _run([cc, "-O3", "-std=gnu11", "-fvisibility=hidden", "-pthread", "-shared", "-fPIC",
              f"-I{java_home / 'include'}", f"-I{java_home / 'include' / 'linux'}",
              f"-I{src / 'include'}", f"-I{src}", *(str(f) for f in files), "-o", str(work / lib.name)])
        lib.parent.mkdir(parents=True, exist_ok=True)
        os.replace(work / lib.name, lib)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return lib


def native_fs_conf(keys: str, *, master_key: str | None = None, segment_size: int | None = None,
                   jni: bool = True, jni_library_path: str | os.PathLike[str] | None = None,
                   vault_token_file: str | os.PathLike[str] | None = None,
                   aws_credentials_file: str | os.PathLike[str] | None = None,
                   prefix: str = "spark.hadoop.") -> Mapping[str, str]:
    """Spark conf for ``sealed://`` paths with keys from a sealio keyring
    (``keys`` = ``local:///abs/keyring.json``) or Vault/OpenBao Transit
    (``vault+https://HOST:PORT/MOUNT/keys/NAME``) or AWS KMS
    (``aws-kms://alias/NAME?region=R``): configuration, never a key or
    token (Vault's token comes from each JVM's ``$VAULT_TOKEN`` /
    ``$BAO_TOKEN`` or the file ``vault_token_file`` names; AWS credentials
    from ``$AWS_ACCESS_KEY_ID``/``$AWS_SECRET_ACCESS_KEY`` or the shared
    credentials file ``aws_credentials_file``).

    Put :func:`sealio.spark.kms_client_jar` on the driver and executor
    class path. ``jni``: decrypt through the C core (the library from
    :func:`jni_library`, built now unless ``jni_library_path`` is given;
    when it cannot be built the filesystem uses JCE); ``jni=False`` forces
    JCE. ``prefix=""`` gives Hadoop keys for ``hadoopConfiguration()``."""
    if not isinstance(keys, str) or not keys.startswith(("local:///", "vault+http://", "vault+https://",
                                                          "aws-kms://")):
        raise ConfigurationError("the JVM side reads local keyrings (local:///abs/path/keyring.json), Vault "
                                 "Transit (vault+https://HOST:PORT/MOUNT/keys/NAME) and AWS KMS "
                                 "(aws-kms://alias/NAME?region=R)")
    from sealio.kms import KmsRef

    KmsRef(keys)  # refuses credentials in the string, as everywhere else
    conf = {f"{prefix}fs.{SCHEME}.impl": FS_CLASS, f"{prefix}fs.{SCHEME}.keys": keys,
            f"{prefix}fs.{SCHEME}.jni.enabled": "true" if jni else "false"}
    if master_key:
        conf[f"{prefix}fs.{SCHEME}.master.key"] = master_key
    if vault_token_file:
        conf[f"{prefix}fs.{SCHEME}.vault.token.file"] = str(vault_token_file)
    if aws_credentials_file:
        conf[f"{prefix}fs.{SCHEME}.aws.credentials.file"] = str(aws_credentials_file)
    if segment_size:
        conf[f"{prefix}fs.{SCHEME}.segment.size"] = str(int(segment_size))
    if jni:
        path: str | None = str(jni_library_path) if jni_library_path else None
        if path is None:
            try:
                path = str(jni_library())
            except ConfigurationError:
                path = None  # the filesystem falls back to JCE
        if path:
            conf[f"{prefix}fs.{SCHEME}.jni.library"] = path
    return conf


def sealed_url(path: str | os.PathLike[str]) -> str:
    """``sealed:///abs/path`` for a local path."""
    return f"{SCHEME}://{Path(path).resolve().as_posix()}"


# ------------------------------------------------------------ BigDL PPML input (read-only)

BIGDL_FS_CLASS = "io.sealio.bigdl.BigdlFileSystem"
BIGDL_SCHEME = "bigdl"
_BIGDL_FORMATS = {"common": "common", "native": "native", "nativeaescbc": "native"}


def bigdl_fs_conf(fmt: str = "common", *, key_file: str | os.PathLike[str] | None = None,
                  scheme: str = BIGDL_SCHEME, inner_scheme: str | None = None,
                  chunk_size: int | None = None, prefix: str = "spark.hadoop.") -> Mapping[str, str]:
    """Spark conf for reading BigDL PPML's encrypted CSV/JSON/text output
    with stock Spark through ``io.sealio.bigdl.BigdlFileSystem`` (read-only,
    in the jar :func:`sealio.spark.kms_client_jar` builds).

    ``fmt``: ``common`` (MAC verified over each whole part before any row of
    it is returned) or ``native`` (BigDL's ``nativeaescbc``: no MAC). The
    format is part of the configuration, never guessed from the bytes, so a
    damaged header cannot downgrade a part to the unauthenticated format;
    read both in one session under two schemes (``scheme="bigdl-native"``).
    ``key_file``: a JSON key file as :func:`sealio.bigdl.config.load_key_file`
    reads it (``primary_key_plaintext``, or ``simple_app_id`` +
    ``simple_api_key`` + ``primary_key_path``), readable on every executor;
    without it each JVM takes the ``$SEALIO_BIGDL_*`` variables. The conf
    names files, never keys."""
    kind = _BIGDL_FORMATS.get(str(fmt).lower())
    if kind is None:
        raise ConfigurationError(f"BigDL format {fmt!r}: the bigdl filesystem reads common and native "
                                 "(nativeaescbc); decrypt legacy 2.1/2.2 parts with `sealio bigdl`")
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme) or scheme == SCHEME:
        raise ConfigurationError(f"{scheme!r} is not a URI scheme this filesystem can take")
    conf = {f"{prefix}fs.{scheme}.impl": BIGDL_FS_CLASS, f"{prefix}fs.{scheme}.format": kind}
    if key_file is not None:
        path = Path(key_file)
        if not path.is_absolute():
            raise ConfigurationError("the BigDL key file must be an absolute path (executors resolve it)")
        conf[f"{prefix}fs.{scheme}.key.file"] = path.as_posix()
    if inner_scheme:
        conf[f"{prefix}fs.{scheme}.inner.scheme"] = inner_scheme
    if chunk_size:
        conf[f"{prefix}fs.{scheme}.chunk.size"] = str(int(chunk_size))
    return conf


def bigdl_url(path: str | os.PathLike[str], scheme: str = BIGDL_SCHEME) -> str:
    """``bigdl:///abs/path`` for a local BigDL output directory or part."""
    return f"{scheme}://{Path(path).resolve().as_posix()}"
