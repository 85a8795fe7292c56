"""cffi (out-of-line, API mode) build of ``sealio._native`` from ``csrc/``.

The cdef is generated from ``csrc/include/sealio.h`` (:func:`cdef_from_header`)
so the binding cannot drift from the header; in API mode the C compiler then
checks every declaration against the header once more. tests/test_packaging.py
checks that the built binding exposes everything the header declares.
"""

from __future__ import annotations

import os
import pathlib
import re

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
HEADER = HERE / "include" / "sealio.h"

_INT_LITERAL = re.compile(r"\(?\s*-?(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*\s*\)?")
_DEFINE = re.compile(r"#\s*define\s+(\w+)(\([^)]*\))?\s*(.*)")


def cdef_from_header(text: str) -> str:
    """The cdef cffi can parse, from the text of sealio.h.

    Comments and ``#include`` lines go; ``#if``/``#ifdef`` blocks keep their
    first branch except those on ``__cplusplus`` (the ``extern "C"``
    wrapper); ``#define NAME <integer>`` stays as it is, another
    object-like macro with a value becomes ``#define NAME ...`` (its value
    then comes from the compiler), and an empty or ``__attribute__`` macro
    (``SEALIO_WUR``) is removed from the declarations it annotates."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    out: list[str] = []
    annotations: set[str] = set()
    # One entry per open conditional: [is the current branch kept, is it on __cplusplus].
    stack: list[list[bool]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            words = line[1:].split(None, 1)
            directive = words[0] if words else ""
            if directive in ("if", "ifdef", "ifndef"):
                cpp = "__cplusplus" in line
                stack.append([directive == "ifndef" if cpp else True, cpp])
            elif directive in ("elif", "else"):
                stack[-1][0] = not stack[-1][0] if stack[-1][1] else False
            elif directive == "endif":
                stack.pop()
            elif directive == "define" and all(k for k, _ in stack):
                m = _DEFINE.match(line)
                if m is None:
                    raise ValueError(f"unparsable macro in sealio.h: {line}")
                name, params, value = m.groups()
                if params is not None:
                    raise ValueError(f"function-like macro {name} in sealio.h: cffi cannot bind it")
                if not value or "__attribute__" in value:
                    annotations.add(name)  # SEALIO_WUR, the include guard
                elif _INT_LITERAL.fullmatch(value):
                    out.append(f"#define {name} {value.strip('() ')}")
                else:
                    out.append(f"#define {name} ...")
            elif directive not in ("include", "define", "undef", "pragma", "error"):
                raise ValueError(f"unexpected directive in sealio.h: {line}")
            continue
        if all(k for k, _ in stack) and line:
            out.append(raw.rstrip())
    body = "\n".join(out)
    for name in annotations:
        body = re.sub(rf"\s*\b{name}\b", "", body)
    return body + "\n"


CDEF = cdef_from_header(HEADER.read_text())

SOURCES = sorted(str(p.relative_to(HERE.parent)) for p in HERE.glob("*.c"))


def _flags() -> tuple[list[str], list[str]]:
    """Compiler and linker flags. No ``-m`` ISA flags, on purpose: each x86
    kernel selects its instruction set per file or function (``#pragma GCC
    target`` / ``target`` attributes), so the portable code (dispatch, CPU
    probe, threads) stays runnable on any CPU of the target, and non-x86
    targets compile only the portable parts (``SEALIO_X86`` in internal.h).
    ``SEALIO_PORTABLE=1`` forces that portable build on x86 too, which is
    how the non-x86 path is tested here (tests/test_packaging.py)."""
    cflags = ["-O3", "-std=gnu11", "-fvisibility=hidden", "-pthread"]
    ldflags = ["-pthread"]
    if os.environ.get("SEALIO_PORTABLE", "") not in ("", "0"):
        cflags.append("-DSEALIO_NO_X86")
    if os.environ.get("SEALIO_SANITIZE"):
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
               "-fno-sanitize-recover=undefined", "-O1", "-g"]
        cflags += san
        ldflags += san
    return cflags, ldflags


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
_cflags, _ldflags = _flags()
ffibuilder.set_source(
    "sealio._native",
    '#include "sealio.h"',
    sources=SOURCES,
    include_dirs=[str(HERE / "include"), str(HERE)],
    extra_compile_args=_cflags,
    extra_link_args=_ldflags,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
