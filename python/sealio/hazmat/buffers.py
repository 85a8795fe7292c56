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


# ----------------------------------------------------------------- overlap
#
# One rule for every primitive and kernel: an output may start at the same
# address as the input it replaces (exact in place); any other overlap of an
# output with an input (data, AAD, nonce, IV, prefix) or with another output
# is refused with ValueError before anything is written. The native kernels
# would otherwise return wrong ciphertext that still authenticates.

Span = tuple[str, int, int]  # (argument name, address, length)

_ffi: Any = None


def address(view: memoryview) -> int:
    """Start address of a flat view's buffer (no copy). The buffer is
    exported only for the duration of this call."""
    global _ffi
    if _ffi is None:
        import cffi

        _ffi = cffi.FFI()
    p = _ffi.from_buffer(view)
    try:
        return int(_ffi.cast("uintptr_t", p))
    finally:
        _ffi.release(p)


def span(name: str, view: memoryview | None, length: int | None = None) -> Span:
    """(name, address, length) of a view; an absent or empty view is an
    empty span (it overlaps nothing)."""
    if view is None or view.nbytes == 0:
        return (name, 0, 0)
    return (name, address(view), view.nbytes if length is None else length)


def _meet(a: Span, b: Span) -> bool:
    _, x, m = a
    _, y, n = b
    return m > 0 and n > 0 and x < y + n and y < x + m


def check_overlap(out: Span, same: Span | None = None, others: tuple[Span, ...] = ()) -> None:
    """Refuse ``out`` overlapping ``same`` (the input it may replace exactly
    in place: same start address) or any of ``others``."""
    if same is not None and _meet(out, same) and out[1] != same[1]:
        raise ValueError(f"{out[0]} overlaps {same[0]}: only exact in-place use "
                         f"(the same start address) is allowed")
    for other in others:
        if _meet(out, other):
            raise ValueError(f"{out[0]} overlaps {other[0]}")


def check_jobs_overlap(outs: list[Span], ins: list[Span], ivs: list[Span]) -> None:
    """Many interleaved jobs (multi-buffer CBC): no output may meet another
    job's input, IV or output, nor its own IV; job i's output may start at
    its own input. ``outs[i]``, ``ins[i]`` and ``ivs[i]`` belong to job i.
    Sorting keeps this O(n log n) for thousands of jobs."""
    import bisect

    order = sorted((o[1], o[1] + o[2], i) for i, o in enumerate(outs) if o[2] > 0)
    for (lo, _, i), (_, prev_hi, j) in zip(order[1:], order):
        if lo < prev_hi:
            raise ValueError(f"the outputs of jobs {j} and {i} overlap")
    ends = [hi for _, hi, _ in order]
    for kind, spans in (("input", ins), ("IV", ivs)):
        for i, (_, lo, n) in enumerate(spans):
            if n <= 0:
                continue
            k = bisect.bisect_right(ends, lo)
            while k < len(order) and order[k][0] < lo + n:
                start, _, j = order[k]
                if not (kind == "input" and j == i and start == lo):
                    raise ValueError(f"the output of job {j} overlaps the {kind} of job {i}: "
                                     "only a job's own input may be replaced, exactly in place")
                k += 1
