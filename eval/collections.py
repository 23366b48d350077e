"""Evaluation collections: queries + qrels, read from the layouts Passerelle meets.

- The shared layout (``/work/shared/data/*``): ``queries.<split>.tsv`` (``qid<TAB>text``),
  ``qrels.<split>.tsv`` (TREC), and optional query views in other languages
  ``queries.<split>.<lang>.tsv`` (the same questions, e.g. in the document language).
- The BEIR layout: ``queries.jsonl`` (``{"_id", "text"}``) and ``qrels/<split>.tsv`` with the header
  ``query-id corpus-id score``.
- CLIRudit-style Parquet/JSONL tables: see :mod:`passerelle.eval.tables` (re-exported here).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from passerelle.eval.errors import CollectionError
from passerelle.eval.tables import FieldMap, read_paired_queries, read_qrels_table, read_records, record_id, record_text
from passerelle.eval.trec import Qrels, read_qrels, read_run, write_run

__all__ = [
    "Collection",
    "FieldMap",
    "load_collection",
    "read_beir_qrels",
    "read_paired_queries",
    "read_qrels",
    "read_qrels_table",
    "read_queries",
    "read_records",
    "read_run",
    "write_run",
]

logger = logging.getLogger(__name__)

_ID_KEYS = ("_id", "id", "qid")


@dataclass(frozen=True)
class Collection:
    """Queries and relevance judgments of one split.

    Attributes:
        name: collection name (the folder name by default).
        queries: qid -> query text (the main view, e.g. English questions).
        qrels: qid -> docid -> relevance.
        query_views: language -> qid -> the same query in that language (may be empty).
        split: the split read (``dev``, ``test``...).
    """

    name: str
    queries: dict[str, str]
    qrels: Qrels
    query_views: dict[str, dict[str, str]] = field(default_factory=dict)
    split: str = "dev"

    def view(self, lang: str | None) -> dict[str, str]:
        """The queries in view ``lang`` (``None``: the main queries).

        Raises:
            CollectionError: the collection has no such view.
        """
        if lang is None:
            return self.queries
        if lang not in self.query_views:
            known = ", ".join(sorted(self.query_views)) or "none"
            raise CollectionError(f"collection {self.name!r} has no query view {lang!r} (views: {known})")
        return self.query_views[lang]

    def with_view(self, lang: str | None) -> Collection:
        """This split with its queries in view ``lang``, judged only on the queries that view has.

        A view may translate only some queries; scoring the others as unanswered would average real
        scores with zeros. ``None`` returns the collection itself.

        Raises:
            CollectionError: no such view, or the view has no judged query.
        """
        if lang is None:
            return self
        queries = self.view(lang)
        qrels = {qid: judged for qid, judged in self.qrels.items() if qid in queries}
        if not qrels:
            raise CollectionError(f"query view {lang!r} of {self.name!r} has no judged query")
        return Collection(name=self.name, queries=queries, qrels=qrels, query_views={}, split=self.split)


def read_queries(path: str | Path, text_field: str = "text") -> dict[str, str]:
    """Read queries from ``.tsv`` (``qid<TAB>text``), or ``.jsonl`` / ``.parquet`` records with an id
    (``_id``, ``id`` or ``qid``) and ``text_field`` (e.g. CLIRudit's ``queries`` table: ``qid``, ``query``).

    Raises:
        CollectionError: missing file, unknown extension, a malformed line, empty text, duplicate qid.
    """
    path = Path(path)
    if not path.is_file():
        raise CollectionError("file not found", path=path)
    queries: dict[str, str] = {}
    if path.suffix == ".tsv":
        rows = _tsv_queries(path)
    elif path.suffix in (".jsonl", ".parquet"):
        rows = (
            (n, record_id(rec, _ID_KEYS, path, n), record_text(rec, text_field, path, n))
            for n, rec in read_records(path)
        )
    else:
        raise CollectionError("queries must be a .tsv, .jsonl or .parquet file", path=path)
    for number, qid, text in rows:
        if qid in queries:
            raise CollectionError(f"query id {qid!r} appears twice", path=path, line=number)
        queries[qid] = text
    return queries


def _tsv_queries(path: Path) -> Iterator[tuple[int, str, str]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            qid, tab, text = line.partition("\t")
            if not tab or not qid.strip() or not text.strip():
                raise CollectionError("expected 'qid<TAB>text' with a non-empty id and text", path=path, line=number)
            yield number, qid.strip(), text.strip()


def read_beir_qrels(path: str | Path) -> Qrels:
    """Read BEIR qrels: a TSV with the header ``query-id corpus-id score``, then one judgment a line.

    Raises:
        CollectionError: missing file or header, a line without 3 fields, a non-integer score.
    """
    path = Path(path)
    if not path.is_file():
        raise CollectionError("file not found", path=path)
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().split()
        if header != ["query-id", "corpus-id", "score"]:
            raise CollectionError(f"expected the header 'query-id corpus-id score', got {header}", path=path, line=1)
        for number, line in enumerate(handle, start=2):
            fields = line.split("\t") if "\t" in line else line.split()
            fields = [f.strip() for f in fields]
            if not any(fields):
                continue
            if len(fields) != 3:
                raise CollectionError(
                    f"expected 3 fields 'query-id corpus-id score', got {len(fields)}", path=path, line=number
                )
            try:
                qrels.setdefault(fields[0], {})[fields[1]] = int(float(fields[2]))
            except ValueError:
                raise CollectionError(f"score must be a number, got {fields[2]!r}", path=path, line=number) from None
    return qrels


def load_collection(directory: str | Path, split: str = "dev", name: str | None = None) -> Collection:
    """Load one split of a collection folder (shared layout or BEIR layout, detected).

    Every judged query must have a text; queries without judgments are kept (and logged), and are
    excluded by the metrics.

    Raises:
        CollectionError: no known layout in ``directory``, malformed files, judged queries without text.
    """
    directory = Path(directory)
    name = name or directory.name
    views: dict[str, dict[str, str]] = {}
    if (directory / f"qrels.{split}.tsv").is_file():
        qrels = read_qrels(directory / f"qrels.{split}.tsv")
        main = next(
            (
                directory / f"queries.{split}.{ext}"
                for ext in ("tsv", "jsonl")
                if (directory / f"queries.{split}.{ext}").is_file()
            ),
            None,
        )
        if main is None:
            raise CollectionError(f"no queries.{split}.tsv or queries.{split}.jsonl beside the qrels", path=directory)
        queries = read_queries(main)
        pattern = re.compile(rf"queries\.{re.escape(split)}\.([A-Za-z]{{2,3}}(?:[-_][A-Za-z]+)?)\.tsv")
        for candidate in sorted(directory.glob(f"queries.{split}.*.tsv")):
            match = pattern.fullmatch(candidate.name)
            if match:
                views[match.group(1)] = read_queries(candidate)
    elif (directory / "queries.jsonl").is_file() and (directory / "qrels" / f"{split}.tsv").is_file():
        qrels = read_beir_qrels(directory / "qrels" / f"{split}.tsv")
        queries = {qid: text for qid, text in read_queries(directory / "queries.jsonl").items() if qid in qrels}
    else:
        raise CollectionError(
            f"no collection for split {split!r}: expected qrels.{split}.tsv + "
            f"queries.{split}.tsv, or BEIR queries.jsonl + qrels/{split}.tsv",
            path=directory,
        )
    missing = [qid for qid in qrels if qid not in queries]
    if missing:
        raise CollectionError(f"{len(missing)} judged queries have no text (first: {missing[:3]})", path=directory)
    unjudged = len(queries) - sum(1 for qid in queries if qid in qrels)
    if unjudged:
        logger.warning("%s: %d queries have no judgments and will not be scored", directory, unjudged)
    return Collection(name=name, queries=queries, qrels=qrels, query_views=views, split=split)
