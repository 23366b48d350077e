"""The systems the search benchmark times, by name, with what each one is (plain data: the CLI reads it for
``--help`` without importing the benchmark)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["AGREEMENT_PAIRS", "ALL_SYSTEMS", "DESCRIPTIONS", "REFERENCE"]

REFERENCE = "pyserini-hybrid"
ALL_SYSTEMS: tuple[str, ...] = (
    "passerelle-http",
    "passerelle",
    "passerelle-unbatched",
    "passerelle-all-cores",
    "passerelle-rrf",
    "passerelle-dense",
    "passerelle-sparse",
    "pyserini-hybrid",
    "pyserini-hybrid-norm",
    "pyserini-hybrid-hf",
    "pyserini-lucene",
    "faiss+encoder",
    "bm25s",
)
DESCRIPTIONS: Mapping[str, str] = {
    "passerelle-http": "Passerelle hybrid (default fusion) over HTTP: POST /v1/search to `passerelle serve`",
    "passerelle": "Passerelle hybrid (default fusion: language-aware), in process (Searcher.search) with the shipped "
    "serving settings (threads per query, micro-batching: see below); detects the query language, "
    "weighs the views, returns hits with title, snippet and per-retriever ranks",
    "passerelle-unbatched": "contrast: the same with the shipped threads per query but no micro-batching "
    "(micro_batch=1): each query answered alone, in its caller's thread",
    "passerelle-all-cores": "contrast, the behaviour before the serving settings: every core per query "
    "(query_threads=None: the encoder and FAISS each use every core) and no micro-batching",
    "passerelle-rrf": "Passerelle hybrid with RRF fusion (k=60), in process, shipped settings",
    "passerelle-dense": "Passerelle dense only, in process, shipped settings",
    "passerelle-sparse": "Passerelle BM25 only, in process, shipped settings",
    "pyserini-hybrid": "Pyserini HybridSearcher(FaissSearcher, LuceneSearcher).search(k0=depth, alpha, normalization) "
    "with alpha and normalization tuned on the collection's judged queries (below), queries embedded by the "
    "index's own encoder (Passerelle's, through a QueryEncoder adapter): returns ids and scores only; its "
    "FaissSearcher runs FAISS on 1 OpenMP thread",
    "pyserini-hybrid-norm": "the same with Pyserini's normalization=True (alpha tuned for it)",
    "pyserini-hybrid-hf": "the same hybrid, tuned the same way, with the model as a Pyserini user loads it: "
    "Pyserini's AutoQueryEncoder (transformers, fp32 torch, every core; mean pooling, L2 norm, 'query:' prefix) "
    "on the converted model directory (e5-small's hf/; encoders without one skip this row)",
    "pyserini-lucene": "Pyserini LuceneSearcher.search(k=depth) alone",
    "faiss+encoder": "the encoder + faiss.Index.search(depth) alone, ids from rows.tsv",
    "bm25s": "bm25s (Lucene BM25, k1=0.9 b=0.4, stopwords + Snowball stemmer) over the same view texts",
}
AGREEMENT_PAIRS = (("passerelle-sparse", "pyserini-lucene"), ("passerelle-dense", "faiss+encoder"))
