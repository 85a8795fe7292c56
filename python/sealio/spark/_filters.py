"""Spark's pushed filters as pyarrow expressions (``pyarrow.dataset`` then
prunes partitions and Parquet row groups with them, and filters rows).

A filter we accept is not evaluated again by Spark, so each translation
must match Spark's three-valued logic exactly: comparisons with a null
column value are null (the row is dropped, also under ``Not``).
Anything we are unsure of is handed back to Spark.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["to_expression", "combine"]

_COMPARE = {
    "EqualTo": "==",
    "GreaterThan": ">",
    "GreaterThanOrEqual": ">=",
    "LessThan": "<",
    "LessThanOrEqual": "<=",
}
_STRING = {"StringStartsWith": "starts_with", "StringEndsWith": "ends_with",
           "StringContains": "match_substring"}
_SCALAR_TYPES = (bool, int, float, str)


def _column(f: Any, schema: pa.Schema) -> str | None:
    attr = getattr(f, "attribute", None)
    if not isinstance(attr, tuple) or len(attr) != 1 or attr[0] not in schema.names:
        return None
    typ = schema.field(attr[0]).type
    if pa.types.is_nested(typ) or pa.types.is_dictionary(typ):
        return None
    return attr[0]


def _plain_value(value: Any, typ: pa.DataType | None = None) -> bool:
    """A literal whose comparison with a column of ``typ`` means the same in
    pyarrow as in Spark. Floating columns are left to Spark (NaN compares
    equal and largest there); timestamps too (time zones)."""
    import datetime
    import decimal

    if value is None or isinstance(value, datetime.datetime):
        return False
    if typ is None:
        return isinstance(value, (*_SCALAR_TYPES, datetime.date, decimal.Decimal))
    if isinstance(value, bool):
        return pa.types.is_boolean(typ)
    if isinstance(value, int):
        return pa.types.is_integer(typ) or pa.types.is_decimal(typ)
    if isinstance(value, str):
        return pa.types.is_string(typ) or pa.types.is_large_string(typ)
    if isinstance(value, datetime.date):
        return pa.types.is_date(typ)
    if isinstance(value, decimal.Decimal):
        return pa.types.is_decimal(typ)
    return False


def to_expression(f: Any, schema: pa.Schema) -> pc.Expression | None:
    """The expression for one Spark filter, or None if it is not supported."""
    kind = type(f).__name__
    if kind == "Not":
        inner = to_expression(f.child, schema)
        return None if inner is None else ~inner
    name = _column(f, schema)
    if name is None:
        return None
    col = pc.field(name)
    if kind == "IsNull":
        return col.is_null()
    if kind == "IsNotNull":
        return col.is_valid()
    value = getattr(f, "value", None)
    typ = schema.field(name).type
    if kind in _COMPARE:
        if not _plain_value(value, typ):
            return None
        op = _COMPARE[kind]
        return {"==": col == value, ">": col > value, ">=": col >= value,
                "<": col < value, "<=": col <= value}[op]
    if kind == "EqualNullSafe":
        if value is None:
            return col.is_null()
        if not _plain_value(value, typ):
            return None
        return col.is_valid() & (col == value)  # never null: Kleene false & null = false
    if kind == "In":
        values = tuple(value or ())
        if not values or not all(_plain_value(v, typ) for v in values):
            return None
        # Spark: null IN (...) is null, and so is NOT (null IN (...)); is_in says false.
        return pc.if_else(col.is_valid(), col.isin(list(values)), pa.scalar(None, pa.bool_()))
    if kind in _STRING:
        if not isinstance(value, str) or not _plain_value(value, typ):
            return None
        return getattr(pc, _STRING[kind])(col, pattern=value)
    return None


def combine(expressions: Iterable[pc.Expression]) -> pc.Expression | None:
    out = None
    for e in expressions:
        out = e if out is None else (out & e)
    return out
