"""``sealio encrypt|decrypt|inspect|verify|rewrap``: sealed files and trees.

SRC may be a file or a directory (processed recursively, mirrored under
DST); outputs appear atomically, so nothing partial is ever left under a
destination name. One failing file is reported and the tree goes on (exit
status 1 at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from sealio.cli._common import (
    EXIT_FAIL,
    EXIT_OK,
    Progress,
    UsageError,
    add_keyring,
    add_kms,
    add_quiet,
    check_master,
    human,
    load_kms,
    report,
    say,
)
from sealio.cli._paths import make_dirs, open_in_tree, prepare_parent, remove_empty, walk_files
from sealio.errors import ConfigurationError, SealioError
from sealio.format.header import segment_size_log2
from sealio.io import ops, whole
from sealio.io.atomic import AtomicFileSink
from sealio.keys import KeyManager


def parse_size(text: str) -> int:
    """``--segment-size``: ``64K``, ``1M``, ... (a power of two 4K..4M)."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1 << 10, "M": 1 << 20}.get(t[-1:], 1)
    try:
        value = int(t[:-1] if mult > 1 else t) * mult
        segment_size_log2(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a power of two between 4K and 4M (e.g. 64K, 1M)") from None
    return value


def _aad_for(args: argparse.Namespace, rel: str) -> bytes | None:
    if getattr(args, "bind_path", False):
        try:
            return rel.encode("utf-8")
        except UnicodeEncodeError:  # a name of undecodable bytes: this file fails, the tree goes on
            raise ConfigurationError("the file name is not UTF-8 text, so --bind-path cannot bind it "
                                     "(rename the file, or use --aad)") from None
    aad = getattr(args, "aad", None)
    return aad.encode("utf-8") if aad is not None else None


def _walk(src: Path, follow_symlinks: bool = False) -> Iterator[tuple[Path, str]]:
    """(file, path relative to the tree root as POSIX text) for a file or a
    tree. ``src`` itself was named by the user and is followed; a missing
    one, or one that is neither a file nor a directory, is a usage error."""
    try:
        yield from walk_files(src, follow_symlinks)
    except FileNotFoundError:
        raise UsageError(f"{src}: no such file or directory") from None
    except ValueError as e:  # the root is a FIFO, a device, ...
        raise UsageError(str(e)) from None


def _pairs(src: Path, dst: Path, follow_symlinks: bool = False) -> Iterator[tuple[Path, Path, str]]:
    if src.is_dir():
        if dst.exists() and not dst.is_dir():
            raise UsageError(f"{dst} exists and is not a directory")
        for f, rel in _walk(src, follow_symlinks):
            yield f, dst / rel, rel
    else:
        for f, rel in _walk(src):
            yield f, (dst / f.name if dst.is_dir() else dst), rel


# --------------------------------------------------------------- commands


def cmd_encrypt(args: argparse.Namespace) -> int:
    kr = load_kms(args)
    master = args.master_key or kr.default
    if not master:
        raise UsageError("no master key: pass --master-key NAME (or generate one with `sealio keygen`)")
    check_master(kr, master)  # KeyNotFoundError early, before any file is touched
    keys = KeyManager(kr)
    return _transform(args, lambda src, dst, rel, prog: _encrypt_one(args, keys, master, src, dst, rel, prog),
                      "encrypt")


def _encrypt_one(args: argparse.Namespace, keys: KeyManager, master: str, src: Path, dst: Path,
                 rel: str, prog: Progress) -> None:
    aad = _aad_for(args, rel)
    with open_in_tree(src, Path(args.src), args.follow_symlinks) as fin, \
            ops.open(dst, "wb" if args.force else "xb", keys=keys, master_key=master, aad=aad,
                     segment_size=args.segment_size, fsync=args.fsync) as out:
        if stat.S_ISREG(os.fstat(fin.fileno()).st_mode):
            out.write_file(fin.fileno(), progress=prog)  # on every CPU, chunks at their own offsets
        else:  # a path named on the command line may be a FIFO or a device: read it in order
            ops.copy_stream(fin, out, progress=prog)


def cmd_decrypt(args: argparse.Namespace) -> int:
    keys = KeyManager(load_kms(args))
    return _transform(args, lambda src, dst, rel, prog: _decrypt_one(args, keys, src, dst, rel, prog),
                      "decrypt")


def _decrypt_one(args: argparse.Namespace, keys: KeyManager, src: Path, dst: Path, rel: str,
                 prog: Progress) -> None:
    aad = _aad_for(args, rel)
    with open_in_tree(src, Path(args.src), args.follow_symlinks) as raw, \
            ops.open(raw, "rb", keys=keys, aad=aad, require_commitment=args.require_commitment) as fin:
        # plaintext appears only once fully authenticated; without --force, never over a file
        whole.decrypt_file(fin, AtomicFileSink(dst, fsync=args.fsync, replace=args.force), progress=prog)


def _transform(args: argparse.Namespace, one: Callable[[Path, Path, str, Progress], None], verb: str) -> int:
    src, dst = Path(args.src), Path(args.dst)
    follow = bool(getattr(args, "follow_symlinks", False))
    pairs = list(_pairs(src, dst, follow))
    if not pairs:
        raise UsageError(f"{src}: no files")
    existing = [d for _, d, _ in pairs if os.path.lexists(d)]
    if existing and not args.force:
        raise UsageError(f"{existing[0]} exists (use --force to overwrite)")
    tree = src.is_dir()
    failures, total = 0, 0
    created: list[Path] = []  # directories this run made: the empty ones go at the end
    try:
        for s, d, rel in pairs:
            failed, size = _transform_one(args, one, verb, tree, follow, s, d, rel, created)
            failures += failed
            total += size
    finally:
        remove_empty(created)
    say(args, f"{verb}ed {len(pairs) - failures} of {len(pairs)} file(s) ({human(total)} read)")
    return EXIT_FAIL if failures else EXIT_OK


def _transform_one(args: argparse.Namespace, one: Callable[[Path, Path, str, Progress], None], verb: str,
                   tree: bool, follow: bool, s: Path, d: Path, rel: str, created: list[Path]) -> tuple[int, int]:
    """(1 if it failed else 0, bytes read) for one file of a transform."""
    size = 0
    prog = Progress(f"{verb} {rel}", size, False)
    try:
        if tree:
            prepare_parent(Path(args.dst), d, follow, created)
        else:
            make_dirs(d.parent, created)
        size = s.stat().st_size
        prog = Progress(f"{verb} {rel}", size, not args.quiet)
        one(s, d, rel, prog)
        return 0, size
    except (SealioError, OSError) as e:
        prog.finish()
        report(s, e)
        return 1, 0
    finally:
        prog.finish()


def cmd_inspect(args: argparse.Namespace) -> int:
    results, failures = [], 0
    for target in args.files:
        for f, _ in _walk(Path(target), args.follow_symlinks):
            try:
                with open_in_tree(f, Path(target), args.follow_symlinks) as raw:
                    info = ops.inspect(raw)
                info["file"] = str(f)
                results.append(info)
            except (SealioError, OSError) as e:
                failures += 1
                if args.json:
                    results.append({"file": str(f), "error": type(e).__name__, "message": str(e)})
                else:
                    report(f, e)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 and len(args.files) == 1 and
                         not Path(args.files[0]).is_dir() else results, indent=2))
    else:
        for info in results:
            print(f"{info['file']}:")
            commitment = "key commitment" if info["key_commitment"] else "no key commitment"
            print(f"  format version   {info['format']} ({commitment})")
            print(f"  algorithm        {info['algorithm']} (suite {info['suite_id']})")
            print(f"  segment size     {info['segment_size']} ({human(info['segment_size'])})")
            print(f"  header length    {info['header_size']}")
            if info["size_valid"]:
                print(f"  plaintext size   {info['plaintext_size']} (unauthenticated until verified)")
                print(f"  segments         {info['segment_count']}")
            else:
                print(f"  plaintext size   invalid: the file size {info['file_size']} is truncated")
            print(f"  master key id    {info['master_key_id']}")
            print(f"  master key       {_key_version(info)}")
            print(f"  KEK id           {info['kek_id']}")
    return EXIT_FAIL if failures else EXIT_OK


