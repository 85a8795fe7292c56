"""Kernel selection: ``SEALIO_KERNEL``, ``_kernel.resolve`` and the C probe.

The environment variable is read once per process, so each setting runs in
a fresh interpreter. Situations this machine cannot produce (a CPU without
VAES, an extension that was never built) are simulated at the one seam
where sealio reads them: the ``(ffi, lib)`` pair of ``_kernel.native()``
and the import of ``sealio._native``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import sealio
from sealio.hazmat import kernel as _kernel
from sealio.hazmat import primitives as P
from sealio.errors import KernelUnavailableError
from _vectors import aead_cases

SEALIO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(sealio.__file__)))
IS_X86_64 = platform.machine().lower() in ("x86_64", "amd64")

# Run in the child: report what the process default resolved to, and prove
# the default objects work by encrypting one published vector.
PROBE = textwrap.dedent("""
    import json, sys
    {prelude}
    from sealio import primitives as P
    out = {{}}
    try:
        f = P.cpu_features()
        out.update(kernel=f["kernel"], requested=f["requested"],
                   native=f["native_extension"], available=f["available_kernels"])
        out["gcm"] = P.AesGcm(bytes.fromhex(sys.argv[1])).kernel
        out["cbc"] = P.AesCbc(bytes.fromhex(sys.argv[1])).kernel
        out["ct"] = P.aes_gcm_encrypt(*(bytes.fromhex(a) for a in sys.argv[1:5])).hex()
    except Exception as exc:
        out["error"] = type(exc).__name__
        out["message"] = str(exc)
    print(json.dumps(out))
""")

# Makes ``import sealio._native`` fail exactly as it does when the
# extension was never built (ModuleNotFoundError naming the module).
NOT_BUILT = textwrap.dedent("""
    class _NoNative:
        def find_spec(self, name, path=None, target=None):
            if name == "sealio._native":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, _NoNative())
""")

# ... and as it does when the build is broken (a missing C symbol).
BROKEN = textwrap.dedent("""
    class _BrokenNative:
        def find_spec(self, name, path=None, target=None):
            if name == "sealio._native":
                raise ImportError("_native.abi3.so: undefined symbol: sealio_cbc_encrypt")
            return None
    sys.meta_path.insert(0, _BrokenNative())
""")


def _vector() -> tuple[tuple[bytes, bytes, bytes, bytes], bytes]:
    """A valid 256-bit-key Wycheproof case with AAD: (key, iv, msg, aad), ct||tag."""
    c = next(c for c in aead_cases() if c.result == "valid" and c.iv_bits == 96
             and c.key_bits == 256 and c.aad and c.msg)
    return (c.key, c.iv, c.msg, c.aad), c.ct + c.tag


def run_child(env_kernel: str | None, prelude: str = "") -> dict[str, Any]:
    """Import sealio in a fresh interpreter with SEALIO_KERNEL set (or unset)."""
    env = {k: v for k, v in os.environ.items() if k != "SEALIO_KERNEL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SEALIO_ROOT, env.get("PYTHONPATH")]))
    if env_kernel is not None:
        env["SEALIO_KERNEL"] = env_kernel
    args, _ = _vector()
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(prelude=prelude), *(a.hex() for a in args)],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def fresh_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Lets a test re-resolve the process default, and restores it after."""
    _kernel.default.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    _kernel.default.cache_clear()


# ------------------------------------------------------- SEALIO_KERNEL env


@pytest.mark.parametrize("name", _kernel.available())
def test_env_forces_each_available_kernel(name: str) -> None:
    """SEALIO_KERNEL=<kernel> is what cpu_features() reports and what the
    default objects and one-shot functions run, with correct output."""
    got = run_child(name)
    assert "error" not in got, got
    assert got["kernel"] == got["gcm"] == got["cbc"] == name
    assert got["requested"] == name
    assert got["ct"] == _vector()[1].hex()


@pytest.mark.parametrize("value", [None, "", "auto"])
def test_env_auto_picks_the_best(value: str | None) -> None:
    got = run_child(value)
    assert "error" not in got, got
    assert got["kernel"] == got["gcm"] == _kernel.available()[0]
    assert got["requested"] == "auto"
    assert got["ct"] == _vector()[1].hex()


@pytest.mark.parametrize("value", ["bogus", "AESNI", "avx512", "native", " vaes"])
def test_env_unknown_name_is_value_error(value: str) -> None:
    got = run_child(value)
    assert got.get("error") == "ValueError", got
    assert repr(value) in got["message"]


def test_env_kernels_the_cpu_lacks_raise() -> None:
    """Forcing any kernel this machine cannot run is KernelUnavailableError
    (on a machine with every kernel, the simulated tests below cover it)."""
    missing = [k for k in _kernel.KERNELS if k not in _kernel.available()]
    for name in missing:
        got = run_child(name)
        assert got.get("error") == "KernelUnavailableError", got
        with pytest.raises(KernelUnavailableError):
            _kernel.resolve(name)
        with pytest.raises(KernelUnavailableError):
            P.AesGcm(bytes(16), kernel=name)
    assert "fallback" not in missing


