"""What every atheris target in tests/fuzz shares.

A target is a script ``fuzz_<name>.py`` that imports sealio under
``atheris.instrument_imports`` (so coverage guides the mutations through
sealio's Python code), defines ``one_input(data)`` and calls :func:`main`.

The contract each target checks: on any input, sealio either succeeds or
raises one of the exceptions its API documents (``SealioError``
subclasses; ``ValueError``/``TypeError`` only where a docstring says so,
and a target passes them explicitly). Anything else escapes ``one_input``,
and atheris reports it as a crash with the input saved; hangs (libFuzzer's
``-timeout``), native crashes and memory above ``-rss_limit_mb`` fail the
same way. ``tests/fuzz/run.py`` sets those bounds.

Imports nothing from sealio at module level: the target must import it
inside its instrumentation block, and Python instruments a module only on
its first import.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def quiet_warnings() -> None:
    """sealio warns about weak BigDL keys, unauthenticated formats and keyring
    modes: expected on fuzz inputs, and never an error here."""
    warnings.simplefilter("ignore")


@contextlib.contextmanager
def allowed(*excs: type[BaseException]) -> Iterator[None]:
    """Swallow exactly the documented exceptions ``excs``; everything else
    propagates to atheris (a finding)."""
    try:
        yield
    except excs:
        pass


def scratch_dir() -> Path:
    """A private directory for targets that need a real file (keyrings are
    read by path); removed at exit by the interpreter's atexit via the
    TemporaryDirectory finaliser."""
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = tempfile.TemporaryDirectory(prefix="sealio-fuzz-")
    return Path(_SCRATCH.name)


_SCRATCH: tempfile.TemporaryDirectory[str] | None = None


def write_private(path: Path, data: bytes) -> Path:
    """``data`` at ``path`` with mode 0600 (what a keyring must have)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    return path


def main(one_input: Callable[[bytes], None]) -> None:
    """Run libFuzzer (through atheris) on ``one_input`` with ``sys.argv``."""
    import atheris

    quiet_warnings()
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


# -- structure-aware JSON: byte mutations rarely keep JSON valid, so targets
# that parse JSON also rebuild a seed document node by node, replacing the
# nodes the fuzzer's bytes choose with hostile values (other types, huge or
# non-finite numbers, very long digit strings, deep nesting).

_NUMBERS = ("0", "-1", "1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1.5", "-0", "4294967296",
            "18446744073709551616", "1e-400")


def _hostile(fdp: object) -> str:
    kind = fdp.ConsumeIntInRange(0, 9)  # type: ignore[attr-defined]
    if kind == 0:
        depth = fdp.ConsumeIntInRange(1, 100_000)  # type: ignore[attr-defined]
        return "[" * depth + "]" * depth
    if kind == 1:
        return "1" * fdp.ConsumeIntInRange(1, 6_000)  # type: ignore[attr-defined]
    if kind == 2:
        return _NUMBERS[fdp.ConsumeIntInRange(0, len(_NUMBERS) - 1)]  # type: ignore[attr-defined]
    if kind == 3:
        return str(fdp.ConsumeInt(8))  # type: ignore[attr-defined]
    if kind == 4:
        import json

        return json.dumps(fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 64)))  # type: ignore[attr-defined]
    return ("[]", "{}", "true", "null", '""', '{"": []}')[kind - 5]


def json_variant(template: object, fdp: object) -> str:
    """JSON text of ``template`` with the nodes ``fdp`` picks replaced by
    hostile values (keys kept, so the loader's structure is reached)."""
    import json

    if fdp.remaining_bytes() and fdp.ConsumeIntInRange(0, 7) == 0:  # type: ignore[attr-defined]
        return _hostile(fdp)
    if isinstance(template, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{json_variant(v, fdp)}" for k, v in template.items()) + "}"
    if isinstance(template, list):
        return "[" + ",".join(json_variant(v, fdp) for v in template) + "]"
    return json.dumps(template)
