"""Which kernel runs: the native C core (``vaes`` or ``aesni``) or the
``cryptography`` fallback. Decided once per process from the CPU and the
``SEALIO_KERNEL`` environment variable (``auto``, ``vaes``, ``aesni``,
``fallback``); objects may also name a kernel explicitly (tests do).
"""

from __future__ import annotations

import functools
import importlib
import os
from types import ModuleType
from typing import Any

from sealio.errors import KernelUnavailableError

KERNELS = ("vaes", "aesni", "fallback")
_NATIVE_IDS = {"aesni": 1, "vaes": 2}
_FEATURE_BITS = (
    "aesni", "pclmulqdq", "sse4_1", "avx", "avx2", "vaes", "vpclmulqdq",
    "avx512f", "avx512vl",
)


@functools.lru_cache(maxsize=1)
def native() -> tuple[Any, Any] | None:
    """The compiled binding ``(ffi, lib)``, or None if it is not built."""
    try:
        _native = importlib.import_module("sealio._native")
    except ModuleNotFoundError as exc:
        if exc.name != "sealio._native":
            raise
        return None  # not built: only the fallback runs; a broken build raises
    check_abi(_native)
    return _native.ffi, _native.lib


# The C core's ABI this Python code was written against (csrc/include/sealio.h,
# SEALIO_ABI_VERSION). A constant here, not in the binding: comparing two
# constants compiled into the same .so could never catch a stale build.
EXPECTED_ABI = 2


def check_abi(mod: ModuleType) -> None:
    """ImportError, saying how to rebuild, unless the compiled binding
    implements :data:`EXPECTED_ABI`."""
    built = mod.lib.sealio_abi_version()
    if built != EXPECTED_ABI:
        raise ImportError(
            f"sealio._native was built from another version of the C core "
            f"(ABI {built}, this sealio needs ABI {EXPECTED_ABI}); rebuild it: "
            f"pip install -e . (or tools/dev-build in a checkout)"
        )


def available() -> list[str]:
    """Kernels this machine can run, best first."""
    found = []
    nat = native()
    if nat is not None:
        _, lib = nat
        found = [k for k in ("vaes", "aesni") if lib.sealio_kernel_available(_NATIVE_IDS[k])]
    return found + ["fallback"]


def resolve(kernel: str | None = None) -> str:
    """Turn a request (None means the process default) into a kernel name."""
    if kernel is None:
        return default()
    if not isinstance(kernel, str):
        raise TypeError(f"kernel must be a str or None, not {type(kernel).__name__}")
    if kernel == "auto":
        return available()[0]
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of auto, {', '.join(KERNELS)}")
    if kernel not in available():
        why = "the native extension is not built" if native() is None else "this CPU lacks its features"
        raise KernelUnavailableError(f"kernel {kernel!r} is not available: {why}")
    return kernel


@functools.lru_cache(maxsize=1)
def default() -> str:
    return resolve(os.environ.get("SEALIO_KERNEL", "auto") or "auto")


def native_id(kernel: str) -> int:
    """The C core's id of a native kernel; ValueError for any other name."""
    try:
        return _NATIVE_IDS[kernel]
    except (KeyError, TypeError):
        raise ValueError(f"{kernel!r} is not a native kernel (choose vaes or aesni)") from None


def cpu_features() -> dict[str, Any]:
    """Detected CPU features and the active kernel, for reports and tests."""
    nat = native()
    feats: dict[str, bool] = {name: False for name in _FEATURE_BITS}
    if nat is not None:
        bits = nat[1].sealio_cpu_features()
        feats = {name: bool(bits >> i & 1) for i, name in enumerate(_FEATURE_BITS)}
    return {
        "features": feats,
        "native_extension": nat is not None,
        "available_kernels": available(),
        "kernel": default(),
        "requested": os.environ.get("SEALIO_KERNEL", "auto") or "auto",
    }