def _key_version(info: dict[str, object]) -> str:
    """Which master key material wrapped the file's KEK, as the header records it."""
    if "master_key_version" in info:
        return f"version {info['master_key_version']} ({info['kms']})"
    if "kms_key_id" in info:
        return f"KMS key {info['kms_key_id']} ({info['kms']})"
    return "version not recorded in a form sealio knows (another KMS client)"


def cmd_verify(args: argparse.Namespace) -> int:
    keys = KeyManager(load_kms(args))
    failures = count = 0
    for target in args.files:
        for f, rel in _walk(Path(target), args.follow_symlinks):
            count += 1
            prog = Progress(f"verify {rel}", 0, False)
            try:
                aad = _aad_for(args, rel)
                prog = Progress(f"verify {rel}", f.stat().st_size, not args.quiet)
                with open_in_tree(f, Path(target), args.follow_symlinks) as raw, \
                        ops.open(raw, "rb", keys=keys, aad=aad,
                                     require_commitment=args.require_commitment) as r:
                    size = whole.verify_file(r, progress=prog)
                    nseg = r.segment_count
                prog.finish()  # the result goes on a line of its own, not the bar's
                say(args, f"{f}: OK ({size} bytes, {nseg} segments authenticated)")
            except (SealioError, OSError) as e:
                failures += 1
                prog.finish()
                report(f, e)
            finally:
                prog.finish()
    if count > 1:
        say(args, f"verified {count - failures} of {count} file(s)")
    return EXIT_FAIL if failures else EXIT_OK


