"""bm25s (pure-Python BM25 over sparse matrices) as a competitor: index the same view texts, search them.

Tokenization follows bm25s' own recipe: lowercase, ``\\w\\w+`` tokens, the language's stopword list and
its Snowball stemmer (PyStemmer), then ``BM25(method="lucene", k1=0.9, b=0.4)``: Lucene's BM25 with
Passerelle's parameters, on bm25s' numba backend when numba is installed. bm25s and PyStemmer are
development dependencies, imported when used.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
import time
from collections.abc import Sequence
from typing import Any

from passerelle.bench.timing import BenchmarkError, Ranking

# ISO 639-1 -> Snowball algorithm (PyStemmer) for the languages both sides know.
SNOWBALL = {
    "ar": "arabic",
    "da": "danish",
    "de": "german",
    "en": "english",
    "es": "spanish",
    "fi": "finnish",
    "fr": "french",
    "hu": "hungarian",
    "id": "indonesian",
    "it": "italian",
    "nl": "dutch",
    "no": "norwegian",
    "pt": "portuguese",
    "ru": "russian",
    "sv": "swedish",
    "tr": "turkish",
}
# Languages with a bm25s stopword list.
STOPWORDS = frozenset({"en", "de", "nl", "fr", "es", "pt", "it", "ru", "sv", "no", "zh", "tr", "ko", "da"})


class Bm25sSystem:
    """A bm25s index over ``(doc_id, text)`` pairs in one language; thread-safe searches.

    ``build_s`` is the time to tokenize and index the texts (the BM25 build time to compare).

    Raises:
        BenchmarkError: bm25s or PyStemmer is not installed, or there is no text.
    """

    def __init__(
        self, docs: Sequence[tuple[str, str]], lang: str, *, depth: int = 100, k1: float = 0.9, b: float = 0.4
    ) -> None:
        bm25s = _import("bm25s")
        if not docs:
            raise BenchmarkError("bm25s: no document to index")
        self.lang = lang
        self.depth = depth
        self.stopwords: str | None = lang if lang in STOPWORDS else None
        self._local = threading.local()
        self.ids = [doc_id for doc_id, _ in docs]
        start = time.perf_counter()
        tokens = bm25s.tokenize(
            [text for _, text in docs], stopwords=self.stopwords, stemmer=self._stem(), show_progress=False
        )
        self.backend = "numba" if importlib.util.find_spec("numba") else "numpy"  # bm25s' fast path
        self.model = bm25s.BM25(k1=k1, b=b, method="lucene", backend=self.backend)
        self.model.index(tokens, show_progress=False)
        self.build_s = time.perf_counter() - start

    def _stem(self) -> Any:
        """This thread's stemmer (PyStemmer objects are not thread-safe); ``None`` without an algorithm."""
        if self.lang not in SNOWBALL:
            return None
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = _import("Stemmer").Stemmer(SNOWBALL[self.lang]).stemWords
            self._local.stemmer = stemmer
        return stemmer

    def __call__(self, query: str) -> Ranking:
        import bm25s

        tokens = bm25s.tokenize(
            [query], stopwords=self.stopwords, stemmer=self._stem(), return_ids=False, show_progress=False
        )
        k = min(self.depth, len(self.ids))
        docs, scores = self.model.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        package = "PyStemmer" if name == "Stemmer" else name
        raise BenchmarkError(
            f"{package} is not installed; install the dev extras (pip install -e '.[dev]') to benchmark bm25s"
        ) from exc
