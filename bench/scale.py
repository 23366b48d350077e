"""Scale benchmark: how hybrid latency and serving memory grow with the corpus, and which FAISS kind fits.

For each size, a synthetic corpus is grown from a real base index (:mod:`passerelle.bench.synthetic`:
perturbed copies of real documents and real vectors), indexed by Passerelle's own build (docstore, Lucene,
flat FAISS; the precomputed vectors replace only the encoding), then:

- each FAISS kind asked for is built over the same vectors: build time, size, dense-only latency (FAISS on
  1 thread and on every core), recall@10 against the exact (flat) top 10;
- Passerelle's hybrid search (default parameters, in process, one worker) is timed with each kind, with
  the per-stage time it reports (detect, encode, dense, sparse, fuse and fetch): ``hybrid`` with the
  shipped serving settings (a default ``ServiceSettings``: its threads per query), ``hybrid_all_cores``
  with the behaviour before them (encoder and FAISS on every core) as the contrast;
- the index is served by a real ``passerelle serve``: its peak resident memory after a pass of queries;
- dense search under a metadata filter allowing 10% and 1% of the documents (the synthetic ``year``),
  for each kind: latency and recall@10 against the exact filtered top 10; for HNSW both ways a filter can
  be answered, the graph search with a selector and the exact scan of the allowed rows, which is what
  :data:`~passerelle.indexing.defaults.FILTER_EXACT_MAX_ROWS` chooses between.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from passerelle.bench.env import cpu_count, set_faiss_threads
from passerelle.bench.synthetic import META_FIELDS, YEARS, BaseSet, Perturbation, PrecomputedEncoder, write_synthetic
from passerelle.bench.timing import BenchmarkError, measure, summarize

if TYPE_CHECKING:
    from passerelle.indexing.dense import FaissKind

logger = logging.getLogger(__name__)

KINDS: tuple[FaissKind, ...] = ("flat", "hnsw", "ivf-pq")
FILTER_SHARES: dict[str, dict[str, Any]] = {  # the filters of the filtered dense rows, by the share they allow
    "10%": {"year": {"gte": YEARS[-1] - 9}},
    "1%": {"year": YEARS[-1]},
}


@dataclass(frozen=True)
class ScaleOptions:
    """Sizes to grow to, FAISS kinds per size, and how many queries to time at each point.

    ``kinds`` maps a size to the kinds measured there; sizes not listed get :data:`KINDS` up to
    ``hnsw_max`` documents and ``flat`` + ``ivf-pq`` above (an HNSW build of a million 512-d vectors takes
    far longer than the rest of the benchmark on two cores).
    """

    sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    kinds: Mapping[int, tuple[FaissKind, ...]] = field(default_factory=dict)
    hnsw_max: int = 100_000
    queries: int = 200
    depth: int = 100
    k: int = 10
    serve_queries: int = 50
    perturbation: Perturbation = field(default_factory=Perturbation)
    keep_sizes: tuple[int, ...] = ()

    def kinds_for(self, size: int) -> tuple[FaissKind, ...]:
        """FAISS kinds measured at ``size``."""
        if size in self.kinds:
            return self.kinds[size]
        return KINDS if size <= self.hnsw_max else ("flat", "ivf-pq")


def benchmark_scale(
    base: BaseSet, encoder: Any, queries: Sequence[str], workdir: Path, options: ScaleOptions | None = None
) -> dict[str, Any]:
    """Grow ``base`` to each size and measure it (see the module docstring). ``encoder`` encodes queries
    (the encoder the base vectors came from). Returns a JSON-ready report with one entry per size.

    Raises:
        BenchmarkError: no query, or a size smaller than the base set's first copy would allow (< 1).
    """
    options = options or ScaleOptions()
    if not queries:
        raise BenchmarkError("no query for the scale benchmark")
    from passerelle.bench.systems import serving_settings, settings_facts

    texts = list(queries)[: options.queries]
    report: dict[str, Any] = {
        "base_documents": len(base.docs),
        "queries": len(texts),
        "shipped_settings": settings_facts(serving_settings("shipped")),
        "options": {
            **asdict(options),
            "sizes": list(options.sizes),
            "kinds": {str(n): list(options.kinds_for(n)) for n in options.sizes},
        },
        "skipped": _skipped(options),
        "sizes": [],
    }
    for size in options.sizes:
        logger.info("scale: %d documents", size)
        report["sizes"].append(_one_size(base, encoder, texts, Path(workdir) / f"scale-{size}", size, options))
    return report


def _skipped(options: ScaleOptions) -> list[str]:
    return [
        f"{kind} at {size:,} documents"
        for size in options.sizes
        for kind in KINDS
        if kind not in options.kinds_for(size)
    ]


def _one_size(
    base: BaseSet, encoder: Any, texts: list[str], root: Path, size: int, options: ScaleOptions
) -> dict[str, Any]:
    from passerelle.bench.systems import all_cores_searcher, open_passerelle
    from passerelle.indexing.build import build_index
    from passerelle.indexing.dense import FaissSpec
    from passerelle.indexing.metadata import parse_meta_fields
    from passerelle.indexing.options import BuildOptions
    from passerelle.indexing.readers import FieldMapping

    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    corpus, vectors_path, index_dir = root / "corpus.jsonl", root / "vectors.f32", root / "index"
    write_synthetic(base, size, corpus, vectors_path, options.perturbation)
    start = time.perf_counter()
    build_index(
        corpus,
        index_dir,
        BuildOptions(
            detect=False,
            faiss=FaissSpec(kind="flat"),
            mapping=FieldMapping(meta_fields=parse_meta_fields(META_FIELDS)),
            progress=False,
        ),
        encoder=PrecomputedEncoder(encoder, vectors_path),
    )
    entry: dict[str, Any] = {
        "documents": size,
        "build_without_encoding_s": round(time.perf_counter() - start, 2),
        "disk_mb": _disk_mb(index_dir),
        "kinds": [],
    }
    vectors = np.memmap(vectors_path, dtype=np.float32, mode="r").reshape(-1, encoder.spec.dim)
    query_vectors = encoder.encode_queries(texts)
    searcher = open_passerelle(index_dir, "shipped")
    try:
        variant = all_cores_searcher(searcher)  # shares the shipped searcher's stores: one copy in memory
        flat = searcher.index.dense
        if flat is None:
            raise BenchmarkError(f"{index_dir} has no dense side to grow and search")
        exact = flat.search(query_vectors, options.k)
        masks = _filter_masks(searcher)
        filtered_exact = {share: flat.search(query_vectors, options.k, allowed=m) for share, m in masks.items()}
        for kind in options.kinds_for(size):
            store, build_s = (
                (flat, 0.0) if kind == "flat" else _dense_store(kind, vectors, flat.row_ids, flat.row_langs)
            )
            entry["kinds"].append(
                {
                    "kind": kind,
                    "build_s": round(build_s, 2),
                    **_measure_kind(searcher, variant, store, query_vectors, exact, texts, root, options),
                    "filtered_dense": _filtered_dense(store, query_vectors, masks, filtered_exact, options),
                }
            )
            del store
    finally:
        set_faiss_threads(None)
        searcher.close()
    del vectors
    entry["serving"] = _serving_memory(index_dir, texts[: options.serve_queries], root, options)
    if size in options.keep_sizes:
        entry["index_dir"] = str(index_dir)
    else:
        shutil.rmtree(root, ignore_errors=True)
    return entry


def _dense_store(kind: FaissKind, vectors: np.ndarray, row_ids: list[str], row_langs: list[str]) -> tuple[Any, float]:
    """A DenseStore of ``kind`` over ``vectors`` (trained on a sample for IVF-PQ) and its build seconds."""
    from passerelle.indexing.dense import DenseStore, FaissSpec, create_faiss_index
    from passerelle.indexing.finalize import ADD_CHUNK, TRAIN_SAMPLE

    n, dim = vectors.shape
    spec = FaissSpec(kind=kind).resolved(n, dim)
    start = time.perf_counter()
    training = None
    if spec.kind == "ivf-pq":
        take = np.sort(np.random.default_rng(0).choice(n, size=min(n, TRAIN_SAMPLE), replace=False))
        training = np.asarray(vectors[take])
    index = create_faiss_index(spec, dim, training)
    for begin in range(0, n, ADD_CHUNK):
        index.add(np.ascontiguousarray(vectors[begin : begin + ADD_CHUNK]))
    return DenseStore(index, spec, list(row_ids), list(row_langs)), time.perf_counter() - start


def _measure_kind(
    searcher: Any,
    variant: Any,
    store: Any,
    query_vectors: np.ndarray,
    exact: list[list[tuple[str, float]]],
    texts: list[str],
    root: Path,
    options: ScaleOptions,
) -> dict[str, Any]:
    """FAISS size, dense-only latency (FAISS on 1 thread and on every core), recall@10 against ``exact``,
    and hybrid latency with per-stage medians: ``searcher`` (shipped settings) and its every-core
    ``variant``, each with ``store`` swapped in and its FAISS threads set for that measurement."""
    import faiss

    path = root / f"{store.spec.kind}.faiss"
    faiss.write_index(store.index, str(path))
    size_mb = round(path.stat().st_size / 2**20, 1)
    path.unlink()
    out: dict[str, Any] = {"faiss_mb": size_mb}
    found: list[list[tuple[str, float]]] = []
    for threads, suffix in ((1, "1_thread"), (cpu_count(), "all_cores")):
        store.search_threads = threads  # applied in the calling thread by every search
        latencies, found = [], []
        for vector in query_vectors:
            start = time.perf_counter()
            found.append(store.search(vector[None, :], options.depth)[0])
            latencies.append(time.perf_counter() - start)
        dense = summarize("dense", 1, latencies, sum(latencies))
        out[f"dense_p50_ms_{suffix}"], out[f"dense_p99_ms_{suffix}"] = dense.p50_ms, dense.p99_ms
    out["recall@10"] = _recall(found, exact, options.k)
    for name, which, threads in (("hybrid", searcher, _shipped_threads()), ("hybrid_all_cores", variant, cpu_count())):
        which.index.dense = store
        store.search_threads = threads
        stats, stages = _time_hybrid(which, texts, options)
        out[name] = stats
        out[name.replace("hybrid", "stages_p50_ms")] = stages
    set_faiss_threads(None)
    return out


def _filter_masks(searcher: Any) -> dict[str, np.ndarray]:
    """The rows each of :data:`FILTER_SHARES` allows, from the searcher's own filter evaluation."""
    from passerelle.service.filters import parse_filter
    from passerelle.service.searcher import SearchParams

    masks = {}
    for share, condition in FILTER_SHARES.items():
        allowed = searcher.allowed(SearchParams(filter=parse_filter(condition)))
        masks[share] = allowed.mask
    return masks


