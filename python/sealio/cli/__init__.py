"""The ``sealio`` command line: keygen, encrypt, decrypt, inspect, verify,
rewrap and demo.

Exit status: 0 success; 1 the operation failed (integrity or
authentication failure, unknown key, malformed or not-sealed input, I/O
error); 2 usage error (bad arguments, missing input or keyring). Every
failure is one line on stderr, never a traceback (``SEALIO_DEBUG=1``
re-raises unforeseen errors).

Trees: symbolic links inside SRC are not followed, nor directories in DST
that are symbolic links (``--follow-symlinks`` does both); links, FIFOs,
devices and sockets inside SRC are skipped with one line each on stderr.
Paths named on the command line are followed. The process marks itself
non-dumpable before any key is loaded (:func:`disable_core_dumps`).
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import getpass
import io
import json
import os
import shutil
import stat
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from sealio import _header as H
from sealio import streams
from sealio.errors import ConfigurationError, SealioError
from sealio.keys import DEFAULT_SCRYPT_N, KeyManager, LocalKeyring, default_keyring_path

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad invocation: exit status 2."""


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


# ---------------------------------------------------------------- helpers


class Progress:
    """A one-line stderr progress indicator (only on a terminal, ~10 Hz)."""

    def __init__(self, label: str, total: int, enabled: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.label, self.total, self.done = label, total, 0
        self.start = self.last = time.monotonic()

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self.last >= 0.1:
            self.last = now
            pct = f"{100 * self.done / self.total:5.1f}%" if self.total else ""
            rate = self.done / max(now - self.start, 1e-9)
            self.stream.write(f"\r{self.label} {pct} {_human(self.done)}/{_human(self.total)} "
                              f"{_human(rate)}/s\x1b[K")
            self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self.last != self.start:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _parse_size(text: str) -> int:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1 << 10, "M": 1 << 20}.get(t[-1:], 1)
    try:
        value = int(t[:-1] if mult > 1 else t) * mult
        H.segment_size_log2(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a power of two between 4K and 4M (e.g. 64K, 1M)") from None
    return value


def _passphrase(confirm: bool = False) -> str:
    env = os.environ.get("SEALIO_PASSPHRASE")
    if env is not None:
        return env
    if not sys.stdin.isatty():
        raise UsageError("the keyring needs a passphrase: set SEALIO_PASSPHRASE or run on a terminal")
    first = getpass.getpass("keyring passphrase: ")
    if confirm and getpass.getpass("repeat passphrase: ") != first:
        raise UsageError("passphrases do not match")
    return first


def _keyring_path(args: argparse.Namespace) -> Path:
    return Path(args.keyring).expanduser() if args.keyring else default_keyring_path()


def _load_keyring(args: argparse.Namespace) -> LocalKeyring:
    path = _keyring_path(args)
    if not path.exists():
        raise UsageError(f"keyring {path} does not exist: create one with `sealio keygen --keyring {path} NAME`")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        protected = isinstance(doc, dict) and "kdf" in doc
    except (OSError, ValueError, RecursionError):
        protected = False  # LocalKeyring reports the real problem
    return LocalKeyring(path, _passphrase() if protected else None)


def _load_kms(args: argparse.Namespace) -> Any:
    """The KMS of a key-using command: ``--kms URI``, else ``--keyring PATH``,
    else ``$SEALIO_KMS``, else the default local keyring."""
    uri = getattr(args, "kms", None)
    if uri and args.keyring:
        raise UsageError("give either --kms or --keyring, not both")
    if not uri and not args.keyring:
        uri = os.environ.get("SEALIO_KMS") or None
    if not uri:
        return _load_keyring(args)
    from sealio.kms import from_uri

    return from_uri(uri)


def _check_master(kms: Any, name: str) -> None:
    """Fail before any file is touched if the master key is unusable."""
    check = getattr(kms, "check_key", None) or getattr(kms, "versions", None)
    if check is not None:
        check(name)


def _check_aad(args: argparse.Namespace) -> None:
    """``--aad`` is bound as UTF-8: argv bytes that are not UTF-8 (kept as
    surrogates by Python) are a usage error, not a traceback."""
    aad = getattr(args, "aad", None)
    if aad is not None:
        try:
            aad.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError("--aad must be UTF-8 text (it is bound as its UTF-8 bytes)") from None


def _aad_for(args: argparse.Namespace, rel: str) -> bytes | None:
    if getattr(args, "bind_path", False):
        try:
            return rel.encode("utf-8")
        except UnicodeEncodeError:  # a name of undecodable bytes: this file fails, the tree goes on
            raise ConfigurationError("the file name is not UTF-8 text, so --bind-path cannot bind it "
                                     "(rename the file, or use --aad)") from None
    aad = getattr(args, "aad", None)
    return aad.encode("utf-8") if aad is not None else None


def _kind(mode: int) -> str:
    for test, what in ((stat.S_ISLNK, "symbolic link"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISDIR, "directory"), (stat.S_ISREG, "regular file")):
        if test(mode):
            return what
    return "special file"


def skipped(path: Path | str, why: str) -> None:
    """One line on stderr for a tree entry that is not processed."""
    sys.stdout.flush()
    print(f"sealio: skipped {path}: {why}", file=sys.stderr)


def walk_tree(root: Path, follow_symlinks: bool = False) -> Iterator[tuple[Path, str]]:
    """(regular file, POSIX path relative to ``root``) under ``root``, sorted,
    each directory's files before its subdirectories. Symbolic links are not
    followed unless ``follow_symlinks`` (then directory loops are cut);
    links, FIFOs, devices, sockets and unreadable directories are skipped
    with a line on stderr; our own ``*.sealio-tmp`` files silently."""

    def visit(d: Path, ancestors: frozenset[tuple[int, int]]) -> Iterator[tuple[Path, str]]:
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            skipped(d, f"cannot list it ({e.strerror or type(e).__name__})")
            return
        subdirs: list[tuple[Path, os.stat_result]] = []
        for e in entries:
            if e.name.endswith(".sealio-tmp"):
                continue
            p = Path(e.path)
            try:
                st = e.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    if not follow_symlinks:
                        skipped(p, "symbolic link, not followed (--follow-symlinks follows it)")
                        continue
                    st = os.stat(p)
            except OSError as err:
                skipped(p, f"cannot stat it ({err.strerror or type(err).__name__})")
                continue
            if stat.S_ISDIR(st.st_mode):
                subdirs.append((p, st))
            elif stat.S_ISREG(st.st_mode):
                yield p, p.relative_to(root).as_posix()
            else:
                skipped(p, f"a {_kind(st.st_mode)}, not a regular file")
        for p, st in subdirs:
            ident = (st.st_dev, st.st_ino)
            if ident in ancestors:
                skipped(p, "a directory loop (symbolic link to a parent)")
                continue
            yield from visit(p, ancestors | {ident})

    st = os.stat(root)
    yield from visit(root, frozenset({(st.st_dev, st.st_ino)}))


def _walk(src: Path, follow_symlinks: bool = False) -> Iterator[tuple[Path, str]]:
    """(file, path relative to the tree root as POSIX text) for a file or a
    tree. ``src`` itself was named by the user and is followed."""
    try:
        st = os.stat(src)
    except FileNotFoundError:
        raise UsageError(f"{src}: no such file or directory") from None
    if stat.S_ISDIR(st.st_mode):
        yield from walk_tree(src, follow_symlinks)
    elif stat.S_ISREG(st.st_mode):
        yield src, src.name
    else:
        raise UsageError(f"{src}: a {_kind(st.st_mode)}, not a regular file or a directory")


def open_source_file(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> io.FileIO:
    """Open a file to read, never blocking and never anything but a regular
    file: ``O_NONBLOCK`` (a FIFO swapped in after the walk's lstat opens at
    once), ``O_NOFOLLOW`` unless ``follow_symlinks``, then ``fstat``."""

    def opener(name: str, _flags: int) -> int:
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        if not follow_symlinks:
            flags |= getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(name, flags)
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise OSError(errno.EINVAL, f"a {_kind(mode)}, not a regular file", name)
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return fd

    return open(path, "rb", buffering=0, opener=opener)  # noqa: SIM115 - the caller closes it


def _open_src(args: argparse.Namespace, f: Path, top: Path) -> io.FileIO:
    """Tree entries are opened without following a link swapped in since the walk."""
    return open_source_file(f, follow_symlinks=bool(getattr(args, "follow_symlinks", False)) or f == top)


def prepare_parent(root: Path, out: Path, follow_symlinks: bool = False) -> None:
    """Create the directories from ``root`` (followed: named by the user) down
    to ``out``'s parent, refusing any that is a symbolic link unless
    ``follow_symlinks``: output never lands outside DST through a planted link."""
    root.mkdir(parents=True, exist_ok=True)
    d = root
    for part in out.relative_to(root).parts[:-1]:
        d = d / part
        try:
            st = os.lstat(d)
        except FileNotFoundError:
            try:
                os.mkdir(d)
            except FileExistsError:
                pass
            st = os.lstat(d)
        if stat.S_ISLNK(st.st_mode):
            if not follow_symlinks:
                raise OSError(errno.ELOOP, "a symbolic link inside the destination, not written through "
                              "(--follow-symlinks writes through it)", str(d))
            st = os.stat(d)
        if not stat.S_ISDIR(st.st_mode):
            raise OSError(errno.ENOTDIR, f"a {_kind(st.st_mode)}, not a directory", str(d))


def _pairs(src: Path, dst: Path, follow_symlinks: bool = False) -> Iterator[tuple[Path, Path, str]]:
    if src.is_dir():
        if dst.exists() and not dst.is_dir():
            raise UsageError(f"{dst} exists and is not a directory")
        for f, rel in _walk(src, follow_symlinks):
            yield f, dst / rel, rel
    else:
        for f, rel in _walk(src):
            yield f, (dst / f.name if dst.is_dir() else dst), rel


def _say(args: argparse.Namespace, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text)


def _report(path: Path | str, e: BaseException) -> None:
    sys.stdout.flush()
    print(f"sealio: {path}: {type(e).__name__}: {e}", file=sys.stderr)


# --------------------------------------------------------------- commands


def cmd_keygen(args: argparse.Namespace) -> int:
    path = _keyring_path(args)
    if path.exists():
        kr = _load_keyring(args)
    else:
        pw = _passphrase(confirm=True) if args.passphrase else None
        try:
            kr = LocalKeyring.create(path, pw, scrypt_n=args.scrypt_n)
        except ValueError as e:  # a scrypt cost above the cap
            raise UsageError(str(e)) from None
        _say(args, f"created keyring {path} (mode 0600{', passphrase-protected' if pw else ''})")
    if args.rotate:
        v = kr.rotate(args.name)
        _say(args, f"rotated master key {args.name!r}: now version {v} "
                   f"(older versions still unwrap; `sealio rewrap` moves files to v{v})")
    else:
        try:
            kr.generate(args.name, make_default=True if args.default else None)
        except ValueError as e:
            raise UsageError(str(e)) from None
        _say(args, f"generated master key {args.name!r} version 1 in {path}")
    if args.default and args.rotate:
        kr.set_default(args.name)
    return EXIT_OK


def cmd_encrypt(args: argparse.Namespace) -> int:
    kr = _load_kms(args)
    master = args.master_key or kr.default
    if not master:
        raise UsageError("no master key: pass --master-key NAME (or generate one with `sealio keygen`)")
    _check_master(kr, master)  # KeyNotFoundError early, before any file is touched
    keys = KeyManager(kr)
    return _transform(args, lambda src, dst, rel, prog: _encrypt_one(args, keys, master, src, dst, rel, prog),
                      "encrypt")


def _encrypt_one(args: argparse.Namespace, keys: KeyManager, master: str, src: Path, dst: Path,
                 rel: str, prog: Progress) -> None:
    aad = _aad_for(args, rel)
    with _open_src(args, src, Path(args.src)) as fin, \
            streams.open(dst, "wb", keys=keys, master_key=master, aad=aad,
                         segment_size=args.segment_size) as out:
        streams.copy_stream(fin, out, progress=prog)


def cmd_decrypt(args: argparse.Namespace) -> int:
    keys = KeyManager(_load_kms(args))
    return _transform(args, lambda src, dst, rel, prog: _decrypt_one(args, keys, src, dst, rel, prog),
                      "decrypt")


def _decrypt_one(args: argparse.Namespace, keys: KeyManager, src: Path, dst: Path, rel: str,
                 prog: Progress) -> None:
    aad = _aad_for(args, rel)
    with _open_src(args, src, Path(args.src)) as raw, \
            streams.open(raw, "rb", keys=keys, aad=aad, require_commitment=args.require_commitment) as fin:
        sink = streams._AtomicFileSink(dst)  # plaintext appears only once fully authenticated
        try:
            buf = bytearray(8 << 20)
            mv = memoryview(buf)
            while n := fin.readinto(mv):
                sink.write(mv[:n])
                prog(n)
            sink.publish()
        except BaseException:
            sink.abort()
            raise


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
    for s, d, rel in pairs:
        size = 0
        prog = Progress(f"{verb} {rel}", size, False)
        try:
            if tree:
                prepare_parent(dst, d, follow)
            else:
                d.parent.mkdir(parents=True, exist_ok=True)
            size = s.stat().st_size
            prog = Progress(f"{verb} {rel}", size, not args.quiet)
            one(s, d, rel, prog)
            total += size
        except (SealioError, OSError) as e:
            failures += 1
            _report(s, e)
        finally:
            prog.finish()
    _say(args, f"{verb}ed {len(pairs) - failures} of {len(pairs)} file(s) ({_human(total)} read)")
    return EXIT_FAIL if failures else EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    results, failures = [], 0
    for target in args.files:
        for f, _ in _walk(Path(target), args.follow_symlinks):
            try:
                with _open_src(args, f, Path(target)) as raw:
                    info = streams.inspect(raw)
                info["file"] = str(f)
                results.append(info)
            except (SealioError, OSError) as e:
                failures += 1
                if args.json:
                    results.append({"file": str(f), "error": type(e).__name__, "message": str(e)})
                else:
                    _report(f, e)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 and len(args.files) == 1 and
                         not Path(args.files[0]).is_dir() else results, indent=2))
    else:
        for info in results:
            print(f"{info['file']}:")
            commitment = "key commitment" if info["key_commitment"] else "no key commitment"
            print(f"  format version   {info['format']} ({commitment})")
            print(f"  algorithm        {info['algorithm']} (suite {info['suite_id']})")
            print(f"  segment size     {info['segment_size']} ({_human(info['segment_size'])})")
            print(f"  header length    {info['header_size']}")
            if info["size_valid"]:
                print(f"  plaintext size   {info['plaintext_size']} (unauthenticated until verified)")
                print(f"  segments         {info['segment_count']}")
            else:
                print(f"  plaintext size   invalid: the file size {info['file_size']} is truncated")
            print(f"  master key id    {info['master_key_id']}")
            print(f"  KEK id           {info['kek_id']}")
    return EXIT_FAIL if failures else EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    keys = KeyManager(_load_kms(args))
    failures = count = 0
    buf = memoryview(bytearray(8 << 20))
    for target in args.files:
        for f, rel in _walk(Path(target), args.follow_symlinks):
            count += 1
            prog = Progress(f"verify {rel}", 0, False)
            try:
                aad = _aad_for(args, rel)
                prog = Progress(f"verify {rel}", f.stat().st_size, not args.quiet)
                with _open_src(args, f, Path(target)) as raw, \
                        streams.open(raw, "rb", keys=keys, aad=aad,
                                     require_commitment=args.require_commitment) as r:
                    while n := r.readinto(buf):
                        prog(n)
                    _say(args, f"{f}: OK ({r.size} bytes, {r.segment_count} segments authenticated)")
            except (SealioError, OSError) as e:
                failures += 1
                _report(f, e)
            finally:
                prog.finish()
    if count > 1:
        _say(args, f"verified {count - failures} of {count} file(s)")
    return EXIT_FAIL if failures else EXIT_OK


