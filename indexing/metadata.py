"""Typed metadata fields: what a build declares (``--meta-fields year:int,journal:keyword``), how a raw
value becomes a typed one, and how the declaration is recorded in the manifest.

A declared field is validated when a record is read (a bad value names the file, line and field),
stored typed in the docstore's ``metadata`` column, and can be filtered on at search time. Types:

- ``int``, ``float``: numbers (a string is parsed, as TSV cells are strings); ranges and equality;
- ``date``: an ISO 8601 calendar date ``YYYY-MM-DD`` (a date or datetime from Parquet works too), stored
  as that string, compared as a day number; ranges and equality;
- ``keyword``: an exact string (an integer becomes its decimal string); equality and ``in``;
- ``bool``: ``true``/``false`` (strings ``true/false/1/0/yes/no`` too); equality;
- ``TYPE[]`` (e.g. ``authors:keyword[]``): several values, from a list (or a JSON array in a string,
  for TSV); a document matches a condition when any of its values does.

A missing or empty value (``null``, ``""``, ``[]``) is stored as absent: no condition on the field
matches it, and ``not`` does. Fields named in ``--metadata-fields`` are kept as they are, for display
only (untyped, not filterable); both end up in the document's ``metadata``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast, get_args

from passerelle.indexing.errors import ConfigError

FieldType = Literal["int", "float", "keyword", "date", "bool"]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)
RESERVED = frozenset({"id", "lang", "and", "or", "not"})  # built in (lang) or taken by the filter syntax
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
EPOCH = dt.date(1970, 1, 1)
T = TypeVar("T")


class MetaValueError(ValueError):
    """A value that does not fit its field's type (the caller adds file, line and field)."""


@dataclass(frozen=True)
class MetaField:
    """One declared field: its name, type, and whether it holds several values."""

    name: str
    type: FieldType
    multi: bool = False

    @property
    def spec(self) -> str:
        """The declaration as written on the command line, e.g. ``authors:keyword[]``."""
        return f"{self.name}:{self.type}{'[]' if self.multi else ''}"

    @property
    def ordered(self) -> bool:
        """Whether ranges (gt, gte, lt, lte) apply to this field."""
        return self.type in ("int", "float", "date")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the manifest's ``meta_fields`` entries)."""
        return {"name": self.name, "type": self.type, "multi": self.multi}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetaField:
        """Inverse of :meth:`to_dict`."""
        return cls(name=str(data["name"]), type=_checked_type(str(data["type"])), multi=bool(data.get("multi", False)))


def parse_meta_fields(spec: str | Iterable[str] | None) -> tuple[MetaField, ...]:
    """``"year:int,journal:keyword,authors:keyword[]"`` (or several such strings) as declared fields.

    Raises:
        ConfigError: an entry without a type, an unknown type, a bad or reserved name, a repeated name.
    """
    if spec is None:
        return ()
    parts = [spec] if isinstance(spec, str) else list(spec)
    fields: list[MetaField] = []
    for entry in (e.strip() for part in parts for e in part.split(",")):
        if not entry:
            continue
        name, sep, kind = (s.strip() for s in entry.partition(":"))
        if not sep or not kind:
            raise ConfigError(
                f"--meta-fields {entry!r}: write NAME:TYPE with TYPE one of {', '.join(FIELD_TYPES)} "
                "(add [] for several values, e.g. authors:keyword[]); fields kept only for display go in "
                "--metadata-fields"
            )
        multi = kind.endswith("[]")
        fields.append(MetaField(checked_name(name), _checked_type(kind.removesuffix("[]")), multi))
    names = [f.name for f in fields]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"--meta-fields names {', '.join(repeated)} more than once")
    return tuple(fields)


def checked_name(name: str) -> str:
    """A field name fit for declaring (letters, digits, ``_ . -``; not a reserved word).

    Raises:
        ConfigError: naming the problem.
    """
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"metadata field name {name!r}: use letters, digits, '_', '.' or '-' (starting with a letter or '_')"
        )
    if name in RESERVED:
        raise ConfigError(f"metadata field name {name!r} is reserved ({', '.join(sorted(RESERVED))})")
    return name


def _checked_type(kind: str) -> FieldType:
    if kind not in FIELD_TYPES:
        raise ConfigError(f"unknown metadata type {kind!r}: use {', '.join(FIELD_TYPES)} (with [] for several values)")
    return cast(FieldType, kind)


def fields_to_dicts(fields: Iterable[MetaField]) -> list[dict[str, Any]]:
    """The manifest's ``meta_fields`` list."""
    return [f.to_dict() for f in fields]


def fields_from_dicts(data: Iterable[Mapping[str, Any]] | None) -> tuple[MetaField, ...]:
    """Declared fields from a manifest's ``meta_fields`` (none for indexes built before them)."""
    return tuple(MetaField.from_dict(entry) for entry in data or ())


def coerce(field: MetaField, value: Any) -> Any:
    """The JSON-ready typed value of ``value`` for ``field``: ``None`` when missing or empty, a list for
    multi-valued fields (missing items dropped), else one value (dates as ``YYYY-MM-DD``).

    Raises:
        MetaValueError: a value that does not fit the type, saying what was expected.
    """
    if field.multi:
        items = _as_list(value)
        typed = [t for t in (_one(field, item) for item in items) if t is not None]
        return typed or None
    if isinstance(value, list | tuple):
        raise MetaValueError(f"expected one {field.type} value, got a list (declare {field.name}:{field.type}[])")
    return _one(field, value)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str) and value.strip().startswith("["):  # a JSON array in a TSV cell
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise MetaValueError(f"a value starting with '[' must be a JSON array: {exc.msg}") from exc
        if isinstance(parsed, list):
            return parsed
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy arrays from Parquet
        listed = value.tolist()
        return listed if isinstance(listed, list) else [listed]
    return [value]


def _one(field: MetaField, value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    parse = _PARSERS[field.type]
    return parse(value)


INT_RANGE = (-(2**63), 2**63 - 1)


def _int(value: Any) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        number = _from_text(value, int)
    if number is None:
        raise MetaValueError(f"expected an integer, got {value!r}")
    if not INT_RANGE[0] <= number <= INT_RANGE[1]:
        raise MetaValueError(f"{number} is outside the 64-bit integer range")
    return number


def _float(value: Any) -> float:
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    number = _from_text(value, float) if number is None else number
    if number is None or not math.isfinite(number):
        raise MetaValueError(f"expected a finite number, got {value!r}")
    return number


def _from_text(value: Any, parse: Callable[[str], T]) -> T | None:
    """``parse(value)`` for a string that reads as one (``None`` otherwise)."""
    if not isinstance(value, str):
        return None
    try:
        return parse(value.strip())
    except ValueError:
        return None


def _keyword(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise MetaValueError(f"expected a string, got {type(value).__name__} {value!r}")


def _date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        try:  # a date, or a datetime whose date is taken ("2015-03-01T12:00:00Z")
            parsed = dt.datetime.fromisoformat(text).date() if len(text) > 10 else dt.date.fromisoformat(text)
            return parsed.isoformat()
        except ValueError:
            pass
    raise MetaValueError(f"expected an ISO 8601 date YYYY-MM-DD, got {value!r}")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise MetaValueError(f"expected true or false, got {value!r}")


_PARSERS = {"int": _int, "float": _float, "keyword": _keyword, "date": _date, "bool": _bool}


def day_number(iso: str) -> int:
    """Days since 1970-01-01 of an ISO date string (how dates are compared)."""
    return (dt.date.fromisoformat(iso) - EPOCH).days
