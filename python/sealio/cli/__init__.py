"""The ``sealio`` command line: keygen, encrypt, decrypt, inspect, verify,
rewrap, demo and bigdl, one module per command group (:mod:`.keys`,
:mod:`.files`, :mod:`.demo`, :mod:`.bigdl` with its parser in
:mod:`.bigdl_args`); what they share is in
:mod:`._common` (exit codes, reporting, secrets and keys) and
:mod:`._paths` (safe local filesystem access).

Exit status: 0 success; 1 the operation failed (integrity or
authentication failure, unknown key, malformed or not-sealed input, I/O
error, an optional part not installed); 2 usage error (bad arguments,
missing input or keyring, a keyring path that is a directory). Every
failure is one line on stderr, never a traceback (``SEALIO_DEBUG=1``
re-raises unforeseen errors); a missing optional part (pyspark, Java,
fsspec, hvac, boto3, ...) is one sentence saying what to install. Warnings
are one line each (no source file or line), each shown once per run.

Trees: symbolic links inside SRC are not followed, nor directories in DST
that are symbolic links (``--follow-symlinks`` does both); links, FIFOs,
devices and sockets inside SRC are skipped with one line each on stderr.
Paths named on the command line are followed. The process marks itself
non-dumpable before any key is loaded (:func:`disable_core_dumps`).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import warnings
from collections.abc import Sequence

from sealio.cli import bigdl_args, demo, files, keys
from sealio.cli._common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    MissingPart,
    OneLineWarnings,
    UsageError,
    check_aad,
    disable_core_dumps,
    missing_part,
)
from sealio.cli._paths import open_source_file
from sealio.errors import SealioError

__all__ = ["EXIT_FAIL", "EXIT_OK", "EXIT_USAGE", "UsageError", "build_parser", "disable_core_dumps", "main",
           "open_source_file"]


class _Version(argparse.Action):
    """``--version``, importing :mod:`sealio._version` only when asked."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        from sealio import __version__

        print(f"sealio {__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sealio",
        description="Encrypted, seekable, authenticated files (sealed format v1, docs/FORMAT.md).",
        epilog="Exit status: 0 success, 1 integrity/authentication or other failure, 2 usage error. "
               "The keyring defaults to $SEALIO_KEYRING, else ~/.config/sealio/keyring.json; "
               "a passphrase-protected keyring reads $SEALIO_PASSPHRASE or prompts.",
    )
    p.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    keys.register(sub)
    files.register(sub)
    demo.register(sub, main)
    bigdl_args.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status (see the module docstring). Marks
    the process non-dumpable first: it is about to hold keys."""
    disable_core_dumps()
    if isinstance(sys.stdout, io.TextIOWrapper):  # file names of undecodable bytes print, escaped
        sys.stdout.reconfigure(errors="backslashreplace")
    formatwarning = warnings.formatwarning
    warnings.formatwarning = OneLineWarnings()  # one line each, once per run
    try:
        return _main(argv)
    finally:
        warnings.formatwarning = formatwarning


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help is 0, errors are 2
        return int(e.code) if isinstance(e.code, int) else EXIT_USAGE
    try:
        check_aad(args)
        return int(args.func(args))
    except UsageError as e:
        print(f"sealio: {e}", file=sys.stderr)
        return EXIT_USAGE
    except MissingPart as e:
        sys.stdout.flush()
        print(f"sealio: {e}", file=sys.stderr)
        return EXIT_FAIL
    except (SealioError, OSError) as e:
        print(f"sealio: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("sealio: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # unforeseen: one line (no message: it might quote input), never a traceback
        why = missing_part(e)  # an optional part not installed: say what to install
        if why is not None:
            sys.stdout.flush()
            print(f"sealio: {why}", file=sys.stderr)
            return EXIT_FAIL
        if os.environ.get("SEALIO_DEBUG"):
            raise
        sys.stdout.flush()
        print(f"sealio: internal error ({type(e).__name__}); SEALIO_DEBUG=1 shows the traceback",
              file=sys.stderr)
        return EXIT_FAIL
