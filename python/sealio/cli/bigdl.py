"""``sealio bigdl ...``: decrypt, encrypt, migrate, verify and inspect BigDL PPML's
encrypted files.

``--format`` means the same on every command (``inspect`` defaults to
``auto``, the others to ``common``). ``encrypt`` writes the common or the
native format, appending ``.cbc`` as BigDL's codec does, and the ``.meta``
BigDL opens (``DIR/.meta`` of the path it reads: beside a single file);
``decrypt`` and ``migrate`` drop ``.cbc`` again. A 0-byte part is an empty
partition in every format. Exit status as for every command: 1 when a file
fails, 2 for a usage error (a missing SRC, an unreadable key file).

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
from sealio.bigdl import common, legacy, native
from sealio.bigdl.config import ENV, native_write_key
from sealio.bigdl.directory import CBC_SUFFIX, is_part, output_pairs
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
from sealio.cli._paths import make_dirs, open_in_tree, prepare_parent, remove_empty, walk_files
from sealio.errors import ConfigurationError, FormatError, SealioError
from sealio.io.atomic import AtomicFileSink

# secret setting -> (argv option, file option); the argv form is deprecated
_SECRETS = {"primary_key_plaintext": ("--primary-key-plaintext", "--primary-key-file"),
            "simple_api_key": ("--simple-api-key", "--simple-api-key-file"),
            "ehsm_api_key": ("--ehsm-api-key", "--ehsm-api-key-file")}


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


def _require_source(path: str | Path) -> Path:
    """SRC (or PATH) as named on the command line: a missing one, or one
    that is neither a file nor a directory, is a usage error (exit 2)."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{p}: no such file or directory")
    if not (p.is_file() or p.is_dir()):
        raise UsageError(f"{p}: not a regular file or a directory")
    return p


def _part_files(path: str | Path, follow_symlinks: bool = False) -> list[Path]:
    """:func:`bigdl.part_files` for the CLI: a tree's links, FIFOs and
    devices are skipped with a message, not followed or opened."""
    p = _require_source(path)
    if not p.is_dir():
        return bigdl.part_files(p)
    return [f for f, rel in walk_files(p, follow_symlinks) if is_part(rel)]


def _pairs(src: Path, dst: Path, follow_symlinks: bool = False) -> list[tuple[Path, Path]]:
    """(part, plaintext or sealed output): ``.cbc`` dropped from each name."""
    try:
        return output_pairs(src, dst, _part_files(src, follow_symlinks))
    except ConfigurationError as e:
        raise UsageError(str(e)) from None


def _open_part(args: argparse.Namespace, p: Path, top: str | Path) -> Any:
    """A part opened safely (no FIFO, no link swapped in inside a tree)."""
    return open_in_tree(p, Path(top), args.follow_symlinks)


def cmd_decrypt(args: argparse.Namespace) -> int:
    src, dst = _require_source(args.src), Path(args.dst)
    opener = _opener(args)
    failures, pairs = 0, _pairs(src, dst, args.follow_symlinks)
    created: list[Path] = []  # directories this run made: the ones left empty go at the end
    try:
        for s, d in pairs:
            failures += _decrypt_one(args, opener, src, dst, s, d, created)
    finally:
        remove_empty(created)
    say(args, f"decrypted {len(pairs) - failures} of {len(pairs)} BigDL file(s)")
    return EXIT_FAIL if failures else EXIT_OK


def _decrypt_one(args: argparse.Namespace, opener: bigdl.Opener, src: Path, dst: Path, s: Path, d: Path,
                 created: list[Path]) -> int:
    """1 if part ``s`` failed to decrypt to ``d`` (said on stderr), else 0."""
    prog = Progress(f"decrypt {s.name}", 0, False)
    sink: AtomicFileSink | None = None
    try:
        if src.is_dir():
            prepare_parent(dst, d, args.follow_symlinks, created)
        else:
            make_dirs(d.parent, created)
        prog = Progress(f"decrypt {s.name}", s.stat().st_size, not args.quiet)
        with _open_part(args, s, src) as raw, io.BufferedReader(opener.open_raw(raw, name=str(s)), 1 << 20) as fin:
            # mkstemp next to the output: O_EXCL, mode 0600, a random name (no planted link followed)
            sink = AtomicFileSink(d)
            while chunk := fin.read(4 << 20):
                sink.write(memoryview(chunk))
                prog(len(chunk))
            sink.publish()  # plaintext appears only once every MAC checked
        return 0
    except (SealioError, OSError, ValueError) as e:
        if sink is not None:
            sink.abort()
        prog.finish()  # the error goes on a line of its own, not the bar's
        report(s, e)
        return 1
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    finally:
        prog.finish()