def _filtered_dense(
    store: Any,
    query_vectors: np.ndarray,
    masks: dict[str, np.ndarray],
    exact: dict[str, list[list[tuple[str, float]]]],
    options: ScaleOptions,
) -> list[dict[str, Any]]:
    """Dense search (FAISS on 1 thread, ``depth`` candidates) under each filter: p50/p99 and recall@10
    against the exact filtered top 10; HNSW twice, graph search and exact scan of the allowed rows."""
    rows = []
    ways = [("graph", 0), ("scan", None)] if store.spec.kind == "hnsw" else [("selector", store.exact_filter_rows)]
    shipped = store.exact_filter_rows
    store.search_threads = 1
    try:
        for share, mask in masks.items():
            for way, threshold in ways:
                store.exact_filter_rows = len(mask) if threshold is None else threshold
                latencies, found = [], []
                for vector in query_vectors:
                    start = time.perf_counter()
                    found.append(store.search(vector[None, :], options.depth, allowed=mask)[0])
                    latencies.append(time.perf_counter() - start)
                stats = summarize(f"{share} {way}", 1, latencies, sum(latencies))
                rows.append(
                    {
                        "share": share,
                        "allowed": int(mask.sum()),
                        "way": way,
                        "shipped_way": way == "selector" or (way == "scan") == (int(mask.sum()) <= shipped),
                        "p50_ms": stats.p50_ms,
                        "p99_ms": stats.p99_ms,
                        "recall@10": _recall(found, exact[share], options.k),
                    }
                )
    finally:
        store.exact_filter_rows = shipped
    return rows


