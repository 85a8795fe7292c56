"""The documented path of the hazmat API (``from sealio import primitives``):
a re-export of :mod:`sealio.hazmat.primitives`, where the code lives."""

from __future__ import annotations

from sealio.hazmat.primitives import *  # noqa: F403
from sealio.hazmat.primitives import (  # noqa: F401  (module constants some callers read)
    BLOCK,
    CBC_IV_SIZE,
    MAX_THREADS,
    __all__,
)
