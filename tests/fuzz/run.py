"""Run a fuzz target for a bounded number of executions and time.

    python tests/fuzz/run.py header                 # the CI budget
    python tests/fuzz/run.py open --runs 0 --max-time 600 --save-crashes

Each run starts from the committed seeds (``tests/fuzz/corpus/<target>/``)
and replays the saved reproducers (``tests/fuzz/crashes/<target>/``) first,
so a finding once fixed stays fixed. New corpus entries go to a scratch
directory, never into the committed corpus. Bounds: ``-runs`` (or
``-atheris_runs``) executions and at most ``-max_total_time`` seconds,
``-timeout`` seconds per input, ``-rss_limit_mb`` (and, for the C target,
``-malloc_limit_mb``); a fixed ``-seed`` keeps runs repeatable. Exit
status 0 means no finding; anything else is a finding (the artifact path
is printed) or a broken target.

The C target (``fuzz_gcm_segments``) is built with clang by CMake
(``-DSEALIO_FUZZ=ON``) into ``build-fuzz/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CORPUS = HERE / "corpus"
CRASHES = HERE / "crashes"
BUILD = ROOT / "build-fuzz"


@dataclass(frozen=True)
class Target:
    name: str
    runs: int  # executions in the CI budget (corpus replay included)
    max_time: int  # seconds: a cap on the same budget
    max_len: int  # longest input the mutator makes
    timeout: int = 10  # seconds per input before it counts as a hang
    rss_limit_mb: int = 1536
    native: bool = False
    extra: tuple[str, ...] = field(default=())


# Budgets: about 2-3 minutes for all of them on 2 cores (measured rates in
# docs in the test module); -runs keeps a run repeatable, -max_total_time
# bounds a slow machine.
TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("header", runs=300_000, max_time=20, max_len=1100),
    Target("open", runs=40_000, max_time=30, max_len=16_384),
    Target("keyring", runs=40_000, max_time=25, max_len=2_048),
    Target("kms_uri", runs=15_000, max_time=20, max_len=4_400),
    Target("bigdl", runs=60_000, max_time=30, max_len=2_048),
    Target("gcm_segments", runs=50_000, max_time=30, max_len=8_192, native=True,
           extra=("-malloc_limit_mb=256",)),
)}
# Checks the harness itself: each input names the failure it must produce.
SELFTEST = Target("selftest", runs=20, max_time=30, max_len=64, timeout=2, rss_limit_mb=300)


class FuzzSetupError(RuntimeError):
    """The fuzzer could not be built or started (not a finding)."""


def clang() -> str:
    """The clang the C target is built with; a clear error when there is none."""
    cc = os.environ.get("SEALIO_FUZZ_CC") or shutil.which("clang")
    if not cc:
        raise FuzzSetupError("clang is required to build the libFuzzer target tests/fuzz/fuzz_gcm_segments.c: "
                             "install Debian's clang package (apt-get install -y clang); tools/run-tests "
                             "installs it when run as root")
    return cc


def build_native(target: str) -> Path:
    """Configure and build ``build-fuzz/<target>`` with clang (incremental)."""
    cc = clang()
    cmake = shutil.which("cmake")
    if not cmake:
        raise FuzzSetupError("cmake is required to build the C fuzz target")
    steps = [[cmake, "-S", str(ROOT), "-B", str(BUILD), "-DSEALIO_FUZZ=ON", f"-DCMAKE_C_COMPILER={cc}",
              "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
             [cmake, "--build", str(BUILD), "--target", target, "-j2"]]
    for cmd in steps:
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode:
            raise FuzzSetupError(f"building {target} failed ({' '.join(cmd)}):\n{p.stdout[-3000:]}{p.stderr[-3000:]}")
    exe = BUILD / target
    if not exe.exists():
        raise FuzzSetupError(f"the build produced no {exe}")
    return exe


@dataclass
class Result:
    target: str
    returncode: int
    output: str
    artifacts: list[Path]

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.artifacts

    def report(self) -> str:
        lines = [f"fuzz target {self.target}: exit status {self.returncode}"]
        lines += [f"  reproducer: {a} ({a.stat().st_size} bytes)" for a in self.artifacts]
        lines.append("---- fuzzer output (tail) ----")
        lines.append(self.output[-6000:])
        return "\n".join(lines)


def command(t: Target, work: Path, *, runs: int, max_time: int, seed: int,
            corpora: list[Path]) -> list[str]:
    """The fuzzer's command line: scratch corpus first (libFuzzer writes new
    inputs only into the first directory), then the committed ones."""
    if t.native:
        cmd = [str(build_native(f"fuzz_{t.name}"))] + ([f"-runs={runs}"] if runs > 0 else [])
    else:
        cmd = [sys.executable, str(HERE / f"fuzz_{t.name}.py")] + ([f"-atheris_runs={runs}"] if runs > 0 else [])
    cmd += [f"-max_total_time={max_time}", f"-timeout={t.timeout}", f"-rss_limit_mb={t.rss_limit_mb}",
            f"-max_len={t.max_len}", f"-seed={seed}", f"-artifact_prefix={work}/", "-print_final_stats=1",
            *t.extra]
    out = work / "corpus"
    out.mkdir(exist_ok=True)
    return cmd + [str(out)] + [str(c) for c in corpora]


def run(name: str, work: Path, *, runs: int | None = None, max_time: int | None = None, seed: int = 1,
        corpora: list[Path] | None = None, target: Target | None = None) -> Result:
    """Run target ``name`` (or ``target``) with the CI budget (or the given one) in ``work``."""
    t = target or TARGETS[name]
    if corpora is None:
        corpora = [d for d in (CORPUS / name, CRASHES / name) if d.is_dir() and any(d.iterdir())]
    cmd = command(t, work, runs=t.runs if runs is None else runs,
                  max_time=t.max_time if max_time is None else max_time, seed=seed, corpora=corpora)
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:allocator_may_return_null=0")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    # a hard wall in case libFuzzer's own timers cannot fire (a hang in native code)
    wall = (t.max_time if max_time is None else max_time) + 120
    rc, output = launch(cmd, str(work), env, wall)
    artifacts = sorted(p for p in work.iterdir()
                       if p.is_file() and p.name.startswith(("crash-", "timeout-", "oom-", "leak-", "slow-unit-")))
    return Result(name, rc, output, artifacts)


def _spawn(cmd: list[str], cwd: str, env: dict[str, str], wall: float) -> tuple[int, str]:
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           errors="replace", timeout=wall)
        return p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout or b""
        err = e.stderr or b""
        text = (out.decode(errors="replace") if isinstance(out, bytes) else out) + \
            (err.decode(errors="replace") if isinstance(err, bytes) else err)
        return -9, text + f"\n(killed after {wall} s wall clock)"


# Linux carries a process's peak RSS (ru_maxrss, which libFuzzer's
# -rss_limit_mb reads) over fork and exec: a fuzzer started from a pytest
# process that has grown to 800 MB "starts" at 800 MB and is reported out
# of memory at once. So the fuzzers are started by a small launcher
# process, itself started while the test run is still small (conftest's
# pytest_configure calls start_launcher); without one they start directly.
_launcher: subprocess.Popen[str] | None = None


def start_launcher() -> None:
    global _launcher
    if _launcher is None:
        _launcher = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def stop_launcher() -> None:
    global _launcher
    if _launcher is not None:
        assert _launcher.stdin is not None
        _launcher.stdin.close()
        _launcher.wait(timeout=30)
        _launcher = None


def launch(cmd: list[str], cwd: str, env: dict[str, str], wall: float) -> tuple[int, str]:
    """Run a fuzzer through the launcher (if one runs) and return (status, output)."""
    if _launcher is None or _launcher.poll() is not None:
        return _spawn(cmd, cwd, env, wall)
    assert _launcher.stdin is not None and _launcher.stdout is not None
    _launcher.stdin.write(json.dumps({"cmd": cmd, "cwd": cwd, "env": env, "wall": wall}) + "\n")
    _launcher.stdin.flush()
    answer = json.loads(_launcher.stdout.readline())
    return int(answer["rc"]), str(answer["output"])


def _serve() -> int:
    for line in sys.stdin:
        req = json.loads(line)
        rc, output = _spawn(req["cmd"], req["cwd"], req["env"], req["wall"])
        sys.stdout.write(json.dumps({"rc": rc, "output": output}) + "\n")
        sys.stdout.flush()
    return 0


def save(result: Result) -> list[Path]:
    """Copy a run's reproducers into tests/fuzz/crashes/<target>/."""
    dest = CRASHES / result.target
    dest.mkdir(parents=True, exist_ok=True)
    saved = []
    for a in result.artifacts:
        if a.name.startswith("slow-unit-"):
            continue
        shutil.copyfile(a, dest / a.name)
        saved.append(dest / a.name)
    return saved


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("targets", nargs="*", default=list(TARGETS), help=f"default: all ({', '.join(TARGETS)})")
    ap.add_argument("--runs", type=int, help="executions (0: no limit but --max-time)")
    ap.add_argument("--max-time", type=int, help="seconds per target")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save-crashes", action="store_true", help="copy reproducers to tests/fuzz/crashes/")
    args = ap.parse_args(argv)
    failed = 0
    for name in args.targets:
        if name not in TARGETS:
            ap.error(f"unknown target {name!r}")
        with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as tmp:
            try:
                r = run(name, Path(tmp), runs=args.runs, max_time=args.max_time, seed=args.seed)
            except FuzzSetupError as e:
                print(f"fuzz target {name}: {e}", file=sys.stderr)
                failed += 1
                continue
            print(r.report() if not r.ok else f"fuzz target {name}: ok\n{r.output[-600:]}")
            if not r.ok:
                failed += 1
                if args.save_crashes:
                    for s in save(r):
                        print(f"  saved {s.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(_serve() if sys.argv[1:] == ["--serve"] else main())