def _recall(found: list[list[tuple[str, float]]], exact: list[list[tuple[str, float]]], k: int) -> float:
    """Mean share of the exact top ``k`` found (a query with nothing to find counts 1 when it finds nothing)."""

    def one(got: list[tuple[str, float]], truth: list[tuple[str, float]]) -> float:
        if not truth:
            return 0.0 if got else 1.0
        return len({d for d, _ in got[:k]} & {d for d, _ in truth}) / len(truth)

    return round(float(np.mean([one(got, truth) for got, truth in zip(found, exact, strict=True)])), 4)


def _time_hybrid(searcher: Any, texts: list[str], options: ScaleOptions) -> tuple[dict[str, Any], dict[str, float]]:
    stages: dict[str, list[float]] = {}
    params = _params(options)

    def search(query: str) -> list[tuple[str, float]]:
        result = searcher.search(query, params)
        for stage, ms in result.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
        return [(hit.doc_id, hit.score) for hit in result.hits]

    stats, _ = measure("passerelle", search, texts, concurrency=1, warmup=5)
    return stats.to_dict(), {stage: round(float(np.median(v)), 3) for stage, v in stages.items()}


def _shipped_threads() -> int:
    """FAISS threads per search as shipped (``query_threads``; ``None`` there means every core)."""
    from passerelle.bench.systems import serving_settings

    return serving_settings("shipped").query_threads or cpu_count()


def _params(options: ScaleOptions) -> Any:
    from passerelle.bench.systems import passerelle_params

    return passerelle_params("hybrid", k=options.k, depth=options.depth)


def _serving_memory(index_dir: Path, texts: list[str], root: Path, options: ScaleOptions) -> dict[str, Any]:
    from passerelle.bench.server import serve
    from passerelle.bench.systems import HttpSystem, http_options

    with serve([index_dir], root / "server.log") as server:
        ready = server.memory_mb()
        system = HttpSystem(server.url, http_options("hybrid", k=options.k, depth=options.depth))
        try:
            stats, _ = measure("passerelle-http", system, texts, concurrency=1, warmup=3)
        finally:
            system.close()
        after = server.memory_mb()
    return {"rss_ready_mb": ready["rss_mb"], "peak_rss_mb": after["peak_rss_mb"], "http": stats.to_dict()}


def _disk_mb(index_dir: Path) -> dict[str, float]:
    parts = {"docs.sqlite": index_dir / "docs.sqlite", "sparse": index_dir / "sparse", "dense": index_dir / "dense"}
    return {name: round(_size(path) / 2**20, 1) for name, path in parts.items()}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0
