"""Filtered search benchmark: Passerelle's hybrid search with and without a metadata filter, on one index.

The synthetic corpora of the scale benchmark give every document a ``year`` drawn uniformly from
:data:`~passerelle.bench.synthetic.YEARS` (100 values), so a filter's share of the corpus is chosen:
``year >= last - 9`` allows 10% of the documents, ``year == y`` 1%. Each share is timed twice:

- ``same filter``: every query carries the same filter, as a search page with a fixed facet does (the
  searcher evaluates it once and keeps it; Lucene may cache its clause);
- ``varied filter``: each query carries another filter of the same share (a random 10-year window, a
  random year), so nearly every query evaluates its filter afresh.

Every row: in process, the shipped serving settings, one query at a time, default hybrid parameters;
QPS, p50/p99 latency, the median time of each stage the searcher reports, and the share of documents
the filters actually allowed. Every hit of every filtered query is checked against its filter.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from passerelle.bench.synthetic import YEARS
from passerelle.bench.timing import BenchmarkError, Ranking, measure

Condition = dict[str, Any]


@dataclass(frozen=True)
class FilterCase:
    """A row of the benchmark: a name, the share of documents it aims to allow, and the filter of query ``i``."""

    name: str
    share: float | None
    filter_of: Callable[[int], Condition | None]


def filter_cases(seed: int = 0) -> list[FilterCase]:
    """Unfiltered, then 10% and 1% of the documents with the same filter for every query and with a
    different one per query."""
    first, last = YEARS[0], YEARS[-1]
    rng = random.Random(seed)
    windows = [rng.randrange(first, last - 8) for _ in range(10_000)]
    years = [rng.randrange(first, last + 1) for _ in range(10_000)]
    return [
        FilterCase("unfiltered", None, lambda i: None),
        FilterCase("10%, same filter", 0.1, lambda i: {"year": {"gte": last - 9}}),
        FilterCase("10%, varied filter", 0.1, lambda i: {"year": {"gte": windows[i], "lte": windows[i] + 9}}),
        FilterCase("1%, same filter", 0.01, lambda i: {"year": last}),
        FilterCase("1%, varied filter", 0.01, lambda i: {"year": years[i]}),
    ]


def benchmark_filtered(index_dir: Path, queries: Sequence[str], *, k: int = 10, depth: int = 100) -> dict[str, Any]:
    """Time each :func:`filter_cases` row on the index at ``index_dir`` (its documents need the ``year``
    field). Returns a JSON-ready report: one row per case, and the index's size.

    Raises:
        BenchmarkError: no query, an index without a ``year`` field, or a hit outside its filter.
    """
    from passerelle.bench.systems import open_passerelle, passerelle_params, serving_settings, settings_facts

    if not queries:
        raise BenchmarkError("no query for the filtered search benchmark")
    searcher = open_passerelle(Path(index_dir), "shipped")
    try:
        if "year" not in {f.name for f in searcher.index.manifest.declared_fields}:
            raise BenchmarkError(f"{index_dir} has no year field: rebuild it with the scale stage (synthetic years)")
        base = passerelle_params("hybrid", k=k, depth=depth)
        texts = list(queries)
        documents = searcher.index.manifest.doc_count
        rows = [_time_case(searcher, base, texts, case, documents) for case in filter_cases()]
    finally:
        searcher.close()
    return {
        "documents": documents,
        "queries": len(texts),
        "k": k,
        "depth": depth,
        "shipped_settings": settings_facts(serving_settings("shipped")),
        "rows": rows,
    }


def _time_case(searcher: Any, base: Any, texts: list[str], case: FilterCase, documents: int) -> dict[str, Any]:
    """One row: ``case`` over every query, timed, with its stage medians and the share it allowed."""
    from passerelle.service.filters import parse_filter

    stages: dict[str, list[float]] = {}
    allowed: list[int] = []

    def search(token: str) -> Ranking:
        i = int(token)
        condition = case.filter_of(i)
        params = replace(base, filter=parse_filter(condition) if condition else None)
        result = searcher.search(texts[i % len(texts)], params)
        for stage, ms in result.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
        if result.filter_matches is not None:
            allowed.append(result.filter_matches)
            _check_hits(result.hits, condition)
        return [(hit.doc_id, hit.score) for hit in result.hits]

    stats, _ = measure(case.name, search, [str(i) for i in range(len(texts))], concurrency=1, warmup=5)
    return {
        **stats.to_dict(),
        "target_share": case.share,
        "allowed_share": round(float(np.mean(allowed)) / documents, 4) if allowed else None,
        "stages_p50_ms": {stage: round(float(np.median(v)), 3) for stage, v in stages.items()},
    }


def _check_hits(hits: Sequence[Any], condition: Condition | None) -> None:
    """Every hit's year satisfies ``condition`` (a wrong filter would make fast numbers meaningless)."""
    if condition is None:
        return
    wanted = condition["year"]
    low, high = (
        (wanted, wanted) if isinstance(wanted, int) else (wanted.get("gte", YEARS[0]), wanted.get("lte", YEARS[-1]))
    )
    for hit in hits:
        year = hit.metadata.get("year")
        if not isinstance(year, int) or not low <= year <= high:
            raise BenchmarkError(f"hit {hit.doc_id} (year {year}) is outside the filter {condition}")
