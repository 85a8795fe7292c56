"""Spark's pushed filters as pyarrow expressions, and row-group pruning.

A filter we accept is not evaluated again by Spark, so each translation
must match Spark's three-valued logic exactly: comparisons with a null
column value are null (the row is dropped, also under ``Not``).
Anything we are unsure of is handed back to Spark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["to_expression", "combine", "row_group_may_match"]

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


def row_group_may_match(filters: Sequence[Any], stats: dict[str, tuple[Any, Any, int, int]],
                        schema: pa.Schema) -> bool:
    """Whether a row group with these column statistics (min, max, null
    count, rows) can hold a row that passes every filter. Conservative:
    only plain comparisons on columns with statistics can rule it out."""
    for f in filters:
        kind = type(f).__name__
        attr = getattr(f, "attribute", None)
        if not isinstance(attr, tuple) or len(attr) != 1 or attr[0] not in stats:
            continue
        lo, hi, nulls, rows = stats[attr[0]]
        if kind == "IsNull" and nulls == 0:
            return False
        if kind == "IsNotNull" and nulls == rows:
            return False
        value = getattr(f, "value", None)
        if lo is None or hi is None or kind not in _COMPARE or not _plain_value(value, schema.field(attr[0]).type):
            continue
        try:
            if kind == "EqualTo" and (value < lo or value > hi):
                return False
            if kind == "GreaterThan" and not hi > value:
                return False
            if kind == "GreaterThanOrEqual" and not hi >= value:
                return False
            if kind == "LessThan" and not lo < value:
                return False
            if kind == "LessThanOrEqual" and not lo <= value:
                return False
        except TypeError:  # statistics of another Python type: cannot tell
            continue
    return True
