"""Fuzz target that checks the harness, not sealio: each input names the
outcome it must produce, so ``tests/test_fuzz.py`` can show that an
undocumented exception, a hang and an allocation above the bound each
fail a run, and that a documented exception does not.
"""

from __future__ import annotations

import time

import atheris

with atheris.instrument_imports(include=["sealio"]):
    from sealio.errors import FormatError, SealioError

import _harness

_hold: list[bytes] = []


def one_input(data: bytes) -> None:
    with _harness.allowed(SealioError):
        if data.startswith(b"documented"):
            raise FormatError("a documented failure is not a finding")
        if data.startswith(b"undocumented"):
            raise AttributeError("an escaping exception is a finding")
        if data.startswith(b"hang"):
            while True:
                time.sleep(0.01)
        if data.startswith(b"allocate"):
            _hold.append(b"\x01" * (512 << 20))  # touched pages: RSS far above the 300 MB bound
            time.sleep(3)  # libFuzzer samples RSS once a second


if __name__ == "__main__":
    _harness.main(one_input)