def test_env_without_native_extension() -> None:
    """An interpreter where the extension was never built runs the fallback
    only, reports it, and refuses a forced native kernel."""
    got = run_child(None, NOT_BUILT)
    assert "error" not in got, got
    assert got["native"] is False and got["available"] == ["fallback"]
    assert got["kernel"] == got["gcm"] == "fallback"
    assert got["ct"] == _vector()[1].hex()
    for name in ("aesni", "vaes"):
        forced = run_child(name, NOT_BUILT)
        assert forced.get("error") == "KernelUnavailableError", forced
        assert "not built" in forced["message"]


def test_broken_native_extension_is_not_hidden() -> None:
    """A build that exists but cannot load raises instead of silently
    running the fallback."""
    got = run_child(None, BROKEN)
    assert got.get("error") == "ImportError", got
    assert "undefined symbol" in got["message"]


# --------------------------------------------------- the C core is present


def _cpuinfo_flags() -> set[str] | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


@pytest.mark.skipif(not IS_X86_64, reason="the C core targets x86-64 only")
def test_native_core_active_on_x86_64_with_aesni() -> None:
    """On x86-64 with AES-NI the C core must be built and chosen by default:
    CI must not pass by silently running only the fallback."""
    flags = _cpuinfo_flags()
    assert _kernel.cpu_features()["native_extension"] is True
    if flags is not None and "aes" not in flags:
        pytest.skip("this x86-64 CPU has no AES-NI")
    assert "aesni" in _kernel.available()
    got = run_child(None)
    assert got["native"] is True
    assert got["kernel"] != "fallback" and got["kernel"] in ("vaes", "aesni")


@pytest.mark.skipif(_cpuinfo_flags() is None, reason="needs /proc/cpuinfo (Linux)")
def test_cpu_probe_matches_proc_cpuinfo() -> None:
    """The C probe (CPUID + XGETBV) agrees with what the OS reports."""
    flags = _cpuinfo_flags()
    assert flags is not None
    feats = _kernel.cpu_features()["features"]
    names = {"aesni": "aes", "pclmulqdq": "pclmulqdq", "sse4_1": "sse4_1", "avx": "avx",
             "avx2": "avx2", "vaes": "vaes", "vpclmulqdq": "vpclmulqdq",
             "avx512f": "avx512f", "avx512vl": "avx512vl"}
    if not _kernel.cpu_features()["native_extension"]:
        pytest.skip("no native extension on this platform")
    assert {k: feats[k] for k in names} == {k: v in flags for k, v in names.items()}


def test_c_kernel_table_matches_python() -> None:
    """sealio_kernel_best / _available / _name agree with _kernel.available()."""
    nat = _kernel.native()
    if nat is None:
        assert _kernel.available() == ["fallback"]
        return
    _, lib = nat
    avail = _kernel.available()
    for name in ("vaes", "aesni"):
        assert bool(lib.sealio_kernel_available(_kernel.native_id(name))) == (name in avail)
    best = lib.sealio_kernel_best()
    assert (avail[0] == "fallback") == (best == 0)
    if best:
        assert _kernel.native_id(avail[0]) == best
    ffi, _ = nat
    for name in ("vaes", "aesni", "auto"):
        kid = lib.SEALIO_KERNEL_AUTO if name == "auto" else _kernel.native_id(name)
        assert ffi.string(lib.sealio_kernel_name(kid)).decode() == name
    assert ffi.string(lib.sealio_kernel_name(99)).decode() == "unknown"
    assert lib.sealio_kernel_available(99) == 0


# ------------------------------------------------------ resolve(), in process


class _FakeLib:
    """The real lib, but reporting some kernels as unavailable."""

    def __init__(self, lib: Any, disabled: set[int]) -> None:
        self._lib, self._disabled = lib, disabled

    def sealio_kernel_available(self, kid: int) -> int:
        return 0 if kid in self._disabled else int(self._lib.sealio_kernel_available(kid))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)


def test_resolve_basics() -> None:
    assert _kernel.resolve(None) == _kernel.default() == P.cpu_features()["kernel"]
    assert _kernel.resolve("auto") == _kernel.available()[0]
    for name in _kernel.available():
        assert _kernel.resolve(name) == name
    for bad in ("bogus", "", "Fallback", "aes-ni"):
        with pytest.raises(ValueError, match="unknown kernel"):
            _kernel.resolve(bad)
    assert _kernel.available()[-1] == "fallback"


def test_resolve_without_extension(fresh_default: pytest.MonkeyPatch) -> None:
    fresh_default.setattr(_kernel, "native", lambda: None)
    assert _kernel.available() == ["fallback"]
    assert _kernel.resolve("auto") == "fallback"
    for name in ("aesni", "vaes"):
        with pytest.raises(KernelUnavailableError, match="not built"):
            _kernel.resolve(name)
    fresh_default.setenv("SEALIO_KERNEL", "aesni")
    with pytest.raises(KernelUnavailableError):
        _kernel.default()
    _kernel.default.cache_clear()
    fresh_default.setenv("SEALIO_KERNEL", "auto")
    assert _kernel.default() == "fallback"
    feats = _kernel.cpu_features()
    assert feats["native_extension"] is False and feats["kernel"] == "fallback"
    assert not any(feats["features"].values())


