"""Filtered search is exact: for random filters on a real index, each retriever's hits are the top of a
brute-force scan of the documents the filter allows (computed here by a plain-Python evaluator of the
filter on the corpus records); pages concatenate to the unpaged list."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import SAMPLE_DIR, read_tsv
from support.filtering import matches, random_filter

from passerelle.service.filters import parse_filter
from passerelle.service.searcher import Searcher, SearchParams

pytestmark = pytest.mark.slow

QUERIES = list(read_tsv(SAMPLE_DIR / "queries.dev.tsv").values())
K = 10
FILTERS = [random_filter(random.Random(seed)) for seed in range(40)]


@pytest.fixture(scope="module")
def searcher(filter_index: Path) -> Iterator[Searcher]:
    opened = Searcher.open(filter_index)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def records(filter_corpus: tuple[Path, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {record["id"]: record for record in filter_corpus[1]}


def assert_same_ranking(got: list[tuple[str, float]], want: list[tuple[str, float]], tol: float) -> None:
    """Same scores rank by rank, and the same documents in the same order (within a group of equal scores,
    any order a float rounding may give)."""
    assert len(got) == len(want), (got, want)
    assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=tol)
    groups: dict[int, tuple[set[str], set[str]]] = {}
    group = 0
    for i, ((got_id, score), (want_id, _)) in enumerate(zip(got, want, strict=True)):
        if i and abs(score - got[i - 1][1]) > tol:
            group += 1
        left, right = groups.setdefault(group, (set(), set()))
        left.add(got_id)
        right.add(want_id)
    for left, right in groups.values():
        assert left == right


def brute_dense(searcher: Searcher, query: str, allowed: set[str], k: int) -> list[tuple[str, float]]:
    dense = searcher.index.dense
    assert dense is not None and searcher.index.encoder is not None
    vectors = dense.index.reconstruct_n(0, dense.index.ntotal)
    scores = vectors @ searcher.index.encoder.encode_queries([query])[0]
    rows = [(doc_id, float(scores[row])) for row, doc_id in enumerate(dense.row_ids) if doc_id in allowed]
    return sorted(rows, key=lambda hit: (-hit[1], hit[0]))[:k]


def brute_sparse(searcher: Searcher, query: str, allowed: set[str], k: int) -> list[tuple[str, float]]:
    view = searcher.index.sparse["en"]
    every = view.search(query, view.num_docs)  # BM25 of every document the query matches
    return [(doc_id, score) for doc_id, score in every if doc_id in allowed][:k]


@pytest.mark.parametrize("number", range(len(FILTERS)))
def test_dense_and_bm25_hits_equal_a_brute_force_scan_of_the_allowed_documents(
    searcher: Searcher, records: dict[str, dict[str, Any]], number: int
) -> None:
    node = FILTERS[number]
    allowed = {doc_id for doc_id, record in records.items() if matches(record, node)}
    query = QUERIES[number % len(QUERIES)]
    params = SearchParams(k=K, depth=3 * K, filter=parse_filter(node), query_lang="en")
    dense = searcher.search(query, dataclasses.replace(params, mode="dense"))
    sparse = searcher.search(query, dataclasses.replace(params, mode="sparse"))
    assert dense.filter_matches == sparse.filter_matches == len(allowed)
    assert_same_ranking([(h.doc_id, h.score) for h in dense.hits], brute_dense(searcher, query, allowed, K), 1e-5)
    assert_same_ranking([(h.doc_id, h.score) for h in sparse.hits], brute_sparse(searcher, query, allowed, K), 1e-3)


@pytest.mark.parametrize("number", range(0, len(FILTERS), 4))
def test_hybrid_hits_are_all_allowed(searcher: Searcher, records: dict[str, dict[str, Any]], number: int) -> None:
    node = FILTERS[number]
    result = searcher.search(QUERIES[number % len(QUERIES)], SearchParams(k=20, filter=parse_filter(node)))
    assert result.hits or not any(matches(r, node) for r in records.values())
    assert all(matches(records[hit.doc_id], node) for hit in result.hits)


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
@pytest.mark.parametrize("node", [None, {"year": {"gte": 2010}}, {"or": [{"topic": "food"}, {"tags": "a"}]}])
def test_pages_concatenate_to_the_unpaged_list(searcher: Searcher, mode: str, node: dict[str, Any] | None) -> None:
    query = QUERIES[3]
    base = SearchParams(mode=mode, filter=parse_filter(node) if node else None)  # type: ignore[arg-type]
    whole = searcher.search(query, dataclasses.replace(base, k=28))
    pages = [searcher.search(query, dataclasses.replace(base, k=7, offset=offset)) for offset in (0, 7, 14, 21)]
    assert [(h.doc_id, h.score) for page in pages for h in page.hits] == [(h.doc_id, h.score) for h in whole.hits]
    assert [page.offset for page in pages] == [0, 7, 14, 21]
    assert all(page.has_more for page in pages[:3]) and len(whole.hits) == 28
    ordering = [(-h.score, h.doc_id) for h in whole.hits]
    assert ordering == sorted(ordering)  # score desc, then doc id asc


def test_has_more_is_false_after_the_last_hit(searcher: Searcher) -> None:
    node = parse_filter({"and": [{"topic": "food"}, {"year": {"gte": 2020}}, {"tags": "a"}]})
    first = searcher.search(QUERIES[0], SearchParams(mode="dense", k=100, filter=node))
    assert 0 < len(first.hits) == first.filter_matches < 100 and not first.has_more
    last = searcher.search(QUERIES[0], SearchParams(mode="dense", k=1, offset=len(first.hits) - 1, filter=node))
    assert [h.doc_id for h in last.hits] == [first.hits[-1].doc_id] and not last.has_more


def test_doc_langs_is_a_filter_on_lang(searcher: Searcher) -> None:
    query = QUERIES[5]
    by_langs = searcher.search(query, SearchParams(k=15, doc_langs=frozenset({"de", "es"})))
    by_filter = searcher.search(query, SearchParams(k=15, filter=parse_filter({"lang": ["de", "es"]})))
    assert [(h.doc_id, h.score) for h in by_langs.hits] == [(h.doc_id, h.score) for h in by_filter.hits]
    assert {h.lang for h in by_langs.hits} <= {"de", "es"} and by_langs.hits


def test_a_filter_allowing_nothing_finds_nothing(searcher: Searcher) -> None:
    result = searcher.search(QUERIES[0], SearchParams(filter=parse_filter({"year": {"gt": 3000}})))
    assert result.hits == [] and result.filter_matches == 0 and not result.has_more


def test_repeated_filters_are_evaluated_once(searcher: Searcher) -> None:
    node = parse_filter({"topic": "rail", "year": {"lt": 2012}})
    first, again = searcher.allowed(SearchParams(filter=node)), searcher.allowed(SearchParams(filter=node))
    assert first is again and first is not None
    assert int(np.count_nonzero(first.mask)) == first.count