_WRITTEN_FORMATS = ("common", "native")


def cmd_encrypt(args: argparse.Namespace) -> int:
    if args.format not in _WRITTEN_FORMATS:
        raise UsageError(f"sealio writes BigDL's {' and '.join(_WRITTEN_FORMATS)} formats "
                         f"(--format common or --format native), not {args.format}")
    src, dst = _require_source(args.src), Path(args.dst)
    keys: bigdl.KeySource | None = None
    meta_key, aes_key = "", b""
    if args.format == "native":  # the primary key itself, or a KMS data key recorded in .meta
        try:
            meta_key, aes_key = native_write_key(_settings(args))
        except ConfigurationError as e:
            raise UsageError(str(e)) from None
    else:
        keys = _key_source(args)
    files = [f for f, _ in walk_files(src, args.follow_symlinks)] if src.is_dir() else [src]
    if src.is_dir():
        outs = [dst / f"{p.relative_to(src)}{CBC_SUFFIX}" for p in files]
        meta_dir = dst
    else:  # BigDL reads DIR/.meta for whatever it is pointed at, so a single file's goes beside it
        outs = [dst / f"{src.name}{CBC_SUFFIX}" if dst.is_dir() else dst]
        meta_dir = outs[0].parent
    created: list[Path] = []  # directories this run made: a failed run takes back the empty ones
    # One data key per call, as BigDL does; part files are streamed (bounded memory) and
    # encrypted side by side (multi-buffer CBC); each output appears atomically.
    handles: list[Any] = []
    try:
        for out in outs:
            if src.is_dir():
                prepare_parent(dst, out, args.follow_symlinks, created)
            else:
                make_dirs(out.parent, created)
        for p in files:
            handles.append(_open_part(args, p, src))
        sizes = [os.fstat(h.fileno()).st_size for h in handles]  # of what will be read
        prog = Progress("encrypt", sum(sizes), not args.quiet)
        jobs = list(zip(handles, sizes, outs))
        try:
            if keys is None:
                native.encrypt_parts(jobs, aes_key, progress=prog)
            else:
                meta_key = common.encrypt_parts(jobs, keys, progress=prog)
        finally:
            prog.finish()
    finally:
        for h in handles:
            h.close()
        remove_empty(created)
    _write_meta(meta_dir, meta_key)
    say(args, f"encrypted {len(files)} file(s) in BigDL's {args.format} format")
    return EXIT_OK


def _write_meta(directory: Path, encrypted_data_key: str) -> None:
    """The ``.meta`` BigDL's readers open (``DIR/.meta`` of the path they
    read); replacing one that held another key is said on stderr, because
    BigDL then reads that directory's older parts with the wrong key."""
    try:
        old = bigdl.read_meta(directory)
    except (SealioError, OSError):
        old = None
    bigdl.write_meta(directory, encrypted_data_key)
    if old is not None and old != encrypted_data_key:
        sys.stdout.flush()
        print(f"sealio: warning: replaced {directory / '.meta'}, which held another data key: BigDL reads "
              "one data key per directory, so the older parts there no longer read with BigDL (sealio "
              "reads common-format parts with the key in each part's own header)", file=sys.stderr)


