"""``sealio bigdl ...``: decrypt, encrypt, migrate, verify and inspect BigDL PPML's
encrypted files. Credentials come from options or the environment
(:mod:`sealio.bigdl.config` lists the variables)."""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sealio import bigdl
from sealio.bigdl import common, legacy, streaming
from sealio.cli import EXIT_FAIL, EXIT_OK, Progress, UsageError, _check_master, _load_kms, _report, _say
from sealio.errors import ConfigurationError, SealioError


def register(sub: Any) -> None:
    p = sub.add_parser("bigdl", help="read, write and migrate BigDL PPML encrypted files",
                       description="BigDL PPML compatibility (docs/BIGDL.md). BigDL's MAC is verified "
                                   "(fail closed) unless --no-verify-mac.")
    bsub = p.add_subparsers(dest="bigdl_command", metavar="ACTION", required=True)

    def key_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--format", choices=[*bigdl.FORMATS, "auto"], default="common",
                        help="BigDL file format (default common; auto detects common files)")
        sp.add_argument("--primary-key-plaintext", metavar="B64",
                        help="plaintext primary key (default $SEALIO_BIGDL_PRIMARY_KEY)")
        sp.add_argument("--simple-app-id", metavar="ID", help="SimpleKMS app id ($SEALIO_BIGDL_APP_ID)")
        sp.add_argument("--simple-api-key", metavar="KEY", help="SimpleKMS api key ($SEALIO_BIGDL_API_KEY)")
        sp.add_argument("--primary-key-path", metavar="FILE",
                        help="SimpleKMS primary key file, or the eHSM primary key id file "
                             "($SEALIO_BIGDL_PRIMARY_KEY_PATH)")
        sp.add_argument("--ehsm-url", metavar="URL", help="eHSM-KMS base URL, https://HOST:PORT ($SEALIO_EHSM_URL)")
        sp.add_argument("--ehsm-app-id", metavar="ID", help="eHSM app id ($SEALIO_EHSM_APP_ID)")
        sp.add_argument("--ehsm-api-key", metavar="KEY", help="eHSM api key ($SEALIO_EHSM_API_KEY)")
        sp.add_argument("--data-key-file", metavar="FILE",
                        help="legacy 2.1/2.2: file with the data-key text ($SEALIO_BIGDL_DATA_KEY_PATH)")
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
    sp.add_argument("path", metavar="PATH")
    sp.set_defaults(func=cmd_inspect)


def _settings(args: argparse.Namespace) -> dict[str, str | None]:
    return {"primary_key_plaintext": args.primary_key_plaintext, "simple_app_id": args.simple_app_id,
            "simple_api_key": args.simple_api_key, "primary_key_path": args.primary_key_path,
            "ehsm_url": args.ehsm_url, "ehsm_app_id": args.ehsm_app_id, "ehsm_api_key": args.ehsm_api_key,
            "data_key_path": getattr(args, "data_key_file", None)}


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


def _pairs(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    if src.is_dir():
        return [(p, dst / p.relative_to(src)) for p in bigdl.part_files(src)]
    return [(src, dst)]


def cmd_decrypt(args: argparse.Namespace) -> int:
    opener = _opener(args)
    failures, pairs = 0, _pairs(Path(args.src), Path(args.dst))
    for s, d in pairs:
        d.parent.mkdir(parents=True, exist_ok=True)
        prog = Progress(f"decrypt {s.name}", s.stat().st_size, not args.quiet)
        tmp = d.with_name(f".{d.name}.sealio-tmp")
        try:
            with opener(s) as fin, open(tmp, "wb") as fout:
                while chunk := fin.read(4 << 20):
                    fout.write(chunk)
                    prog(len(chunk))
            os.replace(tmp, d)  # plaintext appears only once every MAC checked
        except (SealioError, OSError, ValueError) as e:
            failures += 1
            tmp.unlink(missing_ok=True)
            _report(s, e)
        finally:
            prog.finish()
    _say(args, f"decrypted {len(pairs) - failures} of {len(pairs)} BigDL file(s)")
    return EXIT_FAIL if failures else EXIT_OK


def cmd_encrypt(args: argparse.Namespace) -> int:
    if args.format != "common":
        raise UsageError("sealio writes BigDL's common format only (--format common)")
    keys = _key_source(args)
    src, dst = Path(args.src), Path(args.dst)
    files = sorted(p for p in src.rglob("*") if p.is_file()) if src.is_dir() else [src]
    outs = [dst / f"{p.relative_to(src)}.cbc" for p in files] if src.is_dir() else [dst]
    for out in outs:
        out.parent.mkdir(parents=True, exist_ok=True)
    # One data key per call, as BigDL does; part files are streamed (bounded memory) and
    # encrypted side by side (multi-buffer CBC); each output appears atomically.
    sizes = [p.stat().st_size for p in files]
    prog = Progress("encrypt", sum(sizes), not args.quiet)
    handles = [open(p, "rb") for p in files]  # noqa: SIM115 (closed below)
    try:
        encrypted_key = streaming.encrypt_parts(list(zip(handles, sizes, outs)), keys, progress=prog)
    finally:
        prog.finish()
        for h in handles:
            h.close()
    if src.is_dir() and any(sizes):
        bigdl.write_meta(dst, encrypted_key)
    _say(args, f"encrypted {len(files)} file(s) in BigDL's common format")
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    opener = _opener(args)
    kms = _load_kms(args)
    master = args.master_key or getattr(kms, "default", None)
    if not master:
        raise UsageError("no master key: give --master-key NAME")
    _check_master(kms, master)
    src = Path(args.src)
    total = sum(p.stat().st_size for p in bigdl.part_files(src))
    prog = Progress("migrate", total, not args.quiet)
    try:
        done = bigdl.migrate(src, Path(args.dst), opener, keys=kms, master_key=master, on_bytes=prog)
    finally:
        prog.finish()
    _say(args, f"migrated {len(done)} BigDL file(s) to sealed files under master key {master!r}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """Open each part through the authenticating reader (its MAC pass) and
    say which of BigDL's MAC constructions it carries."""
    opener = _opener(args)
    parts = bigdl.part_files(args.path)
    failures = 0
    for p in parts:
        try:
            with opener.open_raw(p) as r:
                how = f"{r.mac_variant} MAC" if r.mac_variant else ("empty" if r.size == 0 else "no MAC")
                _say(args, f"{p}: OK ({r.size} bytes, {how})")
        except (SealioError, OSError) as e:
            failures += 1
            _report(p, e)
    _say(args, f"verified {len(parts) - failures} of {len(parts)} BigDL file(s)")
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
    for p in bigdl.part_files(args.path):
        size = p.stat().st_size
        try:
            rows.append(_inspect_one(p, size))
        except (SealioError, OSError) as e:
            failures += 1
            _report(p, e)
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
