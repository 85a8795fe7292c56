"""Package attributes imported on first use (PEP 562).

A ``sealio`` command pays for every module its packages import eagerly
(``import sealio.cli.files`` runs ``sealio/__init__`` and
``sealio/io/__init__`` first). Each package therefore names its public
attributes and the module defining each, and this module supplies the
``__getattr__`` and ``__dir__`` that import them when first asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["exports"]


def exports(package: str, where: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``where`` maps each
    attribute to the module (absolute name) that defines it. A resolved
    attribute is stored in the package, so the hook runs once per name."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *where})

    return __getattr__, __dir__