def cmd_migrate(args: argparse.Namespace) -> int:
    src, dst = _require_source(args.src), Path(args.dst)
    opener = _opener(args)
    kms = load_kms(args)
    master = args.master_key or getattr(kms, "default", None)
    if not master:
        raise UsageError("no master key: give --master-key NAME")
    check_master(kms, master)
    pairs = _pairs(src, dst, args.follow_symlinks)  # sealed names: .cbc dropped; a clash is a usage error
    parts = [p for p, _ in pairs]
    total = sum(p.stat().st_size for p in parts)
    prog = Progress("migrate", total, not args.quiet)
    created: list[Path] = []  # directories this run made: a failed run takes back the empty ones

    def check(_part: Path, out: Path) -> None:
        if src.is_dir():
            prepare_parent(dst, out, args.follow_symlinks, created)

    try:
        done = bigdl.migrate(src, dst, opener, keys=kms, master_key=master, on_bytes=prog, on_file=check,
                             parts=parts)
    finally:
        prog.finish()
        remove_empty(created)
    say(args, f"migrated {len(done)} BigDL file(s) to sealed files under master key {master!r}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """Open each part through the authenticating reader (its MAC pass) and
    say which of BigDL's MAC constructions it carries."""
    parts = _part_files(args.path, args.follow_symlinks)
    opener = _opener(args)
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


_LEGACY_ANY = "legacy (2.1/2.2)"  # what the bytes say: the key size is not recorded


def _detected(p: Path, head: bytes, size: int) -> str | None:
    """What the bytes alone say: ``empty``, ``common``, a legacy layout, or
    None (a native file has no header, so it looks like noise)."""
    if size == 0:
        return "empty"
    try:
        return bigdl.detect_format(p)
    except FormatError:
        return _LEGACY_ANY if _legacy_layout(head, size) else None


def _legacy_layout(head: bytes, size: int) -> bool:
    return (head[:1] == bytes([legacy.LEGACY_MAGIC]) and size >= legacy.LEGACY_HEAD + 16 + common.MAC_SIZE
            and (size - legacy.LEGACY_HEAD - common.MAC_SIZE) % 16 == 0)


def _inspect_one(p: Path, size: int, fmt: str = "auto") -> dict[str, Any]:
    """What the header says, without keys, read as ``fmt`` (``auto``: as
    detected): the common format's key length, a legacy file's timestamp;
    sizes of ciphertext and plaintext bound. A layout that ``fmt`` cannot
    have is a :class:`FormatError`, as its reader would refuse it."""
    with open(p, "rb") as f:
        head = f.read(common.HEADER_SIZE)
    detected = _detected(p, head, size)
    row: dict[str, Any] = {"file": str(p), "format": fmt, "size": size, "detected": detected}
    if size == 0:  # BigDL's empty partition: empty in every format
        row.update(format="empty" if fmt == "auto" else fmt, empty=True)
        return row
    if fmt == "auto":
        if detected is None:
            raise FormatError(f"{p}: not a BigDL common-format or legacy file (a native file has no header "
                              "to recognise: pass --format native)")
        fmt = row["format"] = detected
    if fmt == "common":
        hdr = common.parse_header(head, str(p))
        ct = size - common.HEADER_SIZE - common.MAC_SIZE
        row.update(encrypted_data_key_length=len(hdr.encrypted_data_key), ciphertext_bytes=ct,
                   max_plaintext_bytes=ct - 1)
    elif fmt == "native":
        if size < 2 * native.IV_SIZE or size % 16:
            raise FormatError(f"{p}: not a BigDL native AES-CBC file ({size} bytes)")
        ct = size - native.IV_SIZE
        row.update(ciphertext_bytes=ct, max_plaintext_bytes=ct - 1, integrity="none")
    else:
        if not _legacy_layout(head, size):
            raise FormatError(f"{p}: not a BigDL {fmt} file")
        ct = size - legacy.LEGACY_HEAD - common.MAC_SIZE
        epoch = int.from_bytes(head[1:9], "big", signed=True)
        try:
            when = datetime.fromtimestamp(epoch, timezone.utc).isoformat()
        except (ValueError, OverflowError, OSError):
            when = f"epoch {epoch} (not a date)"
        row.update(written=when, ciphertext_bytes=ct, max_plaintext_bytes=ct - 1)
    return row


def _inspect_line(r: dict[str, Any]) -> str:
    if r.get("empty"):
        kind = "" if r["format"] == "empty" else f"{r['format']}, "
        return f"{r['file']}: BigDL {kind}empty partition (0 bytes)"
    line = f"{r['file']}: BigDL {r['format']}, {r['size']} bytes"
    if r.get("ciphertext_bytes"):
        line += f", ciphertext {r['ciphertext_bytes']}"
    if r.get("written"):
        line += f", written {r['written']}"
    detected = r["detected"]
    if detected not in (None, r["format"]) and not (detected == _LEGACY_ANY and r["format"].startswith("legacy")):
        line += f" (its header looks {detected})"
    return line


def cmd_inspect(args: argparse.Namespace) -> int:
    rows, failures = [], 0
    for p in _part_files(args.path, args.follow_symlinks):
        try:
            size = p.stat().st_size
            rows.append(_inspect_one(p, size, args.format))
        except (SealioError, OSError) as e:
            failures += 1
            report(p, e)
    meta = bigdl.read_meta(args.path) if Path(args.path).is_dir() else None
    if args.json:
        print(json.dumps({"files": rows, "meta_present": meta is not None}, indent=2))
    else:
        for r in rows:
            print(_inspect_line(r))
        if meta is not None:
            print(f"{args.path}/.meta: encryptedDataKey present ({len(meta)} chars)")
    return EXIT_FAIL if failures else EXIT_OK
