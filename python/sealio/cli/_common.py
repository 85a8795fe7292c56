"""What every command group shares: exit codes, the usage error, one-line
reporting, progress, and reading secrets and keys (a passphrase, a secret
file, the keyring or a KMS).

Every failure is one line on stderr, never a traceback; secrets never come
from argv unless a deprecated option says so.
"""

from __future__ import annotations

import argparse
import ctypes
import getpass
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from sealio.cli._paths import open_source_file
from sealio.kms.local import LocalKeyring, default_keyring_path

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
SECRET_FILE_MAX = 64 << 10


class UsageError(Exception):
    """Bad invocation: exit status 2."""


class MissingPart(Exception):
    """An optional part (a package, Java) is not installed: exit status 1,
    one line saying what to install."""


# What to install for an optional module, by the top-level name an
# ImportError reports.
_INSTALL = {
    "pyspark": "'sealio[spark]'", "py4j": "'sealio[spark]'",
    "hvac": "'sealio[vault]'", "boto3": "'sealio[aws]'", "botocore": "'sealio[aws]'",
    "fsspec": "'sealio[fsspec]'", "s3fs": "'sealio[s3]'", "aiobotocore": "'sealio[s3]'",
    "pandas": "'sealio[dataframes]'", "duckdb": "'sealio[dataframes]'", "polars": "'sealio[dataframes]'",
    "dask": "'sealio[dataframes]'", "requests": "'sealio[ehsm]'",
}
JAVA_HINT = ("install a JDK 17 or later (e.g. `apt-get install openjdk-17-jdk-headless`) "
             "or set JAVA_HOME to one")


