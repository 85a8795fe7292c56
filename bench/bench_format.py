#!/usr/bin/env python3
"""Throughput of sealed files (``sealio.open``) against plaintext I/O and
Tink's streaming AEAD, on page-cached files, in one run on one machine.

    python bench/bench_format.py                 # 1 GiB files, full sweep (a few minutes)
    python bench/bench_format.py --quick         # CI smoke run: 64 MiB, < 1 minute
    python bench/bench_format.py --size 4G --json out.json

Lines (GB/s = 1e9 plaintext bytes per second; median of ``--trials``):

* read, plaintext: ``os.readv`` of the plaintext file into one reused
  buffer of ``--chunk`` bytes (the baseline: a copy out of the page cache);
* read, sealed: ``SealedReader.readinto`` of the sealed file into the same
  reused buffer (decrypted by the C core straight into it, threads);
* read, Tink: ``new_decrypting_stream(...).readinto`` with Tink's
  AES256_GCM_HKDF_1MB template, and with 64 KiB segments (``tink`` is an
  optional extra: the column is skipped when it is not installed);
* write, plaintext / sealed / Tink: the same data written from one reused
  buffer to an already-open file object (page cache, no fsync), and the
  sealed writer on a path (temporary file, fsync, rename) next to the
  plaintext file written and fsynced;
* segment sweep (4 KiB .. 4 MiB): sealed sequential read, random 4 KiB
  ``read_at`` (median microseconds, and decryptions per read counted by the
  reader, which must be <= 2) and storage overhead.

Targets (reported, the script exits 0 unless ``--check``): sealed
sequential read >= 0.8x plaintext read into a reused buffer; >= 4x Tink
streaming decrypt; random 4 KiB read_at costs <= 2 segment decryptions.
Files are created in ``--dir`` (default: a temporary directory) and
removed afterwards; each is read once before timing so it is page-cached.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import sealio
from sealio.format import header as H
from sealio import primitives
from sealio.keys import KeyManager

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


class BenchKms:
    """In-process KMS (the KMS is not what is measured: one call per run)."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        token = os.urandom(8).hex()
        self.keys[token] = bytes(key_bytes)
        return f"bench:{token}"

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        return self.keys[wrapped_key.split(":")[1]]


def parse_size(text: str) -> int:
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": KiB, "M": MiB, "G": GiB}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def human(n: float) -> str:
    for unit, div in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= div:
            return f"{n / div:g} {unit}"
    return f"{n:g} B"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any], trials: int, setup: Callable[[], Any] | None = None) -> list[float]:
    """Seconds per trial after one warm-up; ``setup`` runs untimed before each."""
    if setup:
        setup()
    fn()  # warm-up (and page-cache fill)
    out = []
    for _ in range(trials):
        if setup:
            setup()
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def timed_once(fn: Callable[[], Any]) -> list[float]:
    t = time.perf_counter()
    fn()
    return [time.perf_counter() - t]


def decrypt_ceiling(segment: int, threads: int | None) -> float:
    """GB/s of the C core alone: every thread decrypts its own 1 MiB of
    sealed segments, in cache, in a loop (no I/O, no copy)."""
    import threading

    n = threads or sealio.streams.default_threads()
    gcm = primitives.AesGcm(os.urandom(32))
    size = max(segment, MiB)
    reps = 300
    bufs = []
    for _ in range(n):
        pt = bytearray(os.urandom(size))
        ct = bytearray(primitives.sealed_segments_size(size, segment))
        gcm.seal_segments_into(pt, ct, segment, prefix=bytes(7), final=False)
        bufs.append((ct, pt))

    def work(ct: bytearray, pt: bytearray) -> None:
        for _ in range(reps):
            gcm.open_segments_into(ct, pt, segment, prefix=bytes(7), final=False)

    ts = [threading.Thread(target=work, args=b) for b in bufs]
    t = time.perf_counter()
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    return n * reps * size / (time.perf_counter() - t) / 1e9


def settle(*remove: Path) -> Callable[[], None]:
    """Untimed set-up of a write trial: remove the previous output (a
    truncating re-open makes ext4 flush at close) and write back dirty
    pages, so that no trial pays for an earlier one's writeback."""

    def run() -> None:
        for p in remove:
            p.unlink(missing_ok=True)
        os.sync()

    return run


