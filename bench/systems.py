"""The systems a search benchmark times, each as ``search(query) -> [(doc_id, score), ...]``.

Passerelle in process (:class:`~passerelle.service.searcher.Searcher`, opened with the shipped serving
settings or a contrast variant of them) and over HTTP (a live ``passerelle serve``), and the raw-library
floor: FAISS plus the same encoder, with no fusion, no docstore, no language logic. Pyserini's searchers
are in :mod:`passerelle.bench.pyserini_peer`, bm25s in :mod:`passerelle.bench.bm25s_peer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from passerelle.bench.timing import BenchmarkError, Ranking

if TYPE_CHECKING:
    import httpx

    from passerelle.indexing.encoders.base import Encoder
    from passerelle.service.api.settings import ServiceSettings
    from passerelle.service.fusion import FusionMethod
    from passerelle.service.searcher import Mode, Searcher, SearchParams

Variant = Literal["shipped", "unbatched", "all-cores"]
VARIANTS: tuple[str, ...] = ("shipped", "unbatched", "all-cores")


def serving_settings(variant: Variant = "shipped") -> ServiceSettings:
    """The settings a benchmarked Passerelle searcher is opened with.

    ``shipped``: a default :class:`~passerelle.service.api.settings.ServiceSettings` (what ``passerelle serve``
    runs); ``unbatched``: the same with ``micro_batch=1``; ``all-cores``: the
    behaviour before the serving settings existed (``query_threads=None``: encoder and FAISS on every core
    per query; ``micro_batch=1``).

    Raises:
        BenchmarkError: unknown variant.
    """
    from passerelle.service.api.settings import ServiceSettings

    shipped = ServiceSettings()
    if variant == "shipped":
        return shipped
    if variant == "unbatched":
        return shipped.model_copy(update={"micro_batch": 1})
    if variant == "all-cores":
        return shipped.model_copy(update={"query_threads": None, "micro_batch": 1})
    raise BenchmarkError(f"unknown Passerelle variant {variant!r}; choose from {', '.join(VARIANTS)}")


def settings_facts(settings: ServiceSettings) -> dict[str, Any]:
    """The serving settings that shape search speed, JSON-ready (``query_threads`` None: every core)."""
    return {
        "query_threads": settings.query_threads,
        "micro_batch": settings.micro_batch,
        "search_workers": settings.search_workers,
    }


def open_passerelle(index_dir: Path, variant: Variant = "shipped") -> Searcher:
    """Open (and warm up) the index at ``index_dir`` as the service would with ``serving_settings(variant)``.

    Close it with ``Searcher.close()`` (it stops the micro-batcher's threads).

    Raises:
        BenchmarkError: unknown variant.
        IndexFormatError: the index is missing, incomplete or damaged.
    """
    from passerelle.service.api.state import open_searcher

    return open_searcher(Path(index_dir), serving_settings(variant))


def all_cores_searcher(searcher: Searcher) -> Searcher:
    """The ``all-cores`` variant of an open ``searcher`` sharing its stores (no second copy of the index):
    the manifest's encoder on every core, no micro-batching. Do not close it (``searcher`` owns the stores).

    FAISS's threads are a setting of the shared :class:`~passerelle.indexing.dense.DenseStore`
    (``search_threads``): whoever times both must set it before each measurement.
    """
    from passerelle.indexing.load import shared_encoder
    from passerelle.service.searcher import Searcher

    spec = searcher.index.manifest.encoder
    encoder = shared_encoder(spec.name, spec.query_prefix, spec.passage_prefix, None)
    variant = Searcher(replace(searcher.index, encoder=encoder))
    variant.warm_up()
    return variant


class PasserelleSystem:
    """In process: ``Searcher.search`` with fixed parameters; answers the fused hits' ids and scores.

    The searcher's own settings decide threads and micro-batching (see :func:`open_passerelle`).
    """

    def __init__(self, searcher: Searcher, params: SearchParams) -> None:
        self.searcher = searcher
        self.params = params

    def __call__(self, query: str) -> Ranking:
        return [(hit.doc_id, hit.score) for hit in self.searcher.search(query, self.params).hits]

    def batch_counts(self) -> tuple[int, int] | None:
        """``(batches, queries)`` the searcher's micro-batcher answered so far; ``None`` when it does not batch."""
        batcher = self.searcher.batcher
        if batcher is None:
            return None
        return batcher.stats.batches, batcher.stats.queries


def batch_counts(search: Any) -> tuple[int, int] | None:
    """``(batches, queries)`` of a system's micro-batcher so far; ``None`` for a system that does not batch."""
    counts = getattr(search, "batch_counts", None)
    return counts() if counts is not None else None


def batching_delta(before: tuple[int, int] | None, after: tuple[int, int] | None) -> dict[str, Any]:
    """``batches`` and ``mean_batch`` (queries / batches) between two :func:`batch_counts` readings; ``{}``
    for a system that does not batch."""
    if before is None or after is None:
        return {}
    batches, queries = after[0] - before[0], after[1] - before[1]
    return {"batches": batches, "mean_batch": round(queries / batches, 3) if batches else None}


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


def read_row_ids(index_dir: Path) -> list[str]:
    """Doc id of each FAISS row (``dense/rows.tsv``; an empty id is a deleted row)."""
    path = Path(index_dir) / "dense" / "rows.tsv"
    if not path.is_file():
        raise BenchmarkError(f"{path} is missing: the index has no dense side to benchmark")
    with open(path, encoding="utf-8") as rows:
        return [line.rstrip("\n").partition("\t")[0] for line in rows]


def passerelle_params(mode: Mode, *, k: int, depth: int, fusion: FusionMethod = "auto") -> SearchParams:
    """Search parameters of a Passerelle benchmark system (English queries, as in the collections)."""
    from passerelle.service.searcher import SearchParams

    return replace(SearchParams(), mode=mode, k=k, depth=depth, fusion=fusion)


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
