"""Argument shapes shared by the reader, the writer and the operations:
AAD as bytes, flat byte views of caller buffers, integer offsets."""

from __future__ import annotations

import operator
from typing import Any

__all__ = ["aad_bytes", "flat_view", "int_arg"]


def aad_bytes(aad: bytes | str | None) -> bytes:
    if aad is None:
        return b""
    if isinstance(aad, str):
        return aad.encode("utf-8")
    return bytes(aad)


def flat_view(b: Any, *, writable: bool) -> memoryview:
    mv = memoryview(b)
    if not mv.c_contiguous:
        raise ValueError("buffer must be C-contiguous")
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    if writable and mv.readonly:
        raise TypeError("buffer must be writable")
    return mv


def int_arg(value: Any, name: str) -> int:
    """An integer argument (bool refused), TypeError otherwise."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None
