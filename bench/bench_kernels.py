#!/usr/bin/env python3
"""Throughput of sealio's native kernels against ``cryptography`` (OpenSSL),
measured in one run on one machine, with numpy ``copyto`` as the memory-
bandwidth line. See bench/README.md for the targets.

    python bench/bench_kernels.py            # full run (a few minutes)
    python bench/bench_kernels.py --quick    # CI smoke run (< 30 s)
    python bench/bench_kernels.py --json out.json

Method: every operation writes into buffers allocated once per size
(``*_into`` on both sides, no allocation in the timed loop; the allocating
``aes_cbc_encrypt_many`` is reported on a line of its own). Each trial repeats the operation until it
has run for a minimum time; the reported figure is the median over trials,
after a warm-up. "2 threads" runs two Python threads at once, each on its
own buffers, and reports their total throughput (the native kernels release
the GIL). The script only reports: it never fails on speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from cryptography import __version__ as CRYPTOGRAPHY_VERSION
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealio.hazmat import kernel as _kernel
from sealio.primitives import AesCbc, AesGcm, aes_cbc_encrypt_many, aes_cbc_encrypt_many_into

KiB, MiB = 1 << 10, 1 << 20
TAG = 16
CHAINS = 8  # multi-buffer CBC: the size is split over this many chains
CRYPTO = "cryptography"

Op = Callable[[], Any]


@dataclass
class Result:
    """One measured line: ``gbps`` is the median over trials (1e9 B/s)."""

    op: str
    size: int
    threads: int
    impl: str
    gbps: float
    trials: list[float] = field(default_factory=list)  # GB/s per trial
    reps: int = 1


@dataclass
class Config:
    sizes: list[int]
    thread_counts: list[int]
    min_trial_s: float
    trials: int
    two_thread_sizes: set[int]


# ------------------------------------------------------------------ timing


def _run_threads(fns: list[Op], reps: int) -> float:
    """Wall time for every fn in ``fns`` to run ``reps`` times, each in its
    own thread, all released together."""
    if len(fns) == 1:
        fn = fns[0]
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        return time.perf_counter() - t0
    barrier = threading.Barrier(len(fns) + 1)

    def worker(fn: Op) -> None:
        barrier.wait()
        for _ in range(reps):
            fn()

    threads = [threading.Thread(target=worker, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def measure(fns: list[Op], nbytes: int, cfg: Config) -> tuple[float, list[float], int]:
    """Median GB/s of ``fns`` (one per thread), each processing ``nbytes``."""
    for fn in fns:  # warm-up: page in buffers, build lazy tables
        fn()
    # Calibrate like timeit.autorange: double until a run is long enough to
    # time reliably, then scale to the trial length.
    reps = 1
    while True:
        dt = _run_threads(fns, reps)
        if dt >= cfg.min_trial_s / 4:
            break
        reps *= 2
    reps = max(1, round(reps * cfg.min_trial_s / dt))
    rates = []
    for _ in range(cfg.trials):
        dt = _run_threads(fns, reps)
        rates.append(nbytes * reps * len(fns) / dt / 1e9)
    return statistics.median(rates), rates, reps


# --------------------------------------------------------------- workloads


PAGE = 4096


def _array(n: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """A page-aligned byte array. Every buffer starts on a page so that the
    source and destination of an operation never sit a few bytes apart
    modulo 4 KiB, where "4K aliasing" stalls loads behind unrelated stores
    and can cost a memcpy 10x (seen here with np.copyto at 64 KiB)."""
    raw = np.empty(n + PAGE, dtype=np.uint8)
    start = -raw.ctypes.data % PAGE
    return raw[start : start + n]


def _buffer(n: int) -> memoryview:
    return memoryview(_array(n))  # type: ignore[arg-type]


class Buffers:
    """Inputs and outputs for one size and one thread, allocated once."""

    def __init__(self, size: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.size = size
        self.key = rng.bytes(32)
        self.keys = [rng.bytes(32) for _ in range(CHAINS)]
        self.nonce = rng.bytes(12)
        self.iv = rng.bytes(16)
        self.ivs = [rng.bytes(16) for _ in range(CHAINS)]
        self.plain_np = _array(size)
        self.plain_np[:] = np.frombuffer(rng.bytes(size), dtype=np.uint8)
        self.plain = memoryview(self.plain_np)  # type: ignore[arg-type]
        self.copy_dst = _array(size)
        self.sealed = _buffer(size + TAG)
        self.out = _buffer(size + TAG)
        self.cbc_out = _buffer(size + 16)  # cryptography's update_into needs len + 15
        self.cbc_ct = _buffer(size)
        chunk = size // CHAINS
        self.chain_in = [self.plain[i * chunk : (i + 1) * chunk] for i in range(CHAINS)]
        self.chain_out = [_buffer(chunk + 16) for _ in range(CHAINS)]
        AESGCM(self.key).encrypt_into(self.nonce, self.plain, b"", self.sealed)
        enc = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).encryptor()
        n = enc.update_into(self.plain, self.cbc_out)
        self.cbc_ct[:] = self.cbc_out[:n]


def ops_cryptography(b: Buffers) -> dict[str, Op]:
    aead = AESGCM(b.key)
    aes = algorithms.AES(b.key)
    chain_aes = [algorithms.AES(k) for k in b.keys]

    def cbc_enc() -> None:
        Cipher(aes, modes.CBC(b.iv)).encryptor().update_into(b.plain, b.cbc_out)

    def cbc_dec() -> None:
        Cipher(aes, modes.CBC(b.iv)).decryptor().update_into(b.cbc_ct, b.cbc_out)

    def cbc_enc_chains() -> None:  # the same 8 chains, one after another
        for a, iv, src, dst in zip(chain_aes, b.ivs, b.chain_in, b.chain_out, strict=True):
            Cipher(a, modes.CBC(iv)).encryptor().update_into(src, dst)

    return {
        "gcm_encrypt": lambda: aead.encrypt_into(b.nonce, b.plain, b"", b.out),
        "gcm_decrypt": lambda: aead.decrypt_into(b.nonce, b.sealed, b"", b.out[: b.size]),
        "cbc_decrypt": cbc_dec,
        "cbc_encrypt_1chain": cbc_enc,
        "cbc_encrypt_8chain": cbc_enc_chains,
    }


def ops_sealio(b: Buffers, kernel: str) -> dict[str, Op]:
    gcm = AesGcm(b.key, kernel=kernel)
    cbc = AesCbc(b.key, kernel=kernel)
    chains = [AesCbc(k, kernel=kernel) for k in b.keys]
    jobs = list(zip(chains, b.ivs, b.chain_in, strict=True))
    ops: dict[str, Op] = {
        "gcm_encrypt": lambda: gcm.encrypt_into(b.nonce, b.plain, b.out),
        "gcm_decrypt": lambda: gcm.decrypt_into(b.nonce, b.sealed, b.out),
        "cbc_decrypt": lambda: cbc.decrypt_into(b.iv, b.cbc_ct, b.cbc_out, padding=False),
        "cbc_encrypt_1chain": lambda: cbc.encrypt_into(b.iv, b.plain, b.cbc_out, padding=False),
        "cbc_encrypt_8chain": lambda: aes_cbc_encrypt_many_into(jobs, b.chain_out, padding=False),
        "cbc_encrypt_8chain_alloc": lambda: aes_cbc_encrypt_many(jobs, padding=False),
    }
    return ops


OP_ORDER = ["gcm_encrypt", "gcm_decrypt", "cbc_decrypt", "cbc_encrypt_1chain",
            "cbc_encrypt_8chain", "cbc_encrypt_8chain_alloc"]
OP_LABEL = {
    "gcm_encrypt": "GCM encrypt",
    "gcm_decrypt": "GCM decrypt",
    "cbc_decrypt": "CBC decrypt",
    "cbc_encrypt_1chain": "CBC encrypt, 1 chain",
    "cbc_encrypt_8chain": "CBC encrypt, 8 chains",
    "cbc_encrypt_8chain_alloc": "  (allocating form)",
    "copyto": "numpy copyto",
}


def _copier(b: Buffers) -> Op:
    return lambda: np.copyto(b.copy_dst, b.plain_np)


def run(cfg: Config, kernels: list[str], log: Callable[[str], None]) -> list[Result]:
    results: list[Result] = []
    for size in cfg.sizes:
        for threads in cfg.thread_counts:
            if threads > 1 and size not in cfg.two_thread_sizes:
                continue
            bufs = [Buffers(size, seed=1000 * size + t) for t in range(threads)]
            impls: list[tuple[str, list[dict[str, Op]]]] = [(CRYPTO, [ops_cryptography(b) for b in bufs])]
            impls += [(k, [ops_sealio(b, k) for b in bufs]) for k in kernels]
            for name, per_thread in impls:
                for op in OP_ORDER:
                    if op not in per_thread[0]:
                        continue
                    gbps, rates, reps = measure([o[op] for o in per_thread], size, cfg)
                    results.append(Result(op, size, threads, name, gbps, rates, reps))
                    log(f"  {fmt_size(size):>7} x{threads} {name:<12} {op:<28} {gbps:7.2f} GB/s")
            copies = [_copier(b) for b in bufs]
            gbps, rates, reps = measure(copies, size, cfg)
            results.append(Result("copyto", size, threads, "numpy", gbps, rates, reps))
            log(f"  {fmt_size(size):>7} x{threads} {'numpy':<12} {'copyto':<28} {gbps:7.2f} GB/s")
            del bufs, impls
    return results


# --------------------------------------------------------------- reporting


def fmt_size(n: int) -> str:
    return f"{n // MiB} MiB" if n >= MiB else f"{n // KiB} KiB"


def lookup(results: list[Result], op: str, size: int, threads: int, impl: str) -> float | None:
    for r in results:
        if (r.op, r.size, r.threads, r.impl) == (op, size, threads, impl):
            return r.gbps
    return None


def table(results: list[Result], kernels: list[str]) -> str:
    """One row per operation, size and thread count; numpy copyto (the
    memory-bandwidth line) closes each group in the cryptography column."""
    head = f"{'operation':<24}{'size':>8}{'thr':>4}{CRYPTO:>13}"
    for k in kernels:
        head += f"{k:>9}{'x':>7}"
    lines = [head, "-" * len(head)]
    for size, threads in sorted({(r.size, r.threads) for r in results}):
        for op in OP_ORDER:
            row = [lookup(results, op, size, threads, k) for k in kernels]
            base = lookup(results, op, size, threads, CRYPTO)
            if base is None and all(v is None for v in row):
                continue
            shown = base
            if op == "cbc_encrypt_8chain_alloc":  # compare with the same 8 chains
                base, shown = lookup(results, "cbc_encrypt_8chain", size, threads, CRYPTO), None
            line = f"{OP_LABEL[op]:<24}{fmt_size(size):>8}{threads:>4}"
            line += f"{shown:13.2f}" if shown is not None else f"{'':>13}"
            for v in row:
                if v is None:
                    line += f"{'-':>9}{'':>7}"
                else:
                    line += f"{v:9.2f}" + (f"{v / base:6.2f}x" if base else f"{'':>7}")
            lines.append(line)
        copy = lookup(results, "copyto", size, threads, "numpy")
        if copy is not None:
            lines.append(f"{OP_LABEL['copyto']:<24}{fmt_size(size):>8}{threads:>4}{copy:13.2f}")
        lines.append("")
    return "\n".join(lines)


@dataclass
class Target:
    name: str
    value: float | None
    goal: float
    detail: str

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.value >= self.goal


def targets(results: list[Result], kernel: str) -> list[Target]:
    """The README's targets, computed for one sealio kernel."""
    def r(op: str, size: int, threads: int, impl: str) -> float | None:
        return lookup(results, op, size, threads, impl)

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    out = []
    for op in ("gcm_encrypt", "gcm_decrypt"):
        out.append(Target(f"{OP_LABEL[op]} 1 MiB, 1 thread vs cryptography",
                          ratio(r(op, MiB, 1, kernel), r(op, MiB, 1, CRYPTO)), 1.0,
                          "sealio / cryptography"))
    out.append(Target("GCM decrypt 64 MiB vs numpy copyto 64 MiB",
                      ratio(r("gcm_decrypt", 64 * MiB, 1, kernel), r("copyto", 64 * MiB, 1, "numpy")),
                      0.9, "sealio decrypt / copyto, 1 thread"))
    out.append(Target("GCM decrypt 64 MiB, 2 threads vs numpy copyto 64 MiB",
                      ratio(r("gcm_decrypt", 64 * MiB, 2, kernel), r("copyto", 64 * MiB, 1, "numpy")),
                      0.9, "sealio 2-thread total / copyto, 1 thread"))
    cbc: list[float] = []
    for size in sorted({x.size for x in results}):
        v = ratio(r("cbc_decrypt", size, 1, kernel), r("cbc_decrypt", size, 1, CRYPTO))
        if v is not None:
            cbc.append(v)
    out.append(Target("CBC decrypt vs cryptography (worst size)", min(cbc) if cbc else None, 1.0,
                      "min over sizes, 1 thread"))
    out.append(Target("CBC encrypt 8 chains vs cryptography 1 chain, 1 MiB",
                      ratio(r("cbc_encrypt_8chain", MiB, 1, kernel),
                            r("cbc_encrypt_1chain", MiB, 1, CRYPTO)), 4.0,
                      "aes_cbc_encrypt_many_into, 8 x 128 KiB"))
    for op in ("gcm_encrypt", "gcm_decrypt"):
        out.append(Target(f"{OP_LABEL[op]} 2 threads vs 1 thread, 1 MiB",
                          ratio(r(op, MiB, 2, kernel), r(op, MiB, 1, kernel)), 1.8,
                          "total throughput"))
    return out


