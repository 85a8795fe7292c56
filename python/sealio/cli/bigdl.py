"""``sealio bigdl ...``: decrypt, encrypt, migrate, verify and inspect BigDL PPML's
encrypted files.

Secrets (the plaintext primary key, SimpleKMS and eHSM api keys) come from
the environment (:mod:`sealio.bigdl.config` lists the variables) or from a
file (``--primary-key-file``, ``--simple-api-key-file``,
``--ehsm-api-key-file``; ``-`` reads standard input, prompting on a
terminal). The old argv forms still work but print a warning: every user
of the machine can read a process's command line (``/proc/PID/cmdline``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sealio import bigdl
from sealio.bigdl import common, legacy
from sealio.bigdl.config import ENV
from sealio.bigdl.directory import is_part
from sealio.cli._common import (
    EXIT_FAIL,
    EXIT_OK,
    Progress,
    UsageError,
    check_master,
    load_kms,
    read_secret,
    report,
    say,
)
from sealio.cli._paths import open_in_tree, prepare_parent, walk_files
from sealio.errors import ConfigurationError, SealioError
from sealio.io.atomic import AtomicFileSink

# secret setting -> (argv option, file option); the argv form is deprecated
_SECRETS = {"primary_key_plaintext": ("--primary-key-plaintext", "--primary-key-file"),
            "simple_api_key": ("--simple-api-key", "--simple-api-key-file"),
            "ehsm_api_key": ("--ehsm-api-key", "--ehsm-api-key-file")}


def register(sub: Any) -> None:
    p = sub.add_parser("bigdl", help="read, write and migrate BigDL PPML encrypted files",
                       description="BigDL PPML compatibility (docs/BIGDL.md). BigDL's MAC is verified "
                                   "(fail closed) unless --no-verify-mac.")
    bsub = p.add_subparsers(dest="bigdl_command", metavar="ACTION", required=True)

    def key_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--format", choices=[*bigdl.FORMATS, "auto"], default="common",
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
    sp.set_defaults(func=cmd_decrypt)

    sp = bsub.add_parser("encrypt", help="plaintext -> BigDL common-format files (for pipelines "
                                         "still on BigDL; prefer sealed files)")
    key_options(sp)
    sp.add_argument("src", metavar="SRC")
    sp.add_argument("dst", metavar="DST")
    sp.set_defaults(func=cmd_encrypt)

    sp = bsub.add_parser("migrate", help="BigDL directory -> sealed files (streaming, MACs verified)")
    key_options(sp)
    sp.add_argument("--keyring", metavar="PATH", help="sealio keyring for the sealed output")
    sp.add_argument("--kms", metavar="URI", help="sealio KMS configuration for the sealed output")
    sp.add_argument("--master-key", metavar="NAME", help="sealio master key (default: the keyring's default)")
    sp.add_argument("src", metavar="SRC")
    sp.add_argument("dst", metavar="DST")
    sp.set_defaults(func=cmd_migrate)

    sp = bsub.add_parser("verify", help="authenticate every BigDL part (MACs), writing nothing")
    key_options(sp)
    sp.add_argument("path", metavar="PATH")
    sp.set_defaults(func=cmd_verify)

    sp = bsub.add_parser("inspect", help="show BigDL headers (no keys needed)")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.add_argument("--follow-symlinks", action="store_true", help="follow symbolic links inside the tree")
    sp.add_argument("path", metavar="PATH")
    sp.set_defaults(func=cmd_inspect)


def _settings(args: argparse.Namespace) -> dict[str, str | None]:
    """The key-source settings, each secret read once (a file, stdin, or the
    deprecated argv form, which warns; else config reads the environment)."""
    cached = getattr(args, "_bigdl_settings", None)
    if cached is not None:
        return dict(cached)
    out: dict[str, str | None] = {
        "simple_app_id": args.simple_app_id, "primary_key_path": args.primary_key_path,
        "ehsm_url": args.ehsm_url, "ehsm_app_id": args.ehsm_app_id,
        "data_key_path": getattr(args, "data_key_file", None)}
    for name, (argv_opt, file_opt) in _SECRETS.items():
        on_argv = getattr(args, argv_opt[2:].replace("-", "_"))
        from_file = getattr(args, file_opt[2:].replace("-", "_"))
        if on_argv is not None and from_file is not None:
            raise UsageError(f"give either {file_opt} or {argv_opt}, not both")
        if on_argv is not None:
            sys.stdout.flush()
            print(f"sealio: warning: {argv_opt} is deprecated: its value is visible to every user in the "
                  f"process list (/proc/PID/cmdline); use ${ENV[name]} or {file_opt}", file=sys.stderr)
        out[name] = read_secret(from_file, file_opt) if from_file is not None else on_argv
    args._bigdl_settings = out
    return dict(out)


def _key_source(args: argparse.Namespace) -> bigdl.KeySource:
    settings = {k: v for k, v in _settings(args).items() if k != "data_key_path"}
    try:
        return bigdl.key_source(**settings)  # type: ignore[arg-type]
    except ConfigurationError as e:
        raise UsageError(str(e)) from None


def _meta_key(src: str) -> str | None:
    """The ``.meta`` data key of SRC (a directory, or a part file's directory)."""
    directory = Path(src) if Path(src).is_dir() else Path(src).parent
    try:
        return bigdl.read_meta(directory)
    except (SealioError, OSError):
        return None  # only needed for keyless headers and KMS-keyed native files


def _opener(args: argparse.Namespace) -> bigdl.Opener:
    src = getattr(args, "src", None) or getattr(args, "path", None)
    try:
        return bigdl.opener(args.format, _settings(args), verify_mac=not getattr(args, "no_verify_mac", False),
                            meta_key=_meta_key(src) if src else None)
    except ConfigurationError as e:
        raise UsageError(str(e)) from None


def _part_files(path: str | Path, follow_symlinks: bool = False) -> list[Path]:
    """:func:`bigdl.part_files` for the CLI: a tree's links, FIFOs and
    devices are skipped with a message, not followed or opened."""
    p = Path(path)
    if not p.is_dir():
        return bigdl.part_files(p)
    return [f for f, rel in walk_files(p, follow_symlinks) if is_part(rel)]


def _pairs(src: Path, dst: Path, follow_symlinks: bool = False) -> list[tuple[Path, Path]]:
    if src.is_dir():
        return [(p, dst / p.relative_to(src)) for p in _part_files(src, follow_symlinks)]
    return [(src, dst)]


def _open_part(args: argparse.Namespace, p: Path, top: str | Path) -> Any:
    """A part opened safely (no FIFO, no link swapped in inside a tree)."""
    return open_in_tree(p, Path(top), args.follow_symlinks)


def cmd_decrypt(args: argparse.Namespace) -> int:
    opener = _opener(args)
    src, dst = Path(args.src), Path(args.dst)
    failures, pairs = 0, _pairs(src, dst, args.follow_symlinks)
    for s, d in pairs:
        prog = Progress(f"decrypt {s.name}", 0, False)
        sink: AtomicFileSink | None = None
        try:
            if src.is_dir():
                prepare_parent(dst, d, args.follow_symlinks)
            else:
                d.parent.mkdir(parents=True, exist_ok=True)
            prog = Progress(f"decrypt {s.name}", s.stat().st_size, not args.quiet)
            with _open_part(args, s, src) as raw, io.BufferedReader(opener.open_raw(raw, name=str(s)), 1 << 20) as fin:
                # mkstemp next to the output: O_EXCL, mode 0600, a random name (no planted link followed)
                sink = AtomicFileSink(d)
                while chunk := fin.read(4 << 20):
                    sink.write(memoryview(chunk))
                    prog(len(chunk))
                sink.publish()  # plaintext appears only once every MAC checked
        except (SealioError, OSError, ValueError) as e:
            failures += 1
            if sink is not None:
                sink.abort()
            report(s, e)
        except BaseException:
            if sink is not None:
                sink.abort()
            raise
        finally:
            prog.finish()
    say(args, f"decrypted {len(pairs) - failures} of {len(pairs)} BigDL file(s)")
    return EXIT_FAIL if failures else EXIT_OK


def cmd_encrypt(args: argparse.Namespace) -> int:
    if args.format != "common":
        raise UsageError("sealio writes BigDL's common format only (--format common)")
    keys = _key_source(args)
    src, dst = Path(args.src), Path(args.dst)
    files = [f for f, _ in walk_files(src, args.follow_symlinks)] if src.is_dir() else [src]
    outs = [dst / f"{p.relative_to(src)}.cbc" for p in files] if src.is_dir() else [dst]
    for out in outs:
        if src.is_dir():
            prepare_parent(dst, out, args.follow_symlinks)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
    # One data key per call, as BigDL does; part files are streamed (bounded memory) and
    # encrypted side by side (multi-buffer CBC); each output appears atomically.
    handles: list[Any] = []
    try:
        for p in files:
            handles.append(_open_part(args, p, src))
        sizes = [os.fstat(h.fileno()).st_size for h in handles]  # of what will be read
        prog = Progress("encrypt", sum(sizes), not args.quiet)
        try:
            encrypted_key = common.encrypt_parts(list(zip(handles, sizes, outs)), keys, progress=prog)
        finally:
            prog.finish()
    finally:
        for h in handles:
            h.close()
    if src.is_dir() and any(sizes):
        bigdl.write_meta(dst, encrypted_key)
    say(args, f"encrypted {len(files)} file(s) in BigDL's common format")
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    opener = _opener(args)
    kms = load_kms(args)
    master = args.master_key or getattr(kms, "default", None)
    if not master:
        raise UsageError("no master key: give --master-key NAME")
    check_master(kms, master)
    src, dst = Path(args.src), Path(args.dst)
    parts = _part_files(src, args.follow_symlinks)
    total = sum(p.stat().st_size for p in parts)
    prog = Progress("migrate", total, not args.quiet)

    def check(_part: Path, out: Path) -> None:
        if src.is_dir():
            prepare_parent(dst, out, args.follow_symlinks)

    try:
        done = bigdl.migrate(src, dst, opener, keys=kms, master_key=master, on_bytes=prog, on_file=check,
                             parts=parts)
    finally:
        prog.finish()
    say(args, f"migrated {len(done)} BigDL file(s) to sealed files under master key {master!r}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """Open each part through the authenticating reader (its MAC pass) and
    say which of BigDL's MAC constructions it carries."""
    opener = _opener(args)
    parts = _part_files(args.path, args.follow_symlinks)
    failures = 0
    for p in parts:
        try:
            with _open_part(args, p, args.path) as raw, opener.open_raw(raw, name=str(p)) as r:
                how = f"{r.mac_variant} MAC" if r.mac_variant else ("empty" if r.size == 0 else "no MAC")
                say(args, f"{p}: OK ({r.size} bytes, {how})")
        except (SealioError, OSError) as e:
            failures += 1
            report(p, e)
    say(args, f"verified {len(parts) - failures} of {len(parts)} BigDL file(s)")
    return EXIT_FAIL if failures else EXIT_OK


def _inspect_one(p: Path, size: int) -> dict[str, Any]:
    """What the header says, without keys: the common format's key length,
    or a legacy file's timestamp; sizes of ciphertext and plaintext bound."""
    with open(p, "rb") as f:
        head = f.read(common.HEADER_SIZE)
    if size and head[:1] == bytes([legacy.LEGACY_MAGIC]) and (size - legacy.LEGACY_HEAD - common.MAC_SIZE) % 16 == 0:
        try:
            bigdl.detect_format(p)
        except SealioError:  # not a common header: the 25-byte legacy layout
            ct = size - legacy.LEGACY_HEAD - common.MAC_SIZE
            epoch = int.from_bytes(head[1:9], "big", signed=True)
            try:
                when = datetime.fromtimestamp(epoch, timezone.utc).isoformat()
            except (ValueError, OverflowError, OSError):
                when = f"epoch {epoch} (not a date)"
            return {"file": str(p), "format": "legacy (2.1/2.2)", "size": size, "written": when,
                    "ciphertext_bytes": ct, "max_plaintext_bytes": ct - 1}
    row: dict[str, Any] = {"file": str(p), "format": bigdl.detect_format(p), "size": size}
    if size:
        hdr = common.parse_header(head, str(p))
        ct = size - common.HEADER_SIZE - common.MAC_SIZE
        row.update(encrypted_data_key_length=len(hdr.encrypted_data_key), ciphertext_bytes=ct,
                   max_plaintext_bytes=ct - 1)
    return row


def cmd_inspect(args: argparse.Namespace) -> int:
    rows, failures = [], 0
    for p in _part_files(args.path, args.follow_symlinks):
        try:
            size = p.stat().st_size
            rows.append(_inspect_one(p, size))
        except (SealioError, OSError) as e:
            failures += 1
            report(p, e)
    meta = bigdl.read_meta(args.path) if Path(args.path).is_dir() else None
    if args.json:
        print(json.dumps({"files": rows, "meta_present": meta is not None}, indent=2))
    else:
        for r in rows:
            print(f"{r['file']}: BigDL {r['format']}, {r['size']} bytes"
                  + (f", ciphertext {r['ciphertext_bytes']}" if r.get("ciphertext_bytes") else "")
                  + (f", written {r['written']}" if r.get("written") else ""))
        if meta is not None:
            print(f"{args.path}/.meta: encryptedDataKey present ({len(meta)} chars)")
    return EXIT_FAIL if failures else EXIT_OK
