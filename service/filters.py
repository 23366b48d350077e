"""Search filters: a small tree of conditions on metadata fields, read from JSON or from the command line.

JSON form (``POST /v1/search``'s ``filter``), every object's keys combined with AND::

    {"year": {"gte": 2015}, "journal": ["Revue A", "Revue B"]}
    {"or": [{"discipline": "history"}, {"not": {"lang": "fr"}}]}

A field maps to a value (equality), a list (``in``) or an object of operators: ``eq``, ``in`` (a list),
``gt``, ``gte``, ``lt``, ``lte`` (int, float and date fields) and ``exists`` (true or false). ``and``
and ``or`` take a list of filters, ``not`` one filter. Dates are ``YYYY-MM-DD`` strings.

Command-line form (``passerelle search --filter``), each flag one condition, all of them combined with
AND: ``year>=2015``, ``year<2020``, ``journal=Revue A``, ``journal!=Revue A``, ``journal in A,B``,
``journal not in A,B``, ``authors exists``, ``authors missing``; values are read with the field's type.

Parsing checks the shape only; :func:`passerelle.service.filter_eval.bind` then checks fields and value
types against one index. Every error names where it is (``filter.and[1].year``).
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from passerelle.service.errors import FilterError

Op = Literal["eq", "in", "gt", "gte", "lt", "lte", "exists"]
OPS: tuple[str, ...] = get_args(Op)
RANGE_OPS = frozenset({"gt", "gte", "lt", "lte"})
MAX_DEPTH = 16
MAX_CONDITIONS = 256
MAX_IN_VALUES = 10_000
_SCALAR = (str, int, float, bool)


@dataclass(frozen=True)
class Condition:
    """``field op value``: ``value`` is a tuple for ``in`` and a bool for ``exists``. ``path`` says where the
    condition was written (for messages; not part of equality)."""

    field: str
    op: Op
    value: Any
    path: str = dataclasses.field(default="filter", compare=False)


@dataclass(frozen=True)
class Not:
    """Documents the operand does not match (documents without the field included)."""

    operand: Filter


@dataclass(frozen=True)
class And:
    """Documents every operand matches."""

    operands: tuple[Filter, ...]


@dataclass(frozen=True)
class Or:
    """Documents some operand matches."""

    operands: tuple[Filter, ...]


Filter = Condition | Not | And | Or


def all_of(*filters: Filter | None) -> Filter | None:
    """The AND of the given filters (``None`` ones left out; ``None`` when none is left)."""
    kept = [f for f in filters if f is not None]
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else And(tuple(kept))


def conditions(node: Filter) -> list[Condition]:
    """Every condition of a filter tree."""
    if isinstance(node, Condition):
        return [node]
    if isinstance(node, Not):
        return conditions(node.operand)
    return [c for operand in node.operands for c in conditions(operand)]


def parse_filter(data: Any, path: str = "filter") -> Filter:
    """The filter tree of the JSON form (see the module docstring).

    Raises:
        FilterError: a malformed filter, naming where.
    """
    node = _parse(data, path, 0)
    if len(conditions(node)) > MAX_CONDITIONS:
        raise FilterError(f"more than {MAX_CONDITIONS} conditions; simplify the filter", path=path)
    return node


def _parse(data: Any, path: str, depth: int) -> Filter:
    if depth > MAX_DEPTH:
        raise FilterError(f"nested deeper than {MAX_DEPTH} levels", path=path)
    if not isinstance(data, Mapping) or not data:
        raise FilterError('expected a non-empty object, e.g. {"year": {"gte": 2015}}', path=path)
    parts: list[Filter] = []
    for key, value in data.items():
        here = f"{path}.{key}"
        if key in ("and", "or"):
            if not isinstance(value, list) or not value:
                raise FilterError(f"'{key}' takes a non-empty list of filters", path=here)
            operands = tuple(_parse(item, f"{here}[{i}]", depth + 1) for i, item in enumerate(value))
            parts.append(And(operands) if key == "and" else Or(operands))
        elif key == "not":
            parts.append(Not(_parse(value, here, depth + 1)))
        else:
            parts.extend(_field_conditions(str(key), value, here))
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _field_conditions(name: str, value: Any, path: str) -> list[Condition]:
    if isinstance(value, list):
        return [_condition(name, "in", value, path)]
    if not isinstance(value, Mapping):
        return [_condition(name, "eq", value, path)]
    if not value:
        raise FilterError(f"no operator; use one of {', '.join(OPS)}", path=path)
    return [_condition(name, str(op), operand, f"{path}.{op}") for op, operand in value.items()]


def _condition(name: str, op: str, value: Any, path: str) -> Condition:
    if op not in OPS:
        raise FilterError(f"unknown operator {op!r}; use one of {', '.join(OPS)}", path=path)
    if op == "exists":
        if not isinstance(value, bool):
            raise FilterError("'exists' takes true or false", path=path)
        return Condition(name, "exists", value, path)
    if op == "in":
        if not isinstance(value, list) or not value:
            raise FilterError("'in' takes a non-empty list of values", path=path)
        if len(value) > MAX_IN_VALUES:
            raise FilterError(f"'in' takes at most {MAX_IN_VALUES} values", path=path)
        for i, item in enumerate(value):
            _check_scalar(item, f"{path}[{i}]")
        return Condition(name, "in", tuple(value), path)
    _check_scalar(value, path)
    return Condition(name, op, value, path)  # type: ignore[arg-type]  # op checked against OPS above


def _check_scalar(value: Any, path: str) -> None:
    if value is None:
        raise FilterError('null is not a value; {"exists": false} finds documents without the field', path=path)
    if not isinstance(value, _SCALAR):
        raise FilterError(f"expected a string, number or boolean, got {type(value).__name__}", path=path)


_COMPARISON = re.compile(r"^\s*([^\s<>=!]+)\s*(>=|<=|!=|=|>|<)\s*(.*?)\s*$")
_MEMBERSHIP = re.compile(r"^\s*(\S+)\s+(not\s+in|in)\s+(.+?)\s*$", re.IGNORECASE)
_PRESENCE = re.compile(r"^\s*(\S+)\s+(exists|missing)\s*$", re.IGNORECASE)
_TEXT_OPS: dict[str, Op] = {"=": "eq", "!=": "eq", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


def parse_filter_text(expressions: list[str]) -> Filter | None:
    """The AND of command-line conditions (see the module docstring); values stay strings, read with each
    field's type by ``bind(..., lenient=True)``. A JSON object (an argument starting with ``{``) is read
    as the JSON form.

    Raises:
        FilterError: an expression that is none of the forms, naming it.
    """
    import json

    nodes: list[Filter] = []
    for position, text in enumerate(expressions):
        path = f"--filter[{position}]"
        if text.lstrip().startswith("{"):
            try:
                nodes.append(parse_filter(json.loads(text), path))
            except json.JSONDecodeError as exc:
                raise FilterError(f"not valid JSON: {exc.msg} at column {exc.colno}", path=path) from exc
            continue
        nodes.append(_text_condition(text, path))
    return all_of(*nodes)


def _text_condition(text: str, path: str) -> Filter:
    if match := _PRESENCE.match(text):
        name, word = match.groups()
        return Condition(name, "exists", word.lower() == "exists", path)
    if match := _MEMBERSHIP.match(text):
        name, word, values = match.groups()
        items = [v.strip() for v in next(csv.reader([values], skipinitialspace=True)) if v.strip()]
        if not items:
            raise FilterError(f"{text!r}: no value after '{word}'", path=path)
        node: Filter = Condition(name, "in", tuple(items), path)
        return Not(node) if word.lower().startswith("not") else node
    if match := _COMPARISON.match(text):
        name, symbol, value = match.groups()
        if not value:
            raise FilterError(f"{text!r}: no value after {symbol!r}", path=path)
        node = Condition(name, _TEXT_OPS[symbol], _unquote(value), path)
        return Not(node) if symbol == "!=" else node
    raise FilterError(
        f"cannot read {text!r}: write FIELD=VALUE, FIELD!=VALUE, FIELD>=VALUE (or >, <, <=), FIELD in A,B, "
        "FIELD not in A,B, FIELD exists, FIELD missing, or a JSON filter",
        path=path,
    )


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value
