#!/usr/bin/env python3
"""The ``sealio`` CLI against ``cp`` on the same file and disk, in one run.

    python bench/bench_cli.py                    # 500 MB, 5 rounds (a few minutes)
    python bench/bench_cli.py --quick            # 64 MB, 3 rounds, 256 MB stream
    python bench/bench_cli.py --json out.json --dir /mnt/data

Every command runs as a child process (interpreter start included, as a
user runs it), timed by wall clock, with its peak RSS from ``wait4``.
Before each one ``sync`` writes back what the previous command left
dirty, so no command pays for another's writeback, and every command
writes a new file, deleted after it (replacing a file costs the
replacement's discard on this VM's disk, ~1 s for 500 MB). Rounds
interleave the commands, each round in another (seeded) order, and each
figure is the median over rounds: on this VM a command's time also
depends on what ran before it (the guest reports freed memory to the
host, virtio-balloon free page reporting, and page cache built on memory
freed more than ~2 s earlier is faulted back in: ``decrypt --no-fsync``
of 500 MB took 0.22 s right after another command and 0.36 s after 3 s
idle), so no line may always follow the same one. The commands read one
sealed file made before the rounds, so any order works.

``x peer`` is the peer's median time over the command's: throughput
relative to the command doing the same work (1.0 = as fast).
``sealio encrypt`` and ``decrypt`` publish atomically and fsync the file
before the rename, so their peer is "cp + fsync" (``cp`` then ``sync
FILE``); with ``--no-fsync`` they publish by rename only, as ``cp``
leaves a file, and their peer is ``cp``. "startup" is ``sealio
--version``: the interpreter and imports, paid once per command whatever
the file size.

Memory: peak RSS of encrypt/decrypt/verify at the file size, at four
times it (a sparse input: no disk read), and of a library stream of
``--stream-size`` bytes sealed through ``sealio.open(fileobj, "wb")`` into
a null sink, which shows whether memory stays flat on a long stream.
The script only reports: it exits 0 whatever the speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MB = 1000 * 1000
MiB = 1 << 20
PY = sys.executable


@dataclass
class Line:
    """One command's runs: wall seconds and peak RSS (bytes) per round."""

    name: str
    argv: list[str]
    peer: str = "cp"  # the line whose work matches: cp + fsync for the commands that fsync
    wall: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)


TIME = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)


