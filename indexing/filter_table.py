"""The table filters are evaluated on: one row per document, aligned with the dense rows, with typed columns.

Rows follow the FAISS rows when the index has a dense side (global rows over every shard of a sharded
index; a deleted document's row stays, not live), else the docstore's order. Each row has the document's
id, its Lucene filter key (:mod:`passerelle.indexing.sparse.keys`), whether it is live, and one value per
column: ``lang`` (the document's language, a keyword) and each declared metadata field. A filter becomes
one boolean mask over the rows; the dense side searches the rows it allows, BM25 the keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from passerelle.indexing.columns import Column, build_column
from passerelle.indexing.metadata import MetaField
from passerelle.indexing.sparse.keys import SparseFilter, doc_keys

logger = logging.getLogger(__name__)

LANG = MetaField("lang", "keyword")
"""The built-in field every index has: the document's original language."""


class MetadataRows(Protocol):
    """A docstore (plain or sharded) that lists ``(id, lang, metadata)`` for every document."""

    def metadata_rows(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every document's id, language and metadata."""
        ...


class DenseRows(Protocol):
    """The part of a dense store the table aligns with: row -> doc id, and doc id -> row."""

    @property
    def row_ids(self) -> Sequence[str]:
        """Row -> doc id (empty for deleted rows)."""
        ...

    @property
    def row_index(self) -> Mapping[str, int]:
        """Doc id -> row of its live vector."""
        ...


@dataclass(frozen=True)
class FilterTable:
    """Rows, their ids, keys and liveness, and one column per filterable field (see the module docstring)."""

    ids: Sequence[str]
    row_of: Mapping[str, int]
    keys: np.ndarray
    live: np.ndarray
    fields: Mapping[str, MetaField]
    columns: Mapping[str, Column]
    keys_unique: bool = True

    @property
    def size(self) -> int:
        """Number of rows (deleted ones included)."""
        return len(self.ids)

    def allows(self, mask: np.ndarray) -> Callable[[str], bool]:
        """A membership test by document id for the rows ``mask`` allows."""

        def test(doc_id: str) -> bool:
            row = self.row_of.get(doc_id)
            return row is not None and bool(mask[row])

        return test

    def sparse_filter(self, mask: np.ndarray, allowed: int) -> SparseFilter:
        """The BM25 side of ``mask`` (``allowed`` of its live rows are true): the keys of the allowed rows, or
        of the excluded live rows when they are fewer (and keys are unique, so excluding one excludes no
        other document)."""
        excluded = int(self.live.sum()) - allowed
        if self.keys_unique and excluded < allowed:
            return SparseFilter(self.keys[self.live & ~mask], exclude=True, allows=self.allows(mask))
        return SparseFilter(self.keys[mask], exclude=False, allows=self.allows(mask))


def build_table(docstore: MetadataRows, dense: DenseRows | None, fields: Iterable[MetaField]) -> FilterTable:
    """The filter table of an index: its docstore's metadata, in the dense rows' order when there are some."""
    declared = {f.name: f for f in (LANG, *fields)}
    stored = docstore.metadata_rows()
    if dense is not None:
        ids: Sequence[str] = list(dense.row_ids)
        row_of: Mapping[str, int] = dense.row_index
    else:
        rows = list(stored)
        ids = [doc_id for doc_id, _, _ in rows]
        row_of = {doc_id: row for row, doc_id in enumerate(ids)}
        stored = iter(rows)
    values: dict[str, list[Any]] = {name: [None] * len(ids) for name in declared}
    live = np.zeros(len(ids), dtype=bool)
    for doc_id, lang, metadata in stored:
        row = row_of.get(doc_id)
        if row is None:  # stored but never encoded: no dense row to filter (cannot happen in a built index)
            continue
        live[row] = True
        values["lang"][row] = lang
        for name in declared:
            if name != "lang":
                values[name][row] = metadata.get(name)
    keys = doc_keys(ids)
    keys[~live] = 0
    unique = len(np.unique(keys[live])) == int(live.sum())
    if not unique:
        logger.warning("two documents share a Lucene filter key: BM25 filters will not use exclusion")
    columns = {name: build_column(field, values[name]) for name, field in declared.items()}
    return FilterTable(
        ids=ids, row_of=row_of, keys=keys, live=live, fields=declared, columns=columns, keys_unique=unique
    )