def cmd_rewrap(args: argparse.Namespace) -> int:
    kr = _load_kms(args)
    keys = KeyManager(kr)
    if args.master_key:
        _check_master(kr, args.master_key)
    failures = count = 0
    for target in args.files:
        for f, rel in _walk(Path(target), args.follow_symlinks):
            count += 1
            try:
                streams.rewrap(f, keys, new_master_key=args.master_key, aad=_aad_for(args, rel),
                               in_place=args.in_place)
                info = streams.inspect(f)
                _say(args, f"{f}: re-wrapped under {info['master_key_id']!r}")
            except (SealioError, OSError) as e:
                failures += 1
                _report(f, e)
    return EXIT_FAIL if failures else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Show the whole round trip in a temporary directory."""
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    import sealio

    if getattr(args, "which", None) == "simple-query":  # the Spark walkthrough (needs sealio[spark])
        from sealio.spark.simple_query import simple_query

        return simple_query(args.rows, args.seed, args.keep)
    keep = Path(args.keep).resolve() if args.keep else None
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sealio-demo-", dir=keep))
    cwd = os.getcwd()

    def say(text: str) -> None:
        print(text, flush=True)

    def run(*argv: str) -> int:
        say("$ sealio " + " ".join(argv))
        rc = main(list(argv))
        if rc != 0:
            raise SystemExit(f"demo step failed with exit status {rc}")
        return rc

    try:
        os.chdir(work)
        say(f"# working in {work}")
        (Path("data")).mkdir()
        with open("data/people.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "name", "city"])
            for i, (n, c) in enumerate([("Ada", "London"), ("Grace", "New York"), ("Alan", "Wilmslow")]):
                w.writerow([i, n, c])
        table = pa.table({"id": list(range(10_000)), "value": [i * 0.5 for i in range(10_000)]})
        pq.write_table(table, "data/values.parquet")
        say("# wrote data/people.csv (3 rows) and data/values.parquet (10,000 rows)")
        run("keygen", "--keyring", "keyring.json", "demo-key")
        run("encrypt", "--keyring", "keyring.json", "--master-key", "demo-key", "--quiet", "data", "sealed")
        run("inspect", "sealed/people.csv")
        run("verify", "--keyring", "keyring.json", "sealed")
        run("decrypt", "--keyring", "keyring.json", "--quiet", "sealed", "restored")
        for name in ("people.csv", "values.parquet"):
            same = Path("data", name).read_bytes() == Path("restored", name).read_bytes()
            say(f"# restored/{name} {'matches' if same else 'DIFFERS FROM'} data/{name}")
            if not same:
                return EXIT_FAIL
        kr = sealio.LocalKeyring("keyring.json")
        with sealio.open("sealed/values.parquet", "rb", keys=kr) as f:
            back = pq.read_table(f)
            say(f"# pyarrow read the sealed Parquet directly: {back.num_rows} rows, "
                f"{f.segments_decrypted} of {f.segment_count} segments decrypted, equal: {back.equals(table)}")
        raw = bytearray(Path("sealed/people.csv").read_bytes())
        raw[-5] ^= 1
        Path("sealed/people.csv").write_bytes(raw)
        say("# flipped one bit of sealed/people.csv; verify must now fail:")
        say("$ sealio verify --keyring keyring.json sealed/people.csv")
        rc = main(["verify", "--keyring", "keyring.json", "sealed/people.csv"])
        say(f"# exit status {rc} (1 = integrity failure, as expected)")
        say("# done: every step above is a command you can run yourself")
        return EXIT_OK if rc == EXIT_FAIL else EXIT_FAIL
    finally:
        os.chdir(cwd)
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sealio",
        description="Encrypted, seekable, authenticated files (sealed format v1, docs/FORMAT.md).",
        epilog="Exit status: 0 success, 1 integrity/authentication or other failure, 2 usage error. "
               "The keyring defaults to $SEALIO_KEYRING, else ~/.config/sealio/keyring.json; "
               "a passphrase-protected keyring reads $SEALIO_PASSPHRASE or prompts.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def keyring(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--keyring", metavar="PATH", help="keyring file (default: $SEALIO_KEYRING or "
                        "~/.config/sealio/keyring.json)")

    def kms(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--kms", metavar="URI", help="KMS configuration instead of the keyring (default: "
                        "$SEALIO_KMS), e.g. vault+https://HOST:8200/transit/keys/NAME, "
                        "aws-kms://alias/NAME?region=R, local:///path/keyring.json; see docs/KMS.md")

    def aad(sp: argparse.ArgumentParser) -> None:
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--aad", metavar="TEXT", help="associated data bound into the file (needed again to read)")
        g.add_argument("--bind-path", action="store_true",
                       help="bind each file's path relative to the tree root (its name for a single file)")

    def quiet(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress or summary output")

    def commitment(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--require-commitment", action="store_true",
                        help="refuse format 1.0 files (no key commitment, docs/FORMAT.md)")

    def follow(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--follow-symlinks", action="store_true",
                        help="follow symbolic links inside trees (and write through linked directories "
                             "inside DST); by default they are skipped with a message")

    sp = sub.add_parser("keygen", help="create a keyring and/or a master key, or rotate one",
                        description="Generate a named AES-256 master key in a local keyring (created "
                                    "with mode 0600 if missing). --rotate adds a new version.")
    keyring(sp)
    sp.add_argument("name", metavar="NAME", help="master key name")
    sp.add_argument("--rotate", action="store_true", help="add a new version of an existing key")
    sp.add_argument("--default", action="store_true", help="make NAME the keyring's default master key")
    sp.add_argument("--passphrase", action="store_true",
                    help="protect a new keyring with a passphrase (scrypt); from $SEALIO_PASSPHRASE or a prompt")
    sp.add_argument("--scrypt-n", type=int, default=DEFAULT_SCRYPT_N, help=argparse.SUPPRESS)
    quiet(sp)
    sp.set_defaults(func=cmd_keygen)

    for name, func, helptext in (("encrypt", cmd_encrypt, "seal a file or a whole tree"),
                                 ("decrypt", cmd_decrypt, "authenticate and decrypt a file or a tree")):
        sp = sub.add_parser(name, help=helptext, description=helptext.capitalize() + ". SRC may be "
                            "a directory (processed recursively, mirrored under DST). Outputs appear "
                            "atomically: nothing partial is ever left under a destination name.")
        keyring(sp)
        kms(sp)
        if name == "encrypt":
            sp.add_argument("--master-key", metavar="NAME", help="master key (default: the keyring's default)")
            sp.add_argument("--segment-size", type=_parse_size, default=None, metavar="SIZE",
                            help="segment size, a power of two 4K..4M (default 64K)")
        else:
            commitment(sp)
        aad(sp)
        sp.add_argument("--force", action="store_true", help="overwrite existing destination files")
        follow(sp)
        quiet(sp)
        sp.add_argument("src", metavar="SRC")
        sp.add_argument("dst", metavar="DST")
        sp.set_defaults(func=func)

    sp = sub.add_parser("inspect", help="show a sealed file's header (no keys needed)",
                        description="Print the header: version, algorithm, segment size, header "
                                    "length, plaintext size, segment count, key ids. Never key material.")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    follow(sp)
    sp.add_argument("files", nargs="+", metavar="FILE")
    sp.set_defaults(func=cmd_inspect)

    sp = sub.add_parser("verify", help="authenticate every segment without writing plaintext",
                        description="Authenticate header and every segment of sealed files or trees.")
    keyring(sp)
    kms(sp)
    commitment(sp)
    aad(sp)
    follow(sp)
    quiet(sp)
    sp.add_argument("files", nargs="+", metavar="FILE")
    sp.set_defaults(func=cmd_verify)

    sp = sub.add_parser("rewrap", help="re-wrap file keys under a new master key or version",
                        description="Re-wrap the data key of sealed files under --master-key (default: "
                                    "the newest version of each file's current master key). Segments "
                                    "are not re-encrypted.")
    keyring(sp)
    kms(sp)
    sp.add_argument("--master-key", metavar="NAME", help="new master key (default: same name, newest version)")
    sp.add_argument("--in-place", action="store_true",
                    help="overwrite the header in place (fast; not crash-safe) instead of copy+rename")
    aad(sp)
    follow(sp)
    quiet(sp)
    sp.add_argument("files", nargs="+", metavar="FILE")
    sp.set_defaults(func=cmd_rewrap)

    sp = sub.add_parser("demo", help="a guided round trip in a temporary directory",
                        description="Create a keyring, a CSV and a Parquet file, then encrypt, "
                                    "inspect, verify, decrypt and compare them, printing each command.")
    sp.add_argument("--keep", metavar="DIR", help="work under DIR and keep the files")
    sp.add_argument("which", nargs="?", choices=["simple-query"], metavar="{simple-query}",
                    help="simple-query: SimpleQuery on encrypted people.csv with Spark local[2] (sealio[spark])")
    sp.add_argument("--rows", type=int, default=20_000, help="simple-query: rows of people.csv")
    sp.add_argument("--seed", type=int, default=1, help="simple-query: random seed for people.csv")
    sp.set_defaults(func=cmd_demo)

    from sealio import cli_bigdl  # the `sealio bigdl ...` subcommands

    cli_bigdl.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status (see the module docstring). Marks
    the process non-dumpable first: it is about to hold keys."""
    disable_core_dumps()
    if isinstance(sys.stdout, io.TextIOWrapper):  # file names of undecodable bytes print, escaped
        sys.stdout.reconfigure(errors="backslashreplace")
    formatwarning = warnings.formatwarning
    warnings.formatwarning = _one_line_warning
    try:
        return _main(argv)
    finally:
        warnings.formatwarning = formatwarning


def _one_line_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> str:
    return f"sealio: warning: {message}\n"


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help is 0, errors are 2
        return int(e.code) if isinstance(e.code, int) else EXIT_USAGE
    try:
        _check_aad(args)
        return int(args.func(args))
    except UsageError as e:
        print(f"sealio: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (SealioError, OSError) as e:
        print(f"sealio: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("sealio: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # unforeseen: one line (no message: it might quote input), never a traceback
        if os.environ.get("SEALIO_DEBUG"):
            raise
        sys.stdout.flush()
        print(f"sealio: internal error ({type(e).__name__}); SEALIO_DEBUG=1 shows the traceback",
              file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":  # pragma: no cover
    # `python -m sealio.cli`: run the imported module's main, so that the classes it catches
    # (UsageError) are the ones sealio.cli_bigdl raises
    from sealio.cli import main as _main

    sys.exit(_main())
