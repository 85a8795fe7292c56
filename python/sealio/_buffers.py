"""Argument checks shared by the primitives: bytes-like in, writable out.

Validation follows pyca/cryptography: a wrong type is a TypeError, a wrong
length a ValueError. Messages name the argument, never its content.
"""

from __future__ import annotations

from typing import Any

KEY_SIZES = (16, 24, 32)


def readable(name: str, obj: Any, *, allow_none: bool = False) -> memoryview:
    """A flat byte view of any C-contiguous buffer (bytes, bytearray,
    memoryview, numpy); ``str`` is refused so text is never encrypted by
    accident."""
    if obj is None and allow_none:
        return memoryview(b"")
    if isinstance(obj, str) or obj is None:
        raise TypeError(f"{name} must be a bytes-like object, not {type(obj).__name__}")
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError(
            f"{name} must be a bytes-like object, not {type(obj).__name__}"
        ) from None
    if not view.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous buffer")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def writable(name: str, obj: Any, needed: int) -> memoryview:
    """A flat writable byte view with room for ``needed`` bytes."""
    view = readable(name, obj)
    if view.readonly:
        raise TypeError(f"{name} must be a writable buffer (bytearray, memoryview, numpy)")
    if view.nbytes < needed:
        raise ValueError(f"{name} is too small: {view.nbytes} bytes, {needed} needed")
    return view


def key(obj: Any) -> memoryview:
    view = readable("key", obj)
    if view.nbytes not in KEY_SIZES:
        raise ValueError(f"key must be 16, 24 or 32 bytes long, got {view.nbytes}")
    return view


def exact(name: str, obj: Any, size: int) -> memoryview:
    view = readable(name, obj)
    if view.nbytes != size:
        raise ValueError(f"{name} must be {size} bytes long, got {view.nbytes}")
    return view