def cmd_rewrap(args: argparse.Namespace) -> int:
    kr = load_kms(args)
    keys = KeyManager(kr)
    if args.master_key:
        check_master(kr, args.master_key)
    failures = count = 0
    for target in args.files:
        for f, rel in _walk(Path(target), args.follow_symlinks):
            count += 1
            try:
                ops.rewrap(f, keys, new_master_key=args.master_key, aad=_aad_for(args, rel),
                               in_place=args.in_place)
                info = ops.inspect(f)
                say(args, f"{f}: re-wrapped under {info['master_key_id']!r}, {_key_version(info)}")
            except (SealioError, OSError) as e:
                failures += 1
                report(f, e)
    return EXIT_FAIL if failures else EXIT_OK


# ----------------------------------------------------------------- parser


def _add_aad(sp: argparse.ArgumentParser) -> None:
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--aad", metavar="TEXT", help="associated data bound into the file (needed again to read)")
    g.add_argument("--bind-path", action="store_true",
                   help="bind each file's path relative to the tree root (its name for a single file)")


def _add_commitment(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--require-commitment", action="store_true",
                    help="refuse format 1.0 files (no key commitment, docs/FORMAT.md)")


def _add_follow(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--follow-symlinks", action="store_true",
                    help="follow symbolic links inside trees (and write through linked directories "
                         "inside DST); by default they are skipped with a message")


def register(sub: argparse._SubParsersAction) -> None:
    """Add encrypt, decrypt, inspect, verify and rewrap to ``sub``."""
    for name, func, helptext in (("encrypt", cmd_encrypt, "seal a file or a whole tree"),
                                 ("decrypt", cmd_decrypt, "authenticate and decrypt a file or a tree")):
        sp = sub.add_parser(name, help=helptext, description=helptext.capitalize() + ". SRC may be "
                            "a directory (processed recursively, mirrored under DST). Outputs appear "
                            "atomically: nothing partial is ever left under a destination name.")
        add_keyring(sp)
        add_kms(sp)
        if name == "encrypt":
            sp.add_argument("--master-key", metavar="NAME", help="master key (default: the keyring's default)")
            sp.add_argument("--segment-size", type=parse_size, default=None, metavar="SIZE",
                            help="segment size, a power of two 4K..4M (default 64K)")
        else:
            _add_commitment(sp)
        _add_aad(sp)
        sp.add_argument("--force", action="store_true", help="overwrite existing destination files")
        sp.add_argument("--no-fsync", dest="fsync", action="store_false",
                        help="publish each output by rename only, as cp does: faster, but a crash soon "
                             "after may leave it short (a sealed output then fails to read as truncated; "
                             "a decrypted one does not)")
        _add_follow(sp)
        add_quiet(sp)
        sp.add_argument("src", metavar="SRC")
        sp.add_argument("dst", metavar="DST")
        sp.set_defaults(func=func)

    sp = sub.add_parser("inspect", help="show a sealed file's header (no keys needed)",
                        description="Print the header: version, algorithm, segment size, header "
                                    "length, plaintext size, segment count, key ids. Never key material.")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    _add_follow(sp)
    sp.add_argument("files", nargs="+", metavar="FILE")
    sp.set_defaults(func=cmd_inspect)

    sp = sub.add_parser("verify", help="authenticate every segment without writing plaintext",
                        description="Authenticate header and every segment of sealed files or trees.")
    add_keyring(sp)
    add_kms(sp)
    _add_commitment(sp)
    _add_aad(sp)
    _add_follow(sp)
    add_quiet(sp)
    sp.add_argument("files", nargs="+", metavar="FILE")
    sp.set_defaults(func=cmd_verify)

    sp = sub.add_parser("rewrap", help="re-wrap file keys under a new master key or version",
                        description="Re-wrap the data key of sealed files under --master-key (default: "
                                    "the newest version of each file's current master key). Segments "
                                    "are not re-encrypted.")
    add_keyring(sp)
    add_kms(sp)
    sp.add_argument("--master-key", metavar="NAME", help="new master key (default: same name, newest version)")
    sp.add_argument("--in-place", action="store_true",
                    help="overwrite the header in place (fast; not crash-safe) instead of copy+rename")
    _add_aad(sp)
    _add_follow(sp)
    add_quiet(sp)
    sp.add_argument("files", nargs="+", metavar="FILE")
    sp.set_defaults(func=cmd_rewrap)