def run(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of one child; fails loudly if it fails.

    The RSS comes from GNU time where installed: a child forked from this
    interpreter would count the parent's pages until it execs (wait4's
    figure has this script's RSS as a floor); 0 where neither is usable."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        full = [TIME, "-f", "%M", "-o", rss_file.name, *argv] if TIME else argv
        t0 = time.perf_counter()
        proc = subprocess.run(full, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n"
                             f"{proc.stderr.decode(errors='replace')}")
        try:
            rss = int(rss_file.read().split()[-1]) * 1024 if TIME else 0
        except (ValueError, IndexError):
            rss = 0
    return wall, rss


def make_input(path: Path, size: int) -> None:
    """``size`` bytes: a 16 MiB random block repeated (neither cp nor AES
    cares about the content; this keeps setup short)."""
    block = os.urandom(16 * MiB)
    with open(path, "wb") as f:
        left = size
        while left:
            n = f.write(memoryview(block)[:min(left, len(block))])
            left -= n


SCRIPT = os.path.join(os.path.dirname(PY), "sealio")


def sealio(*args: str) -> list[str]:
    """The installed ``sealio`` script, as a user runs it (``python -m
    sealio.cli`` also pays for ``runpy``, ~3 ms), else the module."""
    if os.access(SCRIPT, os.X_OK):
        return [SCRIPT, *args]
    return [PY, "-m", "sealio.cli", *args]


STREAM = """
import os, sys, resource
import sealio
kr = sealio.LocalKeyring(sys.argv[1])
total, chunk = int(sys.argv[2]), bytearray(8 << 20)
class Null:
    def write(self, b): return len(b)
    def flush(self): pass
with sealio.open(Null(), "wb", keys=kr, master_key="m") as w:
    left = total
    while left:
        n = min(left, len(chunk))
        w.write(memoryview(chunk)[:n])
        left -= n
"""


def bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    env = dict(os.environ)
    keyring = work / "keys.json"
    env["SEALIO_KEYRING"] = str(keyring)
    run(sealio("keygen", "m", "--default", "-q", "--keyring", str(keyring)), env)
    src, sealed = work / "plain.bin", work / "plain.sealed"
    make_input(src, args.size)
    cp = shutil.which("cp") or "cp"
    sync = shutil.which("sync") or "sync"
    run(sealio("encrypt", "-q", str(src), str(sealed)), env)  # what decrypt and verify read, untimed
    out = {name: work / name for name in ("copy.bin", "copy-synced.bin", "dd.bin", "encrypted.sealed",
                                          "nosync.sealed", "opened.bin", "opened-nosync.bin")}
    dd = shutil.which("dd") or "dd"
    lines = [
        Line("cp", [cp, str(src), str(out["copy.bin"])]),
        Line("cp + fsync", ["sh", "-c", f'"{cp}" "$1" "$2" && "{sync}" "$2"', "sh", str(src),
                            str(out["copy-synced.bin"])]),
        # what any tool that transforms the bytes pays at least: a read and a write through user
        # space (cp copies inside the kernel, copy_file_range)
        Line("dd bs=1M", [dd, f"if={src}", f"of={out['dd.bin']}", "bs=1M", "status=none"]),
        Line("sealio encrypt", sealio("encrypt", "-q", str(src), str(out["encrypted.sealed"])), peer="cp + fsync"),
        Line("encrypt --no-fsync", sealio("encrypt", "-q", "--no-fsync", str(src), str(out["nosync.sealed"]))),
        Line("sealio decrypt", sealio("decrypt", "-q", str(sealed), str(out["opened.bin"])), peer="cp + fsync"),
        Line("decrypt --no-fsync", sealio("decrypt", "-q", "--no-fsync", str(sealed),
                                          str(out["opened-nosync.bin"]))),
        Line("sealio verify", sealio("verify", "-q", str(sealed))),
        Line("startup (--version)", sealio("--version")),
    ]
    for r in range(args.rounds):
        for line in random.Random(r).sample(lines, len(lines)):
            os.sync()  # nothing the previous command left dirty is written back during this one
            wall, rss = run(line.argv, env)
            line.wall.append(wall)
            line.rss.append(rss)
            if not args.quiet:
                print(f"  round {r + 1}: {line.name:<22} {wall:7.3f} s  {rss / MiB:6.1f} MiB",
                      file=sys.stderr, flush=True)
            for p in out.values():  # every command writes a new file: none pays for replacing one
                p.unlink(missing_ok=True)
    sealed.unlink(missing_ok=True)

    # Memory at 4x the size, from a sparse input (reads cost no disk).
    big, big_sealed, big_out = work / "big.bin", work / "big.sealed", work / "big.out"
    with open(big, "wb") as f:
        f.truncate(4 * args.size)
    rss_big: dict[str, int] = {}
    for name, argv in (("sealio encrypt", sealio("encrypt", "-q", str(big), str(big_sealed))),
                       ("sealio decrypt", sealio("decrypt", "-q", str(big_sealed), str(big_out))),
                       ("sealio verify", sealio("verify", "-q", str(big_sealed)))):
        os.sync()
        rss_big[name] = run(argv, env)[1]
        big_out.unlink(missing_ok=True)
    for p in (big, big_sealed):
        p.unlink(missing_ok=True)
    stream_wall, stream_rss = run([PY, "-c", STREAM, str(keyring), str(args.stream_size)], env)
    return {"lines": lines, "rss_big": rss_big, "stream": (stream_wall, stream_rss)}


def report(args: argparse.Namespace, res: dict[str, Any]) -> dict[str, Any]:
    lines: list[Line] = res["lines"]
    by = {ln.name: ln for ln in lines}
    cp, cps, start = by["cp"].median, by["cp + fsync"].median, by["startup (--version)"].median
    size = args.size
    print(f"{'command':<22}{'median s':>10}{'MB/s':>9}{'x cp':>7}{'x cp+fsync':>12}"
          f"{'peer':>12}{'x peer':>8}{'x peer, no startup':>20}{'peak RSS':>11}")
    print("-" * 111)
    rows = []
    for ln in lines:
        m = ln.median
        rate = size / m / MB
        ours = ln.argv[:1] in ([PY], [SCRIPT]) and not ln.name.startswith("startup")
        peer = by[ln.peer].median
        net = m - start if ours else None
        row = {"command": ln.name, "median_s": m, "mb_per_s": rate, "x_cp": cp / m,
               "x_cp_fsync": cps / m, "peer": ln.peer, "x_peer": peer / m,
               "x_peer_without_startup": (peer / net) if net and net > 0 else None,
               "peak_rss_bytes": max(ln.rss), "wall_s": ln.wall, "rss_bytes": ln.rss, "argv": ln.argv}
        rows.append(row)
        extra = f"{row['x_peer_without_startup']:20.2f}" if row["x_peer_without_startup"] else f"{'':>20}"
        shown_rate = f"{rate:9.0f}" if not ln.name.startswith("startup") else f"{'':>9}"
        shown_peer = f"{ln.peer:>12}{peer / m:8.2f}" if ours else f"{'':>20}"
        print(f"{ln.name:<22}{m:10.3f}{shown_rate}{cp / m:7.2f}{cps / m:12.2f}{shown_peer}{extra}"
              f"{max(ln.rss) / MiB:8.1f} MiB")
    print()
    print(f"Peak RSS at {size / MB:.0f} MB and at {4 * size / MB:.0f} MB (sparse input):")
    for name, rss in res["rss_big"].items():
        print(f"  {name:<16} {max(by[name].rss) / MiB:7.1f} MiB -> {rss / MiB:7.1f} MiB")
    sw, sr = res["stream"]
    print(f"Library stream of {args.stream_size / MB:.0f} MB into a null sink: {sw:.2f} s "
          f"({args.stream_size / sw / MB:.0f} MB/s), peak RSS {sr / MiB:.1f} MiB")
    print()
    ddm = by["dd bs=1M"].median
    print(f"User-space floor: dd bs=1M {ddm:.3f} s ({cp / ddm:.2f}x cp); encrypt --no-fsync "
          f"{ddm / by['encrypt --no-fsync'].median:.2f}x dd, decrypt --no-fsync "
          f"{ddm / by['decrypt --no-fsync'].median:.2f}x dd, verify {ddm / by['sealio verify'].median:.2f}x dd")
    print()
    print("Targets (informational: [MISS] never fails a run):")
    targets = []
    for name in ("sealio encrypt", "encrypt --no-fsync", "sealio decrypt", "decrypt --no-fsync",
                 "sealio verify"):
        ln = by[name]
        v = by[ln.peer].median / ln.median
        targets.append({"name": f"{name} >= 0.7x {ln.peer}", "value": v, "goal": 0.7, "met": v >= 0.7})
    peak = max([max(by[n].rss) for n in ("sealio encrypt", "sealio decrypt", "sealio verify")]
               + list(res["rss_big"].values()) + [sr])
    targets.append({"name": "peak RSS < 200 MB", "value": peak / MB, "goal": 200, "met": peak < 200 * MB})
    for t in targets:
        mark = "ok  " if t["met"] else "MISS"
        unit = "x" if "cp" in t["name"] else " MB"
        print(f"  [{mark}] {t['name']:<38} {t['value']:8.2f}{unit}")
    return {"rows": rows, "rss_4x": res["rss_big"],
            "stream": {"bytes": args.stream_size, "wall_s": sw, "peak_rss_bytes": sr},
            "targets": targets}


def parse_size(text: str) -> int:
    t = text.strip().upper()
    mult = {"K": 1000, "M": MB, "G": 1000 * MB}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=parse_size, default=None, help="file size (default 500M; 64M with --quick)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (default 5; 3 with --quick)")
    ap.add_argument("--stream-size", type=parse_size, default=None,
                    help="library stream size for the memory line (default 10G; 256M with --quick)")
    ap.add_argument("--dir", default=None, help="where the files go (default: the system temp dir)")
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--json", metavar="PATH", help="also save every measurement as JSON")
    ap.add_argument("--quiet", action="store_true", help="no per-run progress lines")
    args = ap.parse_args(argv)
    args.size = args.size or (64 * MB if args.quick else 500 * MB)
    args.rounds = args.rounds or (3 if args.quick else 5)
    args.stream_size = args.stream_size or (256 * MB if args.quick else 10_000 * MB)
    print(f"sealio CLI vs cp: {args.size / MB:.0f} MB file, {args.rounds} rounds, median; "
          f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    with tempfile.TemporaryDirectory(prefix="sealio-bench-cli-", dir=args.dir) as d:
        print(f"files in {d}")
        t0 = time.perf_counter()
        res = bench(args, Path(d))
        out = report(args, res)
        out["elapsed_s"] = time.perf_counter() - t0
    if args.json:
        out["config"] = {"size": args.size, "rounds": args.rounds, "stream_size": args.stream_size,
                         "quick": args.quick, "python": platform.python_version(),
                         "cpus": os.cpu_count(), "platform": platform.platform()}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
