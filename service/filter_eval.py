"""A filter against one index: checked against its fields (:func:`bind`), then evaluated once per query into
the exact set of allowed documents (:func:`allowed_rows`), which both retrievers search inside.

Evaluation is vectorized over the index's :class:`~passerelle.indexing.filter_table.FilterTable`: a
condition is one pass over a numpy column, ``and``/``or``/``not`` are boolean operations on masks.
A document without a value for a field matches no condition on it except ``exists: false`` (and ``not``
of one), as in Elasticsearch.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from threading import Lock
from typing import Any

import numpy as np

from passerelle.indexing.filter_table import FilterTable
from passerelle.indexing.metadata import MetaField, MetaValueError, coerce, day_number
from passerelle.indexing.sparse.keys import SparseFilter
from passerelle.service.errors import FilterError
from passerelle.service.filters import RANGE_OPS, And, Condition, Filter, Not, Or

_JSON_TYPE = {"int": "an integer", "float": "a number", "keyword": "a string", "date": "a date string YYYY-MM-DD"}


def describe_fields(fields: Mapping[str, MetaField]) -> str:
    """``lang (keyword), year (int)``: what an index can be filtered on."""
    return ", ".join(f"{name} ({field.type}{'[]' if field.multi else ''})" for name, field in sorted(fields.items()))


def bind(node: Filter, fields: Mapping[str, MetaField], *, lenient: bool = False) -> Filter:
    """``node`` with each condition checked against ``fields`` and its values in the column's space (dates
    as day numbers). Strict (the API): values must have the field's JSON type. ``lenient`` (the command
    line): strings are read with the field's type, as corpus values are.

    Raises:
        FilterError: an unknown field, an operator the type does not support, a value of the wrong type.
    """
    if isinstance(node, Condition):
        return _bind_condition(node, fields, lenient)
    if isinstance(node, Not):
        return Not(bind(node.operand, fields, lenient=lenient))
    operands = tuple(bind(operand, fields, lenient=lenient) for operand in node.operands)
    return And(operands) if isinstance(node, And) else Or(operands)


def _bind_condition(node: Condition, fields: Mapping[str, MetaField], lenient: bool) -> Condition:
    field = fields.get(node.field)
    if field is None:
        raise FilterError(
            f"unknown field {node.field!r}; this index can be filtered on {describe_fields(fields)}", path=node.path
        )
    if node.op == "exists":
        return node
    if node.op in RANGE_OPS and not field.ordered:
        raise FilterError(
            f"{node.op} needs an int, float or date field; {field.name!r} is {field.type}", path=node.path
        )
    if node.op == "in":
        values = tuple(_value(field, v, f"{node.path}[{i}]", lenient) for i, v in enumerate(node.value))
        return Condition(node.field, "in", values, node.path)
    return Condition(node.field, node.op, _value(field, node.value, node.path, lenient), node.path)


def _value(field: MetaField, value: Any, path: str, lenient: bool) -> Any:
    """``value`` as the column stores it, or a FilterError saying what the field expects."""
    single = MetaField(field.name, field.type)
    if lenient and isinstance(value, str):
        try:
            typed = coerce(single, value)
        except MetaValueError as exc:
            raise FilterError(f"{field.name!r} is {field.type}: {exc}", path=path) from exc
    else:
        typed = _strict(field, value, path)
    if typed is None:
        raise FilterError(f"{field.name!r} is {field.type}: an empty value matches nothing", path=path)
    return day_number(typed) if field.type == "date" else typed


def _strict(field: MetaField, value: Any, path: str) -> Any:
    if not _json_type_fits(field.type, value):
        expected = _JSON_TYPE.get(field.type, "true or false")
        raise FilterError(f"{field.name!r} is {field.type}: expected {expected}, got {value!r}", path=path)
    try:
        return coerce(MetaField(field.name, field.type), value)
    except MetaValueError as exc:
        raise FilterError(f"{field.name!r} is {field.type}: {exc}", path=path) from exc


def _json_type_fits(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "float":
        return isinstance(value, int | float) and math.isfinite(value)
    return isinstance(value, str)


def evaluate(node: Filter, table: FilterTable) -> np.ndarray:
    """The rows of ``table`` a bound filter matches (deleted rows included: intersect with ``table.live``)."""
    if isinstance(node, Condition):
        column = table.columns[node.field]
        if node.op == "exists":
            present = column.present()
            return present if node.value else ~present
        return column.matches(node.op, node.value)
    if isinstance(node, Not):
        return ~evaluate(node.operand, table)
    masks = [evaluate(operand, table) for operand in node.operands]
    combine = np.logical_and if isinstance(node, And) else np.logical_or
    return combine.reduce(masks) if len(masks) > 1 else masks[0]


@dataclass(frozen=True)
class AllowedRows:
    """The documents one filter allows: a mask over the table's rows (live rows only), how many, and the
    BM25 side of it (keys for Lucene)."""

    mask: np.ndarray
    count: int
    sparse: SparseFilter


def allowed_rows(node: Filter, table: FilterTable) -> AllowedRows:
    """Evaluate a bound filter over ``table``."""
    mask = evaluate(node, table) & table.live
    count = int(mask.sum())
    return AllowedRows(mask=mask, count=count, sparse=table.sparse_filter(mask, count))


class FilterCache:
    """The last ``size`` filters' allowed rows, by bound filter (an index copy never changes, so a repeated
    filter is not evaluated again, and its Lucene clause is reused, which lets Lucene cache it too)."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._entries: OrderedDict[Filter, AllowedRows] = OrderedDict()
        self._lock = Lock()

    def get(self, node: Filter, table: FilterTable) -> AllowedRows:
        """The allowed rows of a bound filter, evaluated at most once while it stays in the cache."""
        with self._lock:
            if node in self._entries:
                self._entries.move_to_end(node)
                return self._entries[node]
        rows = allowed_rows(node, table)
        with self._lock:
            self._entries[node] = rows
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return rows
