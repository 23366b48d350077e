"""TREC files: qrels (``qid 0 docid rel``) and runs (``qid Q0 docid rank score tag``).

The in-memory shapes are the ones ranx, BEIR and pytrec_eval share: ``Run = {qid: {docid: score}}`` and
``Qrels = {qid: {docid: relevance}}``. In a :data:`Run`, the order of each query's documents is the
system's ranking (best first); it decides ties between equal scores (see
:func:`passerelle.eval.metrics.evaluate`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path

from passerelle.eval.errors import CollectionError
from passerelle.indexing.atomic_files import write_text_atomic

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]


def _lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number, whitespace-split fields)`` for each non-blank line."""
    if not path.is_file():
        raise CollectionError("file not found", path=path)
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if fields:
                yield number, fields


def read_qrels(path: str | Path) -> Qrels:
    """Read a TREC qrels file: ``qid iteration docid relevance`` per line, whitespace separated.

    Raises:
        CollectionError: missing file, a line without 4 fields, a non-integer relevance, or the same
            (qid, docid) judged twice with different relevances.
    """
    path = Path(path)
    qrels: Qrels = {}
    for number, fields in _lines(path):
        if len(fields) != 4:
            raise CollectionError(
                f"expected 4 fields 'qid 0 docid relevance', got {len(fields)}", path=path, line=number
            )
        qid, _, docid, rel_text = fields
        try:
            rel = int(rel_text)
        except ValueError:
            raise CollectionError(f"relevance must be an integer, got {rel_text!r}", path=path, line=number) from None
        judged = qrels.setdefault(qid, {})
        if judged.get(docid, rel) != rel:
            raise CollectionError(
                f"query {qid!r} judges document {docid!r} twice ({judged[docid]} and {rel})", path=path, line=number
            )
        judged[docid] = rel
    return qrels


def write_qrels(qrels: Mapping[str, Mapping[str, int]], path: str | Path) -> Path:
    """Write qrels in TREC format (``qid 0 docid relevance``), atomically. Returns the path."""
    lines = []
    for qid, judged in qrels.items():
        for docid, rel in judged.items():
            _check_token(qid, "query id")
            _check_token(docid, "document id")
            lines.append(f"{qid} 0 {docid} {int(rel)}\n")
    return write_text_atomic(path, "".join(lines))


def read_run(path: str | Path) -> Run:
    """Read a TREC run file: ``qid Q0 docid rank score tag`` per line.

    Each query's documents are returned ordered by the file's rank column (stable, so files with a
    constant rank keep their line order).

    Raises:
        CollectionError: missing file, a line without 6 fields, a non-numeric rank or score, or a
            document listed twice for one query.
    """
    path = Path(path)
    rows: dict[str, list[tuple[int, str, float]]] = {}
    seen: set[tuple[str, str]] = set()
    for number, fields in _lines(path):
        if len(fields) != 6:
            raise CollectionError(
                f"expected 6 fields 'qid Q0 docid rank score tag', got {len(fields)}", path=path, line=number
            )
        qid, _, docid, rank_text, score_text, _tag = fields
        try:
            rank = int(rank_text)
            score = float(score_text)
        except ValueError:
            raise CollectionError(
                f"rank must be an integer and score a number, got {rank_text!r} and {score_text!r}",
                path=path,
                line=number,
            ) from None
        if not math.isfinite(score):
            raise CollectionError(f"score must be finite, got {score_text!r}", path=path, line=number)
        if (qid, docid) in seen:
            raise CollectionError(f"query {qid!r} lists document {docid!r} twice", path=path, line=number)
        seen.add((qid, docid))
        rows.setdefault(qid, []).append((rank, docid, score))
    run: Run = {}
    for qid, entries in rows.items():
        entries.sort(key=lambda entry: entry[0])
        run[qid] = {docid: score for _, docid, score in entries}
    return run


def ranked(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """One query's documents best first: score descending, ties kept in mapping order."""
    return sorted(docs.items(), key=lambda item: -item[1])


def write_run(run: Mapping[str, Mapping[str, float]], path: str | Path, tag: str = "passerelle") -> Path:
    """Write a run in TREC format, atomically (temporary file, then rename). Returns the path.

    Documents are written best first (score descending; equal scores keep their mapping order) with
    ranks 1, 2, ... Scores are written with full precision, so reading the file back gives the same
    run.

    Raises:
        CollectionError: an id or the tag is empty or contains whitespace (TREC cannot hold it).
    """
    _check_token(tag, "run tag")
    lines = []
    for qid, docs in run.items():
        _check_token(qid, "query id")
        for rank, (docid, score) in enumerate(ranked(docs), start=1):
            _check_token(docid, "document id")
            lines.append(f"{qid} Q0 {docid} {rank} {float(score)!r} {tag}\n")
    return write_text_atomic(path, "".join(lines))


def _check_token(value: str, what: str) -> None:
    if not value or any(ch.isspace() for ch in value):
        raise CollectionError(
            f"{what} {value!r} is empty or contains whitespace; TREC files cannot hold it (rename it)"
        )
