"""``sealio bigdl``: decrypt, encrypt, migrate and inspect BigDL PPML files.

Registered into the main parser by :func:`register`. Every read verifies
BigDL's HMAC first (``--no-verify-mac`` is the warned salvage opt-out);
``migrate`` streams each part into a sealed file in constant memory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sealio import streams
from sealio.bigdl import formats as F
from sealio.bigdl.common import HEADER_SIZE, MAC_SIZE, read_header
from sealio.bigdl.keys import KeySource, PlaintextPrimaryKey, SimpleKms
from sealio.bigdl.meta import read_meta, write_meta
from sealio.bigdl.parts import encrypt_parts
from sealio.cli import (EXIT_FAIL, EXIT_OK, Progress, UsageError, _check_master, _human, _load_kms,
                        _report, _say)
from sealio.errors import SealioError
from sealio.keys import KeyManager

__all__ = ["register"]

ENV = {
    "primary_key_plaintext": "SEALIO_BIGDL_PRIMARY_KEY_PLAINTEXT",
    "simple_app_id": "SEALIO_BIGDL_SIMPLE_APP_ID",
    "simple_api_key": "SEALIO_BIGDL_SIMPLE_API_KEY",
    "ehsm_url": "SEALIO_BIGDL_EHSM_URL",
    "ehsm_app_id": "SEALIO_BIGDL_EHSM_APP_ID",
    "ehsm_api_key": "SEALIO_BIGDL_EHSM_API_KEY",
}


def _opt(args: argparse.Namespace, name: str) -> str | None:
    value = getattr(args, name, None)
    return value if value else os.environ.get(ENV[name]) or None


def key_source(args: argparse.Namespace) -> KeySource:
    """The key source named by the options (or their environment variables)."""
    plain = _opt(args, "primary_key_plaintext")
    simple = _opt(args, "simple_app_id")
    ehsm = _opt(args, "ehsm_url")
    if sum(x is not None for x in (plain, simple, ehsm)) != 1:
        raise UsageError("give exactly one key source: --primary-key-plaintext B64, "
                         "--simple-app-id/--simple-api-key/--primary-key-path, or "
                         "--ehsm-url/--ehsm-app-id/--ehsm-api-key/--primary-key-path")
    try:
        if plain is not None:
            return PlaintextPrimaryKey(plain)
        if not args.primary_key_path:
            raise UsageError("this key source needs --primary-key-path FILE")
        primary = Path(args.primary_key_path).read_text(encoding="utf-8")
        if simple is not None:
            api_key = _opt(args, "simple_api_key")
            if not api_key:
                raise UsageError("--simple-app-id needs --simple-api-key (or $SEALIO_BIGDL_SIMPLE_API_KEY)")
            return SimpleKms(simple, api_key, primary)
        return _ehsm_source(args, ehsm, primary)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _ehsm_source(args: argparse.Namespace, url: str | None, primary: str) -> KeySource:
    from sealio.bigdl.ehsm import EhsmClient, EhsmKeySource

    app_id, api_key = _opt(args, "ehsm_app_id"), _opt(args, "ehsm_api_key")
    if not url or not app_id or not api_key:
        raise UsageError("EHSM needs --ehsm-url, --ehsm-app-id and --ehsm-api-key")
    return EhsmKeySource(EhsmClient(url, app_id, api_key), primary.strip())


def _formats(args: argparse.Namespace, part: Path) -> str:
    if args.format:
        return str(args.format)
    found = F.detect_format(part)
    if found == "legacy":
        raise UsageError(f"{part}: a BigDL 2.1/2.2 file; pass --format legacy-2.1 or legacy-2.2")
    return found or "common"


def _edk(args: argparse.Namespace) -> str | None:
    path = getattr(args, "data_key_path", None)
    return Path(path).read_text(encoding="utf-8").strip() if path else None


def _open(args: argparse.Namespace, keys: KeySource, part: Path) -> Any:
    fmt = _formats(args, part)
    verify = not args.no_verify_mac
    try:
        return F.open_part(part, keys, format=fmt, verify_mac=verify, encrypted_data_key=_edk(args))
    except ValueError as e:
        raise UsageError(str(e)) from None


def _parts(src: Path) -> list[Path]:
    if src.is_dir():
        return F.part_files(src)
    if src.exists():
        return [src]
    raise UsageError(f"{src}: no such file or directory")


def _plain_name(part: Path) -> str:
    return part.name.removesuffix(".cbc")


def _each(args: argparse.Namespace, verb: str, one: Callable[[Path, Path, Progress], None]) -> int:
    src, dst = Path(args.src), Path(args.dst)
    parts = _parts(src)
    if not parts:
        raise UsageError(f"{src}: no part files")
    if src.is_dir():
        dst.mkdir(parents=True, exist_ok=True)
        targets = [dst / _plain_name(p) for p in parts]
    else:
        targets = [dst / _plain_name(src) if dst.is_dir() else dst]
    existing = [t for t in targets if t.exists()]
    if existing and not args.force:
        raise UsageError(f"{existing[0]} exists (use --force to overwrite)")
    failures = total = 0
    for part, target in zip(parts, targets):
        prog = Progress(f"{verb} {part.name}", part.stat().st_size, not args.quiet)
        try:
            one(part, target, prog)
            total += part.stat().st_size
        except (SealioError, OSError) as e:
            failures += 1
            _report(part, e)
        finally:
            prog.finish()
    _say(args, f"{verb}ed {len(parts) - failures} of {len(parts)} file(s) ({_human(total)} read)")
    return EXIT_FAIL if failures else EXIT_OK


def cmd_decrypt(args: argparse.Namespace) -> int:
    keys = key_source(args)

    def one(part: Path, target: Path, prog: Progress) -> None:
        with _open(args, keys, part) as fin:
            sink = streams._AtomicFileSink(target)
            try:
                streams.copy_stream(fin, sink, progress=prog)
                sink.publish()
            except BaseException:
                sink.abort()
                raise

    return _each(args, "decrypt", one)


def cmd_migrate(args: argparse.Namespace) -> int:
    keys = key_source(args)
    kms = _load_kms(args)
    master = args.master_key or getattr(kms, "default", None)
    if not master:
        raise UsageError("no master key: pass --master-key NAME")
    _check_master(kms, master)
    manager = KeyManager(kms)

    def one(part: Path, target: Path, prog: Progress) -> None:
        with _open(args, keys, part) as fin, \
                streams.open(target, "wb", keys=manager, master_key=master) as out:
            streams.copy_stream(fin, out, progress=prog)

    return _each(args, "migrat", one)


def cmd_encrypt(args: argparse.Namespace) -> int:
    if args.format not in (None, "common"):
        raise UsageError("sealio writes only BigDL's common format (the others are read-only here)")
    keys = key_source(args)
    src, dst = Path(args.src), Path(args.dst)
    sources = sorted(q for q in src.iterdir() if q.is_file() and not q.name.startswith((".", "_"))) \
        if src.is_dir() else _parts(src)
    if not sources:
        raise UsageError(f"{src}: no files")
    dst.mkdir(parents=True, exist_ok=True)
    targets = [dst / (q.name + ".cbc") for q in sources]
    existing = [t for t in targets if t.exists()]
    if existing and not args.force:
        raise UsageError(f"{existing[0]} exists (use --force to overwrite)")
    data_key, edk = keys.new_data_key()
    total = sum(q.stat().st_size for q in sources)
    prog = Progress(f"encrypt {len(sources)} file(s)", total, not args.quiet)
    handles = [open(q, "rb") for q in sources]  # noqa: SIM115 - closed below
    try:
        encrypt_parts([(h, q.stat().st_size, t) for h, q, t in zip(handles, sources, targets)],
                      data_key, edk, progress=prog)
    finally:
        prog.finish()
        for h in handles:
            h.close()
    write_meta(dst, edk)
    _say(args, f"encrypted {len(sources)} file(s) ({_human(total)}) into {dst} (BigDL common format)")
    return EXIT_OK


def _describe(part: Path, fmt_opt: str | None) -> dict[str, Any]:
    size = part.stat().st_size
    fmt = fmt_opt or F.detect_format(part) or "unknown"
    info: dict[str, Any] = {"file": str(part), "format": fmt, "file_size": size}
    if fmt == "common":
        if size == 0:
            info["plaintext_size"] = 0
            return info
        header = read_header(part)
        assert header is not None
        ct = size - HEADER_SIZE - MAC_SIZE
        info.update({
            "header_size": HEADER_SIZE,
            "encrypted_data_key_length": len(header.encrypted_data_key),
            "encrypted_data_key_sha256": hashlib.sha256(header.encrypted_data_key.encode()).hexdigest()[:16],
            "plaintext_size_range": [max(0, ct - 16), ct - 1],
            "mac": "HMAC-SHA256 of the ciphertext (header not covered)",
        })
        meta = read_meta(part.parent)
        if meta is not None:
            info["matches_meta"] = meta == header.encrypted_data_key
    elif fmt == "native":
        info.update({"plaintext_size_range": [max(0, size - 32), size - 17], "mac": "none"})
    elif fmt.startswith("legacy"):
        ct = size - F.LEGACY_PREFIX - MAC_SIZE
        info.update({"plaintext_size_range": [max(0, ct - 16), ct - 1], "mac": "HMAC-SHA256 of the ciphertext"})
    return info


def cmd_inspect(args: argparse.Namespace) -> int:
    path = Path(args.path)
    results, failures = [], 0
    for part in _parts(path):
        try:
            results.append(_describe(part, args.format))
        except (SealioError, OSError) as e:
            failures += 1
            _report(part, e)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for info in results:
            print(f"{info['file']}:")
            for k, v in info.items():
                if k != "file":
                    print(f"  {k.replace('_', ' '):28} {v}")
    return EXIT_FAIL if failures else EXIT_OK


def register(subparsers: Any) -> None:
    """Add ``sealio bigdl ...`` to the main command line."""
    p = subparsers.add_parser("bigdl", help="read, write and migrate BigDL PPML encrypted files",
                              description="BigDL PPML compatibility (docs/BIGDL.md). Unlike BigDL, "
                                          "every MAC is verified before plaintext is written.")
    sub = p.add_subparsers(dest="bigdl_command", metavar="COMMAND", required=True)

    def keys(sp: argparse.ArgumentParser) -> None:
        g = sp.add_argument_group("BigDL keys (also from $SEALIO_BIGDL_* environment variables)")
        g.add_argument("--primary-key-plaintext", metavar="B64",
                       help=f"base64 primary key (${ENV['primary_key_plaintext']})")
        g.add_argument("--simple-app-id", metavar="ID", help=f"SimpleKeyManagementService app id "
                       f"(${ENV['simple_app_id']})")
        g.add_argument("--simple-api-key", metavar="KEY", help=f"its api key (${ENV['simple_api_key']})")
        g.add_argument("--ehsm-url", metavar="URL", help=f"EHSM endpoint https://IP:PORT (${ENV['ehsm_url']})")
        g.add_argument("--ehsm-app-id", metavar="ID", help=f"EHSM app id (${ENV['ehsm_app_id']})")
        g.add_argument("--ehsm-api-key", metavar="KEY", help=f"EHSM api key (${ENV['ehsm_api_key']})")
        g.add_argument("--primary-key-path", metavar="FILE", help="primary key file (SimpleKMS, EHSM)")
        g.add_argument("--data-key-path", metavar="FILE", help="dataKey file (legacy 2.1/2.2 formats)")
        sp.add_argument("--format", choices=F.FORMATS, default=None,
                        help="BigDL file format (default: detected where unambiguous, else common)")

    def common(sp: argparse.ArgumentParser, reading: bool = True) -> None:
        keys(sp)
        if reading:
            sp.add_argument("--no-verify-mac", action="store_true",
                            help="SALVAGE ONLY: do not check BigDL's HMAC (warns; tampered data passes)")
        sp.add_argument("--force", action="store_true", help="overwrite existing destination files")
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress or summary output")
        sp.add_argument("src", metavar="SRC")
        sp.add_argument("dst", metavar="DST")

    sp = sub.add_parser("decrypt", help="BigDL part file or directory -> plaintext files")
    common(sp)
    sp.set_defaults(func=cmd_decrypt)
    sp = sub.add_parser("encrypt", help="plaintext file or directory -> BigDL directory (common format)")
    common(sp, reading=False)
    sp.set_defaults(func=cmd_encrypt)
    sp = sub.add_parser("migrate", help="BigDL directory -> sealed files (MACs verified, streaming)")
    common(sp)
    sp.add_argument("--keyring", metavar="PATH", help="sealio keyring for the sealed output")
    sp.add_argument("--kms", metavar="URI", help="sealio KMS for the sealed output (see docs/KMS.md)")
    sp.add_argument("--master-key", metavar="NAME", help="sealio master key (default: the keyring's default)")
    sp.set_defaults(func=cmd_migrate)
    sp = sub.add_parser("inspect", help="show BigDL part files' layout (no keys needed)")
    sp.add_argument("--format", choices=F.FORMATS, default=None)
    sp.add_argument("--json", action="store_true")
    sp.add_argument("path", metavar="PATH")
    sp.set_defaults(func=cmd_inspect)