def gbps(nbytes: int, seconds: list[float]) -> float:
    return nbytes / statistics.median(seconds) / 1e9


def make_plaintext(path: Path, size: int) -> None:
    rng = np.random.default_rng(1)
    block = rng.bytes(64 * MiB)  # incompressible, no need for 1 GiB of fresh randomness
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(left, len(block))
            fh.write(block[:n])
            left -= n


def write_from(path: Path, out: Any, size: int, chunk: int) -> None:
    """Copy ``path`` into the writable ``out`` through one reused buffer."""
    buf = memoryview(bytearray(chunk))
    with open(path, "rb", buffering=0) as src:
        while n := src.readinto(buf):
            out.write(buf[:n])


# ------------------------------------------------------------------ tink


def tink_primitive(segment: int) -> Any:
    try:
        import tink
        from tink import streaming_aead
    except ImportError:
        return None
    streaming_aead.register()
    t = streaming_aead.streaming_aead_key_templates
    if segment == MiB:
        template = t.AES256_GCM_HKDF_1MB
    else:
        from tink.proto import common_pb2

        template = t.create_aes_gcm_hkdf_streaming_key_template(32, common_pb2.SHA256, 32, segment)
    handle = tink.new_keyset_handle(template)
    return handle.primitive(streaming_aead.StreamingAead)


