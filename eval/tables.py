"""Query and qrels tables as records (``.jsonl`` lines or ``.parquet`` rows).

Covers CLIRudit-style data: separate ``queries`` (``qid``, ``query``) and ``qrels`` (``qid``, ``docid``,
``rel``) tables, or one table whose rows pair a query with its relevant document(s), possibly several
query variants per document (:func:`read_paired_queries` with a :class:`FieldMap`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from passerelle.eval.errors import CollectionError
from passerelle.eval.trec import Qrels


@dataclass(frozen=True)
class FieldMap:
    """Which fields of a query table hold what.

    Attributes:
        text: the query text.
        docid: the relevant document id (a string, a number, or a list of them).
        qid: the query id; ``None`` to number variants per document (``<docid>#<n>``).
        rel: the relevance; ``None`` (or missing in a row) means 1.
    """

    text: str = "query"
    docid: str = "docid"
    qid: str | None = "qid"
    rel: str | None = None


def read_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line or row number, record)`` from a ``.jsonl`` or ``.parquet`` file.

    Raises:
        CollectionError: missing file, unknown extension, a line that is not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        raise CollectionError("file not found", path=path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for number, record in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield number, record
        return
    if path.suffix != ".jsonl":
        raise CollectionError("expected a .jsonl or .parquet file", path=path)
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CollectionError(f"invalid JSON ({exc.msg})", path=path, line=number) from None
            if not isinstance(record, dict):
                raise CollectionError("expected a JSON object", path=path, line=number)
            yield number, record


def read_paired_queries(path: str | Path, fields: FieldMap = FieldMap()) -> tuple[dict[str, str], Qrels]:
    """Read a table whose rows are ``(query, relevant document)`` pairs (CLIRudit style).

    Several rows may share a qid (several relevant documents; their texts must agree), and several
    query variants may name the same document.

    Returns:
        ``(queries, qrels)``.

    Raises:
        CollectionError: a missing field, empty text, or one qid with two different texts.
    """
    path = Path(path)
    queries: dict[str, str] = {}
    qrels: Qrels = {}
    variants: dict[str, int] = {}
    for number, record in read_records(path):
        text = record_text(record, fields.text, path, number)
        docids = _docids(record, fields.docid, path, number)
        if fields.qid is None:
            variants[docids[0]] = variants.get(docids[0], 0) + 1
            qid = f"{docids[0]}#{variants[docids[0]]}"
        else:
            qid = record_id(record, (fields.qid,), path, number)
        if queries.setdefault(qid, text) != text:
            raise CollectionError(f"query {qid!r} has two different texts", path=path, line=number)
        rel_value = record.get(fields.rel) if fields.rel else None
        rel = 1 if rel_value is None else int(rel_value)
        for docid in docids:
            qrels.setdefault(qid, {})[docid] = rel
    return queries, qrels


def read_qrels_table(path: str | Path, qid: str = "qid", docid: str = "docid", rel: str = "rel") -> Qrels:
    """Read qrels from ``.jsonl`` / ``.parquet`` records (e.g. CLIRudit's ``qrels`` table).

    Raises:
        CollectionError: a record without the id fields or with a non-integer relevance.
    """
    path = Path(path)
    qrels: Qrels = {}
    for number, record in read_records(path):
        query_id = record_id(record, (qid,), path, number)
        doc_id = record_id(record, (docid,), path, number)
        try:
            qrels.setdefault(query_id, {})[doc_id] = int(record.get(rel, 1))
        except (TypeError, ValueError):
            raise CollectionError(
                f"field {rel!r} must be an integer, got {record.get(rel)!r}", path=path, line=number
            ) from None
    return qrels


def record_id(record: dict[str, Any], keys: tuple[str, ...], path: Path, number: int) -> str:
    """The first non-empty of ``keys`` in ``record``, as a string (numbers become their digits)."""
    for key in keys:
        value = record.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    raise CollectionError(f"no id field ({' or '.join(repr(k) for k in keys)})", path=path, line=number)


def record_text(record: dict[str, Any], key: str, path: Path, number: int) -> str:
    """The non-empty string ``record[key]``, stripped."""
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CollectionError(f"field {key!r} must be a non-empty string", path=path, line=number)
    return value.strip()


def _docids(record: dict[str, Any], key: str, path: Path, number: int) -> list[str]:
    value = record.get(key)
    values = value if isinstance(value, list) else [value]
    docids = [str(v).strip() for v in values if v is not None and str(v).strip()]
    if not docids:
        raise CollectionError(f"field {key!r} must name at least one document id", path=path, line=number)
    return docids
