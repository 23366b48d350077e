"""BM25 over several Lucene indexes at once with *global* statistics: one IndexSearcher over a MultiReader.

Searching each shard alone and merging would not reproduce a single index: BM25's idf and average
document length are per-index statistics, so the same document scores differently in a shard. A Lucene
``MultiReader`` presents the shards as one index (document frequencies and field lengths summed over
them) and the searcher scores its leaves with those global statistics, so the scores and the ranking
are those of one index holding every document.

Queries are built and scored exactly as Anserini's ``SimpleSearcher.search`` does (``LuceneView``):
``BagOfWordsQueryGenerator`` on the ``contents`` field with the view's analyzer, ``BM25Similarity(k1, b)``,
top-k sorted by score then by the ``id`` field, then ``ScoreTiesAdjusterReranker`` (scores rounded to
1e-4, ties nudged by 1e-6 in rank order).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from passerelle.indexing.sparse import jvm
from passerelle.indexing.sparse.analyzers import STANDARD
from passerelle.indexing.sparse.lucene import DEFAULT_B, DEFAULT_K1, idf_coverage

logger = logging.getLogger(__name__)

CONTENTS, ID = "contents", "id"
# pyjnius binds a method to its receiver on a shared method object: calls on objects made per call (the
# TopDocs and ScoredDocs of one search) must not run concurrently (see passerelle.indexing.sparse.lucene).
_PER_CALL_OBJECTS = threading.Lock()


def _analyzer(path: Path, analyzer: str) -> Any:
    """The query analyzer ``LuceneView`` gives a SimpleSearcher for ``analyzer`` (made the same way)."""
    searcher = jvm.autoclass("io.anserini.search.SimpleSearcher")(str(path))
    try:
        if analyzer == STANDARD:
            english = jvm.autoclass("io.anserini.analysis.DefaultEnglishAnalyzer")
            searcher.set_analyzer(english.fromArguments("none", True, None))
        else:
            searcher.set_language(analyzer)
        return searcher.get_analyzer()
    finally:
        searcher.close()


class MultiLuceneView:
    """Searches one language view split over several Lucene indexes as if it were one. Thread-safe."""

    def __init__(self, paths: Sequence[Path], analyzer: str) -> None:
        if not paths:
            raise ValueError("MultiLuceneView needs at least one Lucene index")
        self.paths = [Path(p) for p in paths]
        self.analyzer = analyzer
        self._lock = threading.Lock()
        self._closed = False
        self._searchers: dict[tuple[float, float], Any] = {}
        fs_directory = jvm.autoclass("org.apache.lucene.store.FSDirectory")
        directory_reader = jvm.autoclass("org.apache.lucene.index.DirectoryReader")
        java_paths = jvm.autoclass("java.nio.file.Paths")
        readers: list[Any] = []
        try:
            for path in self.paths:
                readers.append(directory_reader.open(fs_directory.open(java_paths.get(str(path)))))
            # closeSubReaders=True: closing the MultiReader closes every shard's reader
            self.reader = jvm.autoclass("org.apache.lucene.index.MultiReader")(readers, True)
        except BaseException:
            for reader in readers:
                reader.close()
            raise
        self._query_analyzer = _analyzer(self.paths[0], analyzer)
        self._generator = jvm.autoclass("io.anserini.search.query.BagOfWordsQueryGenerator")()
        self._reranker = jvm.autoclass("io.anserini.rerank.lib.ScoreTiesAdjusterReranker")()
        sort_field = jvm.autoclass("org.apache.lucene.search.SortField")
        string_val = jvm.autoclass("org.apache.lucene.search.SortField$Type").STRING_VAL
        self._sort = jvm.autoclass("org.apache.lucene.search.Sort")(sort_field.FIELD_SCORE, sort_field(ID, string_val))
        self._scored_docs = jvm.autoclass("io.anserini.search.ScoredDocs")
        self._default = self._searcher(DEFAULT_K1, DEFAULT_B)

    def _searcher(self, k1: float, b: float) -> Any:
        if self._closed:
            raise RuntimeError(f"Lucene view over {self.paths[0].parent} is closed")
        key = (round(k1, 4), round(b, 4))
        searcher = self._searchers.get(key)
        if searcher is None:
            with self._lock:
                searcher = self._searchers.get(key)
                if searcher is None:
                    # IndexSearcher(IndexReader) is IndexSearcher(reader.getContext()); pyjnius picks the
                    # context overload for a MultiReader, so hand it the context itself
                    searcher = jvm.autoclass("org.apache.lucene.search.IndexSearcher")(self.reader.getContext())
                    bm25 = jvm.autoclass("org.apache.lucene.search.similarities.BM25Similarity")
                    searcher.setSimilarity(bm25(float(k1), float(b)))
                    self._searchers[key] = searcher
        return searcher

    @property
    def num_docs(self) -> int:
        """Documents in this view over every shard (``maxDoc``, as ``SimpleSearcher.get_total_num_docs``)."""
        return int(self.reader.maxDoc())

    def search(self, query: str, k: int, *, k1: float = DEFAULT_K1, b: float = DEFAULT_B) -> list[tuple[str, float]]:
        """BM25 top-``k`` as ``(doc_id, score)`` with global statistics, best first; empty query: nothing."""
        if not query.strip() or k <= 0:
            return []
        searcher = self._searcher(k1, b)
        lucene_query = self._generator.buildQuery(CONTENTS, self._query_analyzer, query)
        top = searcher.search(lucene_query, int(k), self._sort, True)
        # only methods of shared objects and fields of the per-call ones: no lock needed (see _PER_CALL_OBJECTS)
        docs = self._reranker.rerank(self._scored_docs.fromTopDocs(top, searcher), None)
        ids, scores = docs.docids or [], docs.scores or []
        return [(str(doc_id), float(score)) for doc_id, score in zip(ids, scores, strict=True)]

    def term_coverage(self, query: str) -> float:
        """Idf-weighted share of the analyzed query terms present in the view (as ``LuceneView``), with
        global document frequencies: ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))``."""
        with _PER_CALL_OBJECTS:
            terms = [str(t) for t in jvm.autoclass("io.anserini.analysis.AnalyzerUtils")
                     .analyze(self._query_analyzer, query).toArray()]
        return idf_coverage(self.reader, terms)

    def batch_search(self, queries: Sequence[str], k: int, *, threads: int = 2) -> list[list[tuple[str, float]]]:
        """Search many queries (one after the other: each search already spans every shard)."""
        return [self.search(query, k) for query in queries]

    def close(self) -> None:
        """Release the readers of every shard; searching a closed view raises."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._searchers.clear()
            self.reader.close()