def environment() -> dict[str, Any]:
    model = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), model)
    except OSError:
        pass
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "cryptography": CRYPTOGRAPHY_VERSION,
        "sealio": _kernel.cpu_features(),
        "platform": platform.platform(),
    }


# ------------------------------------------------ per-call (one-shot) costs
#
# The same AES-256-GCM one-shot calls as a user makes them, from 64 B to
# 1 MiB: sealio's allocating encrypt/decrypt and *_into forms, cryptography's
# (OpenSSL) and, when the ``tink`` package is installed, Tink's Aead
# (BoringSSL; allocating only, and its encrypt draws a random nonce). "copy"
# is ``bytes(memoryview)`` of the output size: the yardstick for "an
# allocating form is not slower than _into plus one copy".

CALL_SIZES = [64, KiB, 16 * KiB, 64 * KiB, MiB]


def _tink_aead() -> Any:
    try:
        import tink
        from tink import aead
    except ImportError:
        return None
    aead.register()
    return tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM_RAW).primitive(aead.Aead)


def per_call_ops(size: int, kernel: str, tk: Any) -> dict[str, tuple[str, Op]]:
    """name -> (implementation, op) for one size."""
    rng = np.random.default_rng(size)
    key, nonce, pt = rng.bytes(32), rng.bytes(12), rng.bytes(size)
    gcm, ossl = AesGcm(key, kernel=kernel), AESGCM(key)
    ct = gcm.encrypt(nonce, pt)
    out, outd = bytearray(size + TAG), bytearray(size)
    view = memoryview(bytearray(ct))
    ops: dict[str, tuple[str, Op]] = {
        "encrypt": (kernel, lambda: gcm.encrypt(nonce, pt)),
        "encrypt_into": (kernel, lambda: gcm.encrypt_into(nonce, pt, out)),
        "decrypt": (kernel, lambda: gcm.decrypt(nonce, ct)),
        "decrypt_into": (kernel, lambda: gcm.decrypt_into(nonce, ct, outd)),
        "ossl encrypt": (CRYPTO, lambda: ossl.encrypt(nonce, pt, None)),
        "ossl encrypt_into": (CRYPTO, lambda: ossl.encrypt_into(nonce, pt, None, out)),
        "ossl decrypt": (CRYPTO, lambda: ossl.decrypt(nonce, ct, None)),
        "copy": ("python", lambda: bytes(view)),
    }
    if tk is not None:
        tct = tk.encrypt(pt, b"")
        ops["tink encrypt"] = ("tink", lambda: tk.encrypt(pt, b""))
        ops["tink decrypt"] = ("tink", lambda: tk.decrypt(tct, b""))
    return ops