# ------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=parse_size, default=None, help="file size (default 1G; --quick: 64M)")
    ap.add_argument("--quick", action="store_true", help="small CI run")
    ap.add_argument("--dir", type=Path, default=None, help="where to create the files")
    ap.add_argument("--chunk", type=parse_size, default=8 * MiB, help="reused read/write buffer (8M)")
    ap.add_argument("--trials", type=int, default=None, help="timed repetitions (median; default 5, quick 2)")
    ap.add_argument("--threads", type=int, default=None, help="sealio threads (default: CPUs)")
    ap.add_argument("--segment", type=parse_size, default=64 * KiB, help="segment size of the main lines")
    ap.add_argument("--sweep-size", type=parse_size, default=None,
                    help="file size of the segment sweep (default min(size, 256M))")
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--no-tink", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="write all results here")
    ap.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = ap.parse_args(argv)
    size = args.size or (64 * MiB if args.quick else GiB)
    trials = args.trials or (2 if args.quick else 5)
    sweep_size = args.sweep_size or min(size, 32 * MiB if args.quick else 256 * MiB)
    threads = args.threads
    env = {
        "python": platform.python_version(), "machine": platform.machine(),
        "cpu": _cpu_model(), "cpus": os.cpu_count(),
        "kernel": primitives.cpu_features()["kernel"], "threads": threads or sealio.streams.default_threads(),
        "size": size, "chunk": args.chunk, "segment": args.segment, "trials": trials,
    }
    log(f"# {env}")
    results: dict[str, Any] = {"environment": env, "lines": {}, "sweep": [], "targets": {}}
    lines = results["lines"]
    work = Path(tempfile.mkdtemp(prefix="sealio-bench-", dir=args.dir))
    keys = KeyManager(BenchKms())
    buf = memoryview(bytearray(args.chunk))
    try:
        plain = work / "plain.bin"
        sealed = work / "sealed.bin"
        log(f"creating {human(size)} of plaintext in {work}")
        make_plaintext(plain, size)
        with sealio.open(sealed, "wb", keys=keys, master_key="bench", segment_size=args.segment,
                         threads=threads) as w:
            write_from(plain, w, size, args.chunk)

        def read_plain() -> None:
            fd = os.open(plain, os.O_RDONLY)
            try:
                while os.readv(fd, [buf]):
                    pass
            finally:
                os.close(fd)

        def read_sealed() -> None:
            with sealio.open(sealed, "rb", keys=keys, threads=threads) as r:
                while r.readinto(buf):
                    pass

        def read_sealed_1() -> None:
            with sealio.open(sealed, "rb", keys=keys, threads=1) as r:
                while r.readinto(buf):
                    pass

        log("read: plaintext, sealed (trials interleaved)")
        settle()()
        read_plain()
        read_sealed()  # both files page-cached
        tp: list[float] = []
        ts: list[float] = []
        for _ in range(trials):  # alternate, so drift on a shared host hits both alike
            tp += timed_once(read_plain)
            ts += timed_once(read_sealed)
        lines["read plaintext"] = gbps(size, tp)
        lines["read sealed"] = gbps(size, ts)
        lines["read sealed, 1 thread"] = gbps(size, timed(read_sealed_1, trials))
        lines["(ceiling) decrypt in memory, all threads"] = decrypt_ceiling(args.segment, threads)

        def write_plain() -> None:
            with open(work / "w.plain", "wb", buffering=0) as out:
                write_from(plain, out, size, args.chunk)

        def write_sealed() -> None:
            with open(work / "w.sealed", "wb", buffering=0) as out, \
                    sealio.open(out, "wb", keys=keys, master_key="bench", segment_size=args.segment,
                                threads=threads) as w:
                write_from(plain, w, size, args.chunk)

        def write_plain_fsync() -> None:
            with open(work / "w.plain", "wb", buffering=0) as out:
                write_from(plain, out, size, args.chunk)
                os.fsync(out.fileno())

        def write_sealed_path() -> None:
            with sealio.open(work / "w.sealed", "wb", keys=keys, master_key="bench",
                             segment_size=args.segment, threads=threads) as w:
                write_from(plain, w, size, args.chunk)

        log("write: plaintext, sealed (page cache); plaintext+fsync, sealed path (fsync+rename)")
        lines["write plaintext"] = gbps(size, timed(write_plain, trials, settle(work / "w.plain")))
        lines["write sealed"] = gbps(size, timed(write_sealed, trials, settle(work / "w.sealed")))
        lines["write plaintext+fsync"] = gbps(size, timed(write_plain_fsync, max(1, trials // 2), settle(work / "w.plain")))
        lines["write sealed path (fsync+rename)"] = gbps(size, timed(write_sealed_path, max(1, trials // 2), settle(work / "w.sealed")))
        for p in (work / "w.plain", work / "w.sealed"):
            p.unlink(missing_ok=True)

        if not args.no_tink:
            for tseg, label in ((MiB, "1MB"), (64 * KiB, "64KB")):
                prim = tink_primitive(tseg)
                if prim is None:
                    log("tink not installed: skipping the Tink column (pip install 'sealio[tink]')")
                    break
                tfile = work / f"tink-{label}.bin"

                def write_tink(prim: Any = prim, tfile: Path = tfile) -> None:
                    with open(tfile, "wb") as out, prim.new_encrypting_stream(out, b"") as w:
                        write_from(plain, w, size, args.chunk)

                def read_tink(prim: Any = prim, tfile: Path = tfile) -> None:
                    with open(tfile, "rb") as src, prim.new_decrypting_stream(src, b"") as r:
                        while r.readinto(buf):
                            pass

                log(f"tink {label}: write, read")
                lines[f"write tink {label}"] = gbps(size, timed(write_tink, max(1, trials // 2), settle(tfile)))
                lines[f"read tink {label}"] = gbps(size, timed(read_tink, max(1, trials // 2)))
                tfile.unlink()

        sealed.unlink()
        if not args.no_sweep:
            results["sweep"] = sweep(plain, work, sweep_size, keys, threads, trials, args.chunk)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    report(results, size)
    failed = [k for k, v in results["targets"].items() if v["met"] is False]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if (args.check and failed) else 0


def sweep(plain: Path, work: Path, size: int, keys: KeyManager, threads: int | None, trials: int,
          chunk: int) -> list[dict[str, Any]]:
    """Sequential read and random 4 KiB read_at against the segment size."""
    out = []
    buf = memoryview(bytearray(chunk))
    small = memoryview(bytearray(4096))
    with open(plain, "rb") as fh:
        data = fh.read(size)
    src = work / "sweep.plain"
    src.write_bytes(data)
    for log2 in range(H.MIN_SEGMENT_LOG2, H.MAX_SEGMENT_LOG2 + 1):
        seg = 1 << log2
        path = work / f"sweep-{seg}.bin"
        with sealio.open(path, "wb", keys=keys, master_key="bench", segment_size=seg, threads=threads) as w:
            write_from(src, w, size, chunk)

        def seq() -> None:
            with sealio.open(path, "rb", keys=keys, threads=threads) as r:
                while r.readinto(buf):
                    pass

        read = gbps(size, timed(seq, trials))
        rng = random.Random(log2)
        lat, worst, total = [], 0, 0
        with sealio.open(path, "rb", keys=keys, threads=threads) as r:
            offsets = [rng.randrange(0, size - 4096) for _ in range(2000)]
            for off in offsets[:100]:  # warm-up
                r.readinto_at(off, small)
            for off in offsets:
                before = r.segments_decrypted
                t = time.perf_counter()
                r.readinto_at(off, small)
                lat.append(time.perf_counter() - t)
                d = r.segments_decrypted - before
                worst, total = max(worst, d), total + d
        overhead = (path.stat().st_size - size) / size
        row = {"segment": seg, "read_gbps": read, "read_at_4k_us": statistics.median(lat) * 1e6,
               "read_at_4k_p99_us": sorted(lat)[int(0.99 * len(lat))] * 1e6,
               "decryptions_per_4k_max": worst, "decryptions_per_4k_mean": total / len(offsets),
               "overhead_pct": overhead * 100}
        log(f"sweep {human(seg):>8}: {read:6.2f} GB/s, 4K read_at {row['read_at_4k_us']:7.1f} us, "
            f"<= {worst} decryptions")
        out.append(row)
        path.unlink()
    src.unlink()
    return out


def report(results: dict[str, Any], size: int) -> None:
    env, lines, targets = results["environment"], results["lines"], results["targets"]
    print(f"\nsealed format benchmark: {human(size)} page-cached, segment {human(env['segment'])}, "
          f"chunk {human(env['chunk'])}, kernel {env['kernel']}, {env['threads']} threads, "
          f"{env['cpus']} CPUs ({env['cpu']}), median of {env['trials']}")
    print(f"{'line':42} {'GB/s':>8}")
    for name, v in lines.items():
        print(f"{name:42} {v:8.2f}")
    rp, rs = lines.get("read plaintext"), lines.get("read sealed")
    if rp and rs:
        targets["sealed read >= 0.8x plaintext read"] = {"value": rs / rp, "goal": 0.8, "met": rs / rp >= 0.8}
    for label in ("1MB", "64KB"):
        rt = lines.get(f"read tink {label}")
        if rt and rs:
            targets[f"sealed read >= 4x Tink {label} read"] = {"value": rs / rt, "goal": 4.0, "met": rs / rt >= 4}
    wp, ws, wt = lines.get("write plaintext"), lines.get("write sealed"), lines.get("write tink 1MB")
    if wp and ws:
        targets["(info) sealed write / plaintext write"] = {"value": ws / wp, "goal": None, "met": None}
    if wt and ws:
        targets["(info) sealed write / Tink 1MB write"] = {"value": ws / wt, "goal": None, "met": None}
    if results["sweep"]:
        print(f"\n{'segment':>9} {'read GB/s':>10} {'4K read_at us':>14} {'p99 us':>8} "
              f"{'decrypt/4K max':>15} {'mean':>6} {'overhead %':>11}")
        for row in results["sweep"]:
            print(f"{human(row['segment']):>9} {row['read_gbps']:10.2f} {row['read_at_4k_us']:14.1f} "
                  f"{row['read_at_4k_p99_us']:8.1f} {row['decryptions_per_4k_max']:15d} "
                  f"{row['decryptions_per_4k_mean']:6.2f} {row['overhead_pct']:11.4f}")
        worst = max(r["decryptions_per_4k_max"] for r in results["sweep"])
        targets["random 4K read_at <= 2 segment decryptions"] = {"value": worst, "goal": 2, "met": worst <= 2}
    print("\ntargets:")
    for name, t in targets.items():
        mark = "" if t["met"] is None else ("ok  " if t["met"] else "MISS")
        print(f"  {mark:4} {name}: {t['value']:.2f}" + (f" (goal {t['goal']})" if t["goal"] else ""))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
