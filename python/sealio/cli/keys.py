"""``sealio keygen``: create a local keyring and master keys, rotate them."""

from __future__ import annotations

import argparse

from sealio.cli._common import EXIT_OK, UsageError, add_keyring, add_quiet, keyring_path, load_keyring, passphrase, say
from sealio.kms.local import DEFAULT_SCRYPT_N, LocalKeyring


def cmd_keygen(args: argparse.Namespace) -> int:
    path = keyring_path(args)
    if path.exists():
        kr = load_keyring(args)
    else:
        pw = passphrase(confirm=True) if args.passphrase else None
        try:
            kr = LocalKeyring.create(path, pw, scrypt_n=args.scrypt_n)
        except ValueError as e:  # a scrypt cost above the cap
            raise UsageError(str(e)) from None
        say(args, f"created keyring {path} (mode 0600{', passphrase-protected' if pw else ''})")
    if args.rotate:
        v = kr.rotate(args.name)
        say(args, f"rotated master key {args.name!r}: now version {v} "
                  f"(older versions still unwrap; `sealio rewrap` moves files to v{v})")
    else:
        try:
            kr.generate(args.name, make_default=True if args.default else None)
        except ValueError as e:
            raise UsageError(str(e)) from None
        say(args, f"generated master key {args.name!r} version 1 in {path}")
    if args.default and args.rotate:
        kr.set_default(args.name)
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    """Add keygen to ``sub``."""
    sp = sub.add_parser("keygen", help="create a keyring and/or a master key, or rotate one",
                        description="Generate a named AES-256 master key in a local keyring (created "
                                    "with mode 0600 if missing). --rotate adds a new version.")
    add_keyring(sp)
    sp.add_argument("name", metavar="NAME", help="master key name")
    sp.add_argument("--rotate", action="store_true", help="add a new version of an existing key")
    sp.add_argument("--default", action="store_true", help="make NAME the keyring's default master key")
    sp.add_argument("--passphrase", action="store_true",
                    help="protect a new keyring with a passphrase (scrypt); from $SEALIO_PASSPHRASE or a prompt")
    sp.add_argument("--scrypt-n", type=int, default=DEFAULT_SCRYPT_N, help=argparse.SUPPRESS)
    add_quiet(sp)
    sp.set_defaults(func=cmd_keygen)