@pytest.mark.skipif(_kernel.native() is None, reason="needs the native extension to wrap")
def test_resolve_on_a_cpu_without_vaes(fresh_default: pytest.MonkeyPatch) -> None:
    """A CPU with AES-NI but no VAES: auto picks aesni (and it works),
    forcing vaes raises KernelUnavailableError naming the CPU."""
    ffi, lib = _kernel.native()  # type: ignore[misc]
    if not lib.sealio_kernel_available(_kernel.native_id("aesni")):
        pytest.skip("this CPU has no AES-NI kernel to fall back to")
    fake = (ffi, _FakeLib(lib, {_kernel.native_id("vaes")}))
    fresh_default.setattr(_kernel, "native", lambda: fake)
    assert _kernel.available() == ["aesni", "fallback"]
    assert _kernel.resolve("auto") == "aesni"
    with pytest.raises(KernelUnavailableError, match="lacks"):
        _kernel.resolve("vaes")
    with pytest.raises(KernelUnavailableError):
        P.AesGcm(bytes(16), kernel="vaes")
    fresh_default.setenv("SEALIO_KERNEL", "vaes")
    with pytest.raises(KernelUnavailableError):
        _kernel.default()
    _kernel.default.cache_clear()
    fresh_default.delenv("SEALIO_KERNEL")
    assert _kernel.default() == "aesni"
    (key, iv, msg, aad), want = _vector()
    assert P.AesGcm(key).encrypt(iv, msg, aad) == want


@pytest.mark.skipif(_kernel.native() is None, reason="needs the native extension")
def test_c_refusal_maps_to_kernel_unavailable() -> None:
    """If the C core itself refuses a kernel (SEALIO_ERR_UNSUPPORTED), the
    binding raises KernelUnavailableError, not a generic error."""
    from sealio.hazmat import native as _native_backend

    _, lib = _kernel.native()  # type: ignore[misc]
    with pytest.raises(KernelUnavailableError):
        _native_backend._raise_status(lib.SEALIO_ERR_UNSUPPORTED, "test")
    with pytest.raises(ValueError):
        _native_backend._raise_status(lib.SEALIO_ERR_ARG, "test")
    with pytest.raises(MemoryError):
        _native_backend._raise_status(lib.SEALIO_ERR_NOMEM, "test")


def _fake_binding(abi: int) -> SimpleNamespace:
    """A compiled binding as sealio sees it, reporting ``abi``; its own header
    constant agrees with it, as in any real build (the case a comparison of
    the two could never catch)."""
    return SimpleNamespace(ffi=object(), lib=SimpleNamespace(sealio_abi_version=lambda: abi,
                                                             SEALIO_ABI_VERSION=abi))


def test_abi_mismatch_is_an_import_error() -> None:
    """A stale build of another C-core version is refused, with how to rebuild."""
    for other in (_kernel.EXPECTED_ABI - 1, _kernel.EXPECTED_ABI + 1):
        with pytest.raises(ImportError, match=r"pip install -e \.") as e:
            _kernel.check_abi(_fake_binding(other))  # type: ignore[arg-type]
        assert "tools/dev-build" in str(e.value) and f"ABI {other}" in str(e.value)
    _kernel.check_abi(_fake_binding(_kernel.EXPECTED_ABI))  # type: ignore[arg-type]


def test_a_binding_of_another_abi_fails_at_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check runs where the binding is loaded: ``native()`` raises."""
    monkeypatch.setitem(sys.modules, "sealio._native", _fake_binding(_kernel.EXPECTED_ABI + 1))
    _kernel.native.cache_clear()
    try:
        with pytest.raises(ImportError, match="rebuild"):
            _kernel.native()
    finally:
        monkeypatch.undo()
        _kernel.native.cache_clear()


def test_the_built_binding_has_the_expected_abi() -> None:
    nat = _kernel.native()
    if nat is None:
        pytest.skip("the native extension is not built")
    assert nat[1].sealio_abi_version() == _kernel.EXPECTED_ABI


def test_kernel_argument_type_and_native_ids() -> None:
    """Cheap robustness of the kernel layer (issue 12): a non-str kernel is
    a TypeError (``kernel=2`` used to be a ValueError quoting it, a list an
    unhashable error in some paths), and asking for the C id of a
    non-native kernel is a ValueError, not a KeyError."""
    for bad in (2, 2.0, b"vaes", ["vaes"]):
        with pytest.raises(TypeError, match="kernel must be"):
            _kernel.resolve(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            P.AesGcm(bytes(32), kernel=bad)  # type: ignore[arg-type]
    for name in ("fallback", "auto", "", None):
        with pytest.raises(ValueError, match="not a native kernel"):
            _kernel.native_id(name)  # type: ignore[arg-type]
