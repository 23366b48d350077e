"""Evidence for fusion studies: each query's retriever lists and signals, computed once and cached.

Fitting a fusion profile or running an ablation re-fuses the same ranked lists many times; retrieving
them (encoding, FAISS, Lucene, coverage) is the slow part, so it is done once per (collection, index)
and saved as JSON beside the reports.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from passerelle.eval.collections import Collection
from passerelle.indexing.atomic_files import write_text_atomic

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueryEvidence:
    """One query: its judged documents, the dense list, each sparse view's list and signals."""

    qid: str
    query_lang: str
    relevant: Mapping[str, int]
    dense: Sequence[tuple[str, float]]
    sparse: Mapping[str, Sequence[tuple[str, float]]]
    signals: Mapping[str, Mapping[str, Any]]
    text: str = ""  # the query, so cross-validation can check that folds share no query
    latent: Sequence[tuple[str, float]] = ()  # the latent-terms list, when the index has latent terms


def collect_evidence(
    index_dir: Path,
    collection: Collection,
    *,
    depth: int = 100,
    batch_size: int = 64,
    cache: Path | None = None,
    query_lang: str | None = None,
    progress: bool = True,
) -> list[QueryEvidence]:
    """Retrieve (hybrid, language-aware signals on) every judged query of ``collection`` from ``index_dir``.

    With ``cache``, a previous result is read back instead when it exists.
    """
    if cache is not None and cache.is_file():
        return [_from_json(row) for row in json.loads(cache.read_text(encoding="utf-8"))]
    from passerelle.service.searcher import Searcher, SearchParams

    searcher = Searcher.open(index_dir)
    params = SearchParams(mode="hybrid", fusion="auto", depth=depth, query_lang=query_lang)
    latent_params = replace(params, mode="latent") if searcher.has_latent else None
    qids = [q for q in collection.queries if q in collection.qrels]
    evidence: list[QueryEvidence] = []
    batches = range(0, len(qids), batch_size)
    for start in tqdm(batches, desc=f"evidence {collection.name}", unit="batch", disable=not progress):
        chunk = qids[start : start + batch_size]
        texts = [collection.queries[q] for q in chunk]
        # a hybrid query runs the latent terms only when its profile weighs them: ask for them apart
        latent = searcher.retrieve(texts, latent_params) if latent_params is not None else [None] * len(chunk)
        for qid, got, more in zip(chunk, searcher.retrieve(texts, params), latent, strict=True):
            evidence.append(
                QueryEvidence(
                    qid=qid,
                    query_lang=got.query_lang,
                    relevant=dict(collection.qrels[qid]),
                    dense=list(got.dense or []),
                    sparse={k: list(v) for k, v in got.sparse.items()},
                    signals={
                        k: {"lang": s.lang, "match": s.match, "coverage": s.coverage, "gap": s.gap}
                        for k, s in got.signals.items()
                    },
                    text=collection.queries[qid],
                    latent=list(more.latent or []) if more is not None else [],
                )
            )
    searcher.index.close()
    if cache is not None:
        write_text_atomic(cache, json.dumps([_to_json(e) for e in evidence]))
    return evidence


def _to_json(e: QueryEvidence) -> dict[str, Any]:
    return {
        "qid": e.qid,
        "query_lang": e.query_lang,
        "relevant": dict(e.relevant),
        "dense": list(e.dense),
        "sparse": {k: list(v) for k, v in e.sparse.items()},
        "signals": dict(e.signals),
        "text": e.text,
        "latent": list(e.latent),
    }


def _from_json(row: Mapping[str, Any]) -> QueryEvidence:
    return QueryEvidence(
        qid=row["qid"],
        query_lang=row["query_lang"],
        relevant=row["relevant"],
        dense=[(d, float(s)) for d, s in row["dense"]],
        sparse={k: [(d, float(s)) for d, s in v] for k, v in row["sparse"].items()},
        signals=row["signals"],
        text=row.get("text", ""),
        latent=[(d, float(s)) for d, s in row.get("latent", [])],
    )