def java_home() -> str | None:
    """The ``java`` Spark would start: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = os.path.join(home, "bin", "java")
        return java if os.access(java, os.X_OK) else None
    import shutil

    return shutil.which("java")


def missing_part(e: BaseException) -> str | None:
    """One sentence saying what to install, when ``e`` is an optional part
    missing (a module of an extra, or Java for Spark); else None."""
    if isinstance(e, ModuleNotFoundError) and e.name:
        top = e.name.partition(".")[0]
        if top in _INSTALL:
            return f"this needs {top}, which is not installed: pip install {_INSTALL[top]}"
    error_class = getattr(e, "getCondition", None) or getattr(e, "getErrorClass", None)
    if type(e).__name__ == "PySparkRuntimeError" and callable(error_class) and \
            error_class() == "JAVA_GATEWAY_EXITED":
        return f"Spark could not start Java (JAVA_GATEWAY_EXITED): {JAVA_HINT}"
    return None


_PR_SET_DUMPABLE = 4


def disable_core_dumps() -> bool:
    """Keep keys and plaintext out of core files: on Linux
    ``prctl(PR_SET_DUMPABLE, 0)`` (no core dump, and no same-user ptrace or
    reading of ``/proc/PID/mem`` and ``environ``), elsewhere a zero
    ``RLIMIT_CORE``. True when one of them took effect."""
    done = False
    if sys.platform.startswith("linux"):
        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl
            done = prctl(ctypes.c_int(_PR_SET_DUMPABLE), ctypes.c_ulong(0), ctypes.c_ulong(0),
                         ctypes.c_ulong(0), ctypes.c_ulong(0)) == 0
        except (OSError, AttributeError):
            pass
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
        done = True
    except (ImportError, OSError, ValueError):
        pass
    return done


# ------------------------------------------------------------ reporting


class Progress:
    """A one-line stderr progress indicator (only on a terminal, at most
    ~10 Hz). Call :meth:`finish` before printing anything else, so that no
    result or error lands on the bar's line."""

    def __init__(self, label: str, total: int, enabled: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.label, self.total, self.done = label, total, 0
        self.start = time.monotonic()
        self.last: float | None = None  # when the bar was last drawn (None: not yet)

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (self.last is None or now - self.last >= 0.1):
            self.last = now
            pct = f"{100 * self.done / self.total:5.1f}%" if self.total else ""
            rate = self.done / max(now - self.start, 1e-9)
            self.stream.write(f"\r{self.label} {pct} {human(self.done)}/{human(self.total)} "
                              f"{human(rate)}/s\x1b[K")
            self.stream.flush()

    def finish(self) -> None:
        """Clear the bar's line (once; later calls do nothing)."""
        if self.enabled and self.last is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self.enabled = False


def human(n: float) -> str:
    """A byte count for people: ``512 B``, ``1.5 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def say(args: argparse.Namespace, text: str) -> None:
    """A result line on stdout, unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(text)


def report(path: Path | str, e: BaseException) -> None:
    """One stderr line for a file that failed; the tree goes on."""
    sys.stdout.flush()
    print(f"sealio: {path}: {type(e).__name__}: {e}", file=sys.stderr)


def one_line_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> str:
    """``warnings.formatwarning`` for the CLI: one line, no source quoted."""
    return f"sealio: warning: {message}\n"


class OneLineWarnings:
    """``warnings.formatwarning`` for the CLI: each distinct warning once per
    run, as one line without the file, line number or source that raised
    it (sealio's or a library's internals, not the user's). A repeat formats
    as nothing. Being a formatter, not a ``showwarning``, it leaves
    ``warnings.catch_warnings(record=True)`` recording as before."""

    def __init__(self) -> None:
        self.seen: set[tuple[type[Warning], str]] = set()

    def __call__(self, message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 line: str | None = None) -> str:
        key = (category, str(message))
        if key in self.seen:
            return ""
        self.seen.add(key)
        sys.stdout.flush()  # so the line lands after what was printed before it
        return one_line_warning(message, category)


# ------------------------------------------------------------ options


def add_keyring(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--keyring", metavar="PATH", help="keyring file (default: $SEALIO_KEYRING or "
                    "~/.config/sealio/keyring.json)")


def add_kms(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--kms", metavar="URI", help="KMS configuration instead of the keyring (default: "
                    "$SEALIO_KMS), e.g. vault+https://HOST:8200/transit/keys/NAME, "
                    "aws-kms://alias/NAME?region=R, local:///path/keyring.json; see docs/KMS.md")


def add_quiet(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress or summary output")


def check_aad(args: argparse.Namespace) -> None:
    """``--aad`` is bound as UTF-8: argv bytes that are not UTF-8 (kept as
    surrogates by Python) are a usage error, not a traceback."""
    aad = getattr(args, "aad", None)
    if aad is not None:
        try:
            aad.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError("--aad must be UTF-8 text (it is bound as its UTF-8 bytes)") from None


# ------------------------------------------------------------ secrets and keys


def passphrase(confirm: bool = False) -> str:
    """The keyring passphrase: ``$SEALIO_PASSPHRASE``, else a prompt."""
    env = os.environ.get("SEALIO_PASSPHRASE")
    if env is not None:
        return env
    if not sys.stdin.isatty():
        raise UsageError("the keyring needs a passphrase: set SEALIO_PASSPHRASE or run on a terminal")
    first = getpass.getpass("keyring passphrase: ")
    if confirm and getpass.getpass("repeat passphrase: ") != first:
        raise UsageError("passphrases do not match")
    return first


def read_secret(path: str, option: str) -> str:
    """A secret from a file (or ``-``: standard input, prompting on a
    terminal), surrounding whitespace stripped. Errors name the file, never
    its content."""
    if path == "-":
        text = getpass.getpass(f"{option[2:-5].replace('-', ' ')}: ") if sys.stdin.isatty() \
            else sys.stdin.read(SECRET_FILE_MAX + 1)
        where = "standard input"
    else:
        where = path
        try:
            with open_source_file(path) as f:
                text = f.read(SECRET_FILE_MAX + 1).decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
            raise UsageError(f"{option} {path}: cannot read it ({why})") from None
    if len(text) > SECRET_FILE_MAX:
        raise UsageError(f"{option}: {where} is too large for a key")
    text = text.strip()
    if not text:
        raise UsageError(f"{option}: {where} is empty")
    return text


def keyring_path(args: argparse.Namespace) -> Path:
    """``--keyring`` (a file; a directory is a usage error, even one that does
    not exist yet: ``DIR/`` would otherwise create a file named DIR), else
    the default keyring."""
    if not args.keyring:
        return default_keyring_path()
    path = Path(args.keyring).expanduser()
    if args.keyring.endswith(("/", os.sep)) or path.is_dir():
        raise UsageError(f"--keyring {args.keyring} names a directory; name the keyring file in it, "
                         f"e.g. --keyring {path / 'keyring.json'}")
    return path


def load_keyring(args: argparse.Namespace) -> LocalKeyring:
    """The ``--keyring`` (or default) keyring; a missing one is a usage error."""
    path = keyring_path(args)
    if not path.exists():
        raise UsageError(f"keyring {path} does not exist: create one with `sealio keygen --keyring {path} NAME`")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        protected = isinstance(doc, dict) and "kdf" in doc
    except (OSError, ValueError, RecursionError):
        protected = False  # LocalKeyring reports the real problem
    return LocalKeyring(path, passphrase() if protected else None)


def load_kms(args: argparse.Namespace) -> Any:
    """The KMS of a key-using command: ``--kms URI``, else ``--keyring PATH``,
    else ``$SEALIO_KMS``, else the default local keyring."""
    uri = getattr(args, "kms", None)
    if uri and args.keyring:
        raise UsageError("give either --kms or --keyring, not both")
    if not uri and not args.keyring:
        uri = os.environ.get("SEALIO_KMS") or None
    if not uri:
        return load_keyring(args)
    from sealio.kms import from_uri

    return from_uri(uri)


def check_master(kms: Any, name: str) -> None:
    """Fail before any file is touched if the master key is unusable."""
    check = getattr(kms, "check_key", None) or getattr(kms, "versions", None)
    if check is not None:
        check(name)


__all__ = ["EXIT_FAIL", "EXIT_OK", "EXIT_USAGE", "JAVA_HINT", "MissingPart", "OneLineWarnings", "Progress",
           "UsageError", "java_home", "missing_part",
           "add_keyring", "add_kms", "add_quiet", "check_aad", "check_master", "disable_core_dumps", "human",
           "keyring_path", "load_keyring", "load_kms", "one_line_warning", "passphrase", "read_secret",
           "report", "say"]
