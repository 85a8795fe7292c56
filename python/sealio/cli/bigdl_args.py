"""The ``sealio bigdl ...`` argument parser, apart from the commands
(:mod:`sealio.cli.bigdl`): every ``sealio`` run builds the whole parser,
and the commands' imports (the BigDL formats, key sources, pyarrow's CSV
reader) cost about 25 ms that ``sealio encrypt`` or ``--version`` never
needs, so they load when a ``bigdl`` command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from sealio.bigdl.formats import FORMATS


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    """``sealio.cli.bigdl.<name>``, imported when the command runs."""

    def run(args: argparse.Namespace) -> int:
        from sealio.cli import bigdl

        return int(getattr(bigdl, name)(args))

    run.__name__ = run.__qualname__ = name
    return run


def register(sub: Any) -> None:
    p = sub.add_parser("bigdl", help="read, write and migrate BigDL PPML encrypted files",
                       description="BigDL PPML compatibility (docs/BIGDL.md). BigDL's MAC is verified "
                                   "(fail closed) unless --no-verify-mac.")
    bsub = p.add_subparsers(dest="bigdl_command", metavar="ACTION", required=True)

    def key_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--format", choices=[*FORMATS, "auto"], default="common",
                        help="BigDL file format (default common; auto detects common files)")
        sp.add_argument("--primary-key-file", metavar="FILE",
                        help="file holding the plaintext primary key, base64 ('-': standard input or a "
                             "prompt); default $SEALIO_BIGDL_PRIMARY_KEY")
        sp.add_argument("--primary-key-plaintext", metavar="B64",
                        help="deprecated, visible to all users in /proc/PID/cmdline: use "
                             "$SEALIO_BIGDL_PRIMARY_KEY or --primary-key-file")
        sp.add_argument("--simple-app-id", metavar="ID", help="SimpleKMS app id ($SEALIO_BIGDL_APP_ID)")
        sp.add_argument("--simple-api-key-file", metavar="FILE",
                        help="file holding the SimpleKMS api key ('-': standard input); default "
                             "$SEALIO_BIGDL_API_KEY")
        sp.add_argument("--simple-api-key", metavar="KEY",
                        help="deprecated (visible in /proc/PID/cmdline): use $SEALIO_BIGDL_API_KEY "
                             "or --simple-api-key-file")
        sp.add_argument("--primary-key-path", metavar="FILE",
                        help="SimpleKMS primary key file, or the eHSM primary key id file "
                             "($SEALIO_BIGDL_PRIMARY_KEY_PATH)")
        sp.add_argument("--ehsm-url", metavar="URL", help="eHSM-KMS base URL, https://HOST:PORT ($SEALIO_EHSM_URL)")
        sp.add_argument("--ehsm-app-id", metavar="ID", help="eHSM app id ($SEALIO_EHSM_APP_ID)")
        sp.add_argument("--ehsm-api-key-file", metavar="FILE",
                        help="file holding the eHSM api key ('-': standard input); default $SEALIO_EHSM_API_KEY")
        sp.add_argument("--ehsm-api-key", metavar="KEY",
                        help="deprecated (visible in /proc/PID/cmdline): use $SEALIO_EHSM_API_KEY "
                             "or --ehsm-api-key-file")
        sp.add_argument("--data-key-file", metavar="FILE",
                        help="legacy 2.1/2.2: file with the data-key text ($SEALIO_BIGDL_DATA_KEY_PATH)")
        sp.add_argument("--follow-symlinks", action="store_true",
                        help="follow symbolic links inside trees and write through linked directories "
                             "inside DST (by default they are skipped or refused with a message)")
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress or summary output")

    sp = bsub.add_parser("decrypt", help="BigDL files -> plaintext (MACs verified)")
    key_options(sp)
    sp.add_argument("--no-verify-mac", action="store_true", help="salvage: skip the MAC check (warns)")
    sp.add_argument("src", metavar="SRC")
    sp.add_argument("dst", metavar="DST")
    sp.set_defaults(func=_command("cmd_decrypt"))

    sp = bsub.add_parser("encrypt", help="plaintext -> BigDL files, common (default) or native format, "
                                         "with the .meta BigDL reads (for pipelines still on BigDL; "
                                         "prefer sealed files)")
    key_options(sp)
    sp.add_argument("src", metavar="SRC")
    sp.add_argument("dst", metavar="DST")
    sp.set_defaults(func=_command("cmd_encrypt"))

    sp = bsub.add_parser("migrate", help="BigDL directory -> sealed files (streaming, MACs verified)")
    key_options(sp)
    sp.add_argument("--keyring", metavar="PATH", help="sealio keyring for the sealed output")
    sp.add_argument("--kms", metavar="URI", help="sealio KMS configuration for the sealed output")
    sp.add_argument("--master-key", metavar="NAME", help="sealio master key (default: the keyring's default)")
    sp.add_argument("src", metavar="SRC")
    sp.add_argument("dst", metavar="DST")
    sp.set_defaults(func=_command("cmd_migrate"))

    sp = bsub.add_parser("verify", help="authenticate every BigDL part (MACs), writing nothing")
    key_options(sp)
    sp.add_argument("path", metavar="PATH")
    sp.set_defaults(func=_command("cmd_verify"))

    sp = bsub.add_parser("inspect", help="show BigDL headers (no keys needed)")
    sp.add_argument("--format", choices=[*FORMATS, "auto"], default="auto",
                    help="read the layout as this format (default auto: common and legacy files are "
                         "recognised by their header; native files have none, so name it)")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.add_argument("--follow-symlinks", action="store_true", help="follow symbolic links inside the tree")
    sp.add_argument("path", metavar="PATH")
    sp.set_defaults(func=_command("cmd_inspect"))
