"""The names of BigDL PPML's file formats, in a module of their own so the
CLI's parser can offer them without loading the formats themselves."""

from __future__ import annotations

__all__ = ["FORMATS"]

FORMATS = ("common", "native", "legacy-2.1", "legacy-2.2")
