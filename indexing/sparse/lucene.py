"""Lucene BM25 indexes (one per language view) through Anserini, driven directly over pyjnius."""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from passerelle.indexing.sparse import jvm
from passerelle.indexing.sparse.analyzers import STANDARD, indexer_language_args

logger = logging.getLogger(__name__)

DEFAULT_K1 = 0.9
DEFAULT_B = 0.4
# pyjnius is not safe when threads call one method on *different* Java objects of one class at once (the
# method is bound to its receiver on a shared object): concurrent `analyze(...).toArray()` calls raised
# IncompatibleClassChangeError / NullPointerException under load. Calls on objects made per call take this
# lock; calls on the one shared searcher or reader do not need it.
_FRESH_OBJECT_CALLS = threading.Lock()


class LuceneWriter:
    """Adds and deletes documents in one Lucene index (``id`` + ``contents`` fields, Anserini layout)."""

    def __init__(self, path: Path, analyzer: str, *, append: bool = False, threads: int = 1) -> None:
        self.path = Path(path)
        self.analyzer = analyzer
        args = ["-index", str(self.path), "-collection", "JsonCollection", "-input", str(self.path),
                "-threads", str(threads), *indexer_language_args(analyzer)]
        if append:
            args.append("-append")
        self._indexer: Any = jvm.autoclass("io.anserini.index.SimpleIndexer")(args)
        self.added = 0

    def add(self, docs: Iterable[tuple[str, str]]) -> None:
        """Index ``(doc_id, text)`` pairs."""
        raw = [json.dumps({"id": doc_id, "contents": text}, ensure_ascii=False) for doc_id, text in docs]
        if raw:
            self._indexer.addRawDocuments(raw)
            self.added += len(raw)

    def close(self) -> None:
        """Commit and release the index lock."""
        self._indexer.close()


def delete_documents(path: Path, doc_ids: Sequence[str]) -> None:
    """Delete documents by id from the Lucene index at ``path`` (no analyzer needed: ids are exact terms)."""
    if not doc_ids:
        return
    paths = jvm.autoclass("java.nio.file.Paths")
    directory = jvm.autoclass("org.apache.lucene.store.FSDirectory").open(paths.get(str(path)))
    config = jvm.autoclass("org.apache.lucene.index.IndexWriterConfig")()
    config.setOpenMode(jvm.autoclass("org.apache.lucene.index.IndexWriterConfig$OpenMode").APPEND)
    writer = jvm.autoclass("org.apache.lucene.index.IndexWriter")(directory, config)
    term = jvm.autoclass("org.apache.lucene.index.Term")
    term_query = jvm.autoclass("org.apache.lucene.search.TermQuery")
    try:
        for doc_id in doc_ids:  # pyjnius resolves the Query... overload of deleteDocuments, not Term...
            writer.deleteDocuments(term_query(term("id", doc_id)))
        writer.commit()
    finally:
        writer.close()
        directory.close()


class LuceneView:
    """Searches one language view with BM25. Thread-safe; BM25 parameters are per call."""

    def __init__(self, path: Path, analyzer: str) -> None:
        self.path = Path(path)
        self.analyzer = analyzer
        self._searchers: dict[tuple[float, float], Any] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._default = self._searcher(DEFAULT_K1, DEFAULT_B)

    def _searcher(self, k1: float, b: float) -> Any:
        if self._closed:
            raise RuntimeError(f"Lucene view {self.path} is closed")
        key = (round(k1, 4), round(b, 4))
        searcher = self._searchers.get(key)
        if searcher is not None:
            return searcher
        with self._lock:
            searcher = self._searchers.get(key)
            if searcher is None:
                searcher = jvm.autoclass("io.anserini.search.SimpleSearcher")(str(self.path))
                if self.analyzer == STANDARD:
                    english = jvm.autoclass("io.anserini.analysis.DefaultEnglishAnalyzer")
                    searcher.set_analyzer(english.fromArguments("none", True, None))
                else:
                    searcher.set_language(self.analyzer)
                if key != (DEFAULT_K1, DEFAULT_B):
                    searcher.set_bm25(float(k1), float(b))
                self._searchers[key] = searcher
        return searcher

    @property
    def num_docs(self) -> int:
        """Number of live documents in this view."""
        return int(self._searcher(DEFAULT_K1, DEFAULT_B).get_total_num_docs())

    def search(self, query: str, k: int, *, k1: float = DEFAULT_K1, b: float = DEFAULT_B) -> list[tuple[str, float]]:
        """BM25 top-``k`` as ``(doc_id, score)``, best first. An empty or all-stopword query finds nothing."""
        if not query.strip() or k <= 0:
            return []
        hits = self._searcher(k1, b).search(query, int(k))
        return [(str(hit.docid), float(hit.score)) for hit in hits]

    def term_coverage(self, query: str) -> float:
        """Share of the query's evidence this view can match: the idf-weighted fraction of the analyzed
        query terms that occur in the view's vocabulary (0 when none do, 1 when all do).

        ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))`` (Lucene's BM25 idf); a term absent from the view
        counts with ``df = 0``, the largest idf, so a query whose rare words are all missing scores near 0.
        """
        searcher = self._searcher(DEFAULT_K1, DEFAULT_B)
        with _FRESH_OBJECT_CALLS:
            terms = [str(t) for t in jvm.autoclass("io.anserini.analysis.AnalyzerUtils")
                     .analyze(searcher.get_analyzer(), query).toArray()]
        return idf_coverage(searcher.reader, terms)

    def batch_search(self, queries: Sequence[str], k: int, *, threads: int = 2) -> list[list[tuple[str, float]]]:
        """Search many queries in Java threads (one JNI round trip)."""
        if not queries:
            return []
        qids = [str(i) for i in range(len(queries))]
        searcher = self._searcher(DEFAULT_K1, DEFAULT_B)
        results = searcher.batch_search(_java_list(queries), _java_list(qids), int(k), int(threads))
        by_qid = {str(entry.getKey()): entry.getValue() for entry in results.entrySet().toArray()}
        return [[(str(h.docid), float(h.score)) for h in by_qid.get(qid, [])] for qid in qids]

    def close(self) -> None:
        """Release the Lucene readers; searching a closed view raises."""
        with self._lock:
            self._closed = True
            for searcher in self._searchers.values():
                searcher.close()
            self._searchers.clear()


def idf_coverage(reader: Any, terms: Sequence[str]) -> float:
    """``sum(idf of terms present) / sum(idf of all terms)`` over the ``contents`` field of a Lucene
    ``reader``, with Lucene's BM25 idf ``ln(1 + (N - df + 0.5) / (df + 0.5))`` (0 without terms)."""
    if not terms:
        return 0.0
    n_docs = max(int(reader.numDocs()), 1)
    term = jvm.autoclass("org.apache.lucene.index.Term")
    total = present = 0.0
    for text in terms:
        df = int(reader.docFreq(term("contents", text)))
        idf = math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
        total += idf
        if df > 0:
            present += idf
    return present / total if total > 0 else 0.0


def _java_list(items: Sequence[str]) -> Any:
    array_list = jvm.autoclass("java.util.ArrayList")()
    for item in items:
        array_list.add(item)
    return array_list