def run_per_call(kernel: str, cfg: Config, log: Callable[[str], None]) -> list[Result]:
    tk = _tink_aead()
    results = []
    for size in CALL_SIZES:
        ops = per_call_ops(size, kernel, tk)
        for _ in range(2):  # two interleaved passes: load changes hit every line alike
            for name, (impl, op) in ops.items():
                gbps, rates, reps = measure([op], size, cfg)
                results.append(Result(f"call {name}", size, 1, impl, gbps, rates, reps))
        log(f"  per-call {fmt_size(size) if size >= KiB else f'{size} B':>7} done")
    merged: dict[tuple[str, int], Result] = {}
    for r in results:  # keep the better pass of each line (the less disturbed one)
        k = (r.op, r.size)
        if k not in merged or r.gbps > merged[k].gbps:
            merged[k] = r
    return list(merged.values())


def per_call_table(results: list[Result]) -> str:
    names = sorted({r.op for r in results}, key=lambda n: list(_CALL_ORDER).index(n) if n in _CALL_ORDER else 99)
    def label(n: str) -> str:
        return n.removeprefix("call ").replace("encrypt", "enc").replace("decrypt", "dec")

    head = f"{'size':>8}" + "".join(f"{label(n):>15}" for n in names)
    lines = ["us per call (median; lower is better)", head, "-" * len(head)]
    for size in CALL_SIZES:
        row = f"{fmt_size(size) if size >= KiB else f'{size} B':>8}"
        for n in names:
            r = next((x for x in results if x.op == n and x.size == size), None)
            row += f"{size / r.gbps / 1e3:15.2f}" if r else f"{'-':>15}"
        lines.append(row)
    return "\n".join(lines)


_CALL_ORDER = ["call encrypt", "call encrypt_into", "call decrypt", "call decrypt_into",
               "call ossl encrypt", "call ossl encrypt_into", "call ossl decrypt",
               "call tink encrypt", "call tink decrypt", "call copy"]


def per_call_targets(results: list[Result]) -> list[Target]:
    def g(op: str, size: int) -> float | None:
        r = next((x for x in results if x.op == f"call {op}" and x.size == size), None)
        return r.gbps if r else None

    out = []
    for size in (16 * KiB, 64 * KiB, MiB):
        for op in ("encrypt", "decrypt"):
            a, b = g(op, size), g(f"tink {op}", size)
            out.append(Target(f"GCM {op} {fmt_size(size)} per call vs tink (BoringSSL)",
                              a / b if a and b else None, 1.0, "allocating forms, 1 thread"))
    for size in (16 * KiB, MiB):
        for op in ("encrypt", "decrypt"):
            alloc, into, copy = g(op, size), g(f"{op}_into", size), g("copy", size)
            v = None
            if alloc and into and copy:
                v = (1 / into + 1 / copy) / (1 / alloc)  # time(_into + copy) / time(allocating)
            out.append(Target(f"GCM {op} {fmt_size(size)}: allocating vs _into + one copy", v, 1.0,
                              "time(_into) + time(copy) over time(allocating)"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short CI run (< 30 s)")
    ap.add_argument("--json", metavar="PATH", help="also save every measurement as JSON")
    ap.add_argument("--kernels", default=None,
                    help="comma-separated sealio kernels (default: every native one available)")
    ap.add_argument("--quiet", action="store_true", help="no per-measurement progress lines")
    ap.add_argument("--no-per-call", action="store_true",
                    help="skip the one-shot per-call section (64 B .. 1 MiB, with cryptography and tink)")
    args = ap.parse_args(argv)

    env = environment()
    avail = _kernel.available()
    kernels = args.kernels.split(",") if args.kernels else [k for k in avail if k != "fallback"]
    for k in kernels:
        _kernel.resolve(k)  # unknown or unavailable: fail before measuring
    if not kernels:
        print("warning: no native kernel available; measuring only the fallback", file=sys.stderr)
        kernels = ["fallback"]
    if args.quick:
        cfg = Config(sizes=[64 * KiB, MiB, 64 * MiB], thread_counts=[1, 2], min_trial_s=0.02,
                     trials=3, two_thread_sizes={MiB})
    else:
        cfg = Config(sizes=[64 * KiB, MiB, 64 * MiB], thread_counts=[1, 2], min_trial_s=0.2,
                     trials=7, two_thread_sizes={64 * KiB, MiB, 64 * MiB})

    print(f"sealio kernels: {', '.join(kernels)} (available: {', '.join(avail)}); "
          f"cryptography {env['cryptography']}; numpy {env['numpy']}; python {env['python']}")
    print(f"cpu: {env['cpu']} ({env['cpus']} logical CPUs); "
          f"{'quick' if args.quick else 'full'} run, "
          f"{cfg.trials} trials >= {cfg.min_trial_s * 1e3:.0f} ms each, median")
    log = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    results = run(cfg, kernels, log)
    elapsed = time.perf_counter() - t0

    print()
    print("GB/s (1e9 bytes/s of plaintext; 'x' = sealio / cryptography; 2 threads = total)")
    print(table(results, kernels))
    all_targets: dict[str, list[dict[str, Any]]] = {}
    for k in kernels:
        print(f"Targets, sealio kernel {k!r} (informational: [MISS] means a speed goal was not reached "
              "on this machine in this run; it never fails a test run):")
        rows = targets(results, k)
        for t in rows:
            mark = {True: "ok  ", False: "MISS", None: "n/a "}[t.met]
            val = f"{t.value:.2f}x" if t.value is not None else "-"
            print(f"  [{mark}] {t.name:<52} {val:>7}  (goal >= {t.goal:.1f}x; {t.detail})")
        all_targets[k] = [dict(asdict(t), met=t.met) for t in rows]
        print()
    per_call: list[Result] = []
    if not args.no_per_call:
        t1 = time.perf_counter()
        per_call = run_per_call(kernels[0], cfg, log)
        elapsed += time.perf_counter() - t1
        print(f"Per call, sealio kernel {kernels[0]!r}"
              + ("" if _tink_aead() is not None else " (tink not installed: pip install tink for the BoringSSL line)"))
        print(per_call_table(per_call))
        rows = per_call_targets(per_call)
        print("Per-call targets (informational: [MISS] never fails a test run):")
        for t in rows:
            mark = {True: "ok  ", False: "MISS", None: "n/a "}[t.met]
            val = f"{t.value:.2f}x" if t.value is not None else "-"
            print(f"  [{mark}] {t.name:<52} {val:>7}  (goal >= {t.goal:.1f}x; {t.detail})")
        all_targets["per_call"] = [dict(asdict(t), met=t.met) for t in rows]
        print()
    print(f"measured in {elapsed:.1f} s")
    if args.quick:
        print("This quick run is informational only: its trials are short, so on a shared or busy "
              "machine the ratios are noisy; `python bench/bench_kernels.py` measures properly.")

    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"environment": env, "quick": args.quick, "config": {
                "sizes": cfg.sizes, "thread_counts": cfg.thread_counts, "trials": cfg.trials,
                "min_trial_s": cfg.min_trial_s, "two_thread_sizes": sorted(cfg.two_thread_sizes),
                "chains": CHAINS}, "results": [asdict(r) for r in results + per_call],
                "targets": all_targets, "elapsed_s": elapsed}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
