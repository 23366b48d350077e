"""Search benchmark: Passerelle against the tools a user would pick instead, in one run, on one index.

Every system answers the same queries over the same files: Passerelle's hybrid over HTTP (a real
``passerelle serve`` on loopback) and in process, both with the shipped serving settings (a default
:class:`~passerelle.service.api.settings.ServiceSettings`: threads per query, micro-batching), plus two
in-process contrasts (no micro-batching; every core per query, the behaviour before those settings);
Pyserini's ``HybridSearcher`` over the same Lucene view, the same FAISS file and the same encoder at the
same depth; Pyserini's ``LuceneSearcher`` alone; FAISS plus the encoder alone; and bm25s over the same
view texts. Each is timed at each concurrency
(QPS, p50/p99 latency); answers of the single-worker pass are scored (nDCG@10) when qrels are given,
and ratios are taken against Pyserini's hybrid.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passerelle.bench.catalog import AGREEMENT_PAIRS, ALL_SYSTEMS, DESCRIPTIONS, REFERENCE
from passerelle.bench.env import load_average, set_faiss_threads
from passerelle.bench.timing import BenchmarkError, Ranking, measure
from passerelle.eval.trec import Qrels

if TYPE_CHECKING:
    from passerelle.service.fusion import FusionMethod
    from passerelle.service.searcher import Mode

logger = logging.getLogger(__name__)

PYSERINI_KEYS = {"pyserini-hybrid / pyserini-hybrid-norm": "systems", "pyserini-hybrid-hf": "hf"}
"""Pyserini systems whose failed queries (normalization's division by zero) are counted, and their state key."""


@dataclass(frozen=True)
class SearchBenchOptions:
    """What to time: ``k`` hits per query from ``depth`` candidates per retriever, at each concurrency."""

    k: int = 10
    depth: int = 100
    concurrency: tuple[int, ...] = (1, 8)
    max_queries: int | None = None
    warmup: int = 50
    systems: tuple[str, ...] = ALL_SYSTEMS
    alpha: float = 0.1
    batch: int = 8
    rounds: int = 3


def benchmark_search(
    index_dir: Path,
    queries: Mapping[str, str],
    workdir: Path,
    *,
    qrels: Qrels | None = None,
    options: SearchBenchOptions | None = None,
) -> dict[str, Any]:
    """Time every system of ``options.systems`` on ``queries`` over the index at ``index_dir``.

    Returns a JSON-ready report: index facts, the shipped serving settings, one row per system and
    concurrency (QPS, p50, p99, ratios to Pyserini's hybrid, and for micro-batching systems the batches
    and mean batch size of the timed pass), nDCG@10 per system when ``qrels`` are given, top-10 agreement between
    Passerelle's single retrievers and the raw libraries, and the HTTP server's memory.

    Raises:
        BenchmarkError: unknown system, no query, a system that cannot run.
    """
    options = options or SearchBenchOptions()
    unknown = [name for name in options.systems if name not in ALL_SYSTEMS]
    if unknown:
        raise BenchmarkError(f"unknown systems {unknown}; choose from {', '.join(ALL_SYSTEMS)}")
    qids = list(queries)[: options.max_queries] if options.max_queries else list(queries)
    if not qids:
        raise BenchmarkError("no query to benchmark")
    texts = [queries[q] for q in qids]
    from passerelle.bench.systems import open_passerelle, serving_settings, settings_facts
    from passerelle.indexing.sparse import jvm

    jvm.start()
    searcher = open_passerelle(Path(index_dir), "shipped")
    report: dict[str, Any] = {
        "index": _index_facts(searcher),
        "queries": len(qids),
        "load_start": load_average(),
        "shipped_settings": settings_facts(serving_settings("shipped")),
        "options": {**asdict(options), "concurrency": list(options.concurrency)},
        "descriptions": {name: DESCRIPTIONS[name] for name in options.systems},
        "rows": [],
        "ndcg@10": {},
        "agreement@10": {},
    }
    tuning = ({q: queries[q] for q in qids}, qrels) if qrels is not None else None
    try:
        answers = _time_systems(searcher, Path(index_dir), Path(workdir), texts, options, report, tuning)
    finally:
        searcher.close()
    report["load_end"] = load_average()
    _add_ratios(report["rows"])
    if qrels is not None:
        report["ndcg@10"] = _quality(qids, answers, qrels)
    for left, right in AGREEMENT_PAIRS:
        if left in answers and right in answers:
            report["agreement@10"][f"{left} vs {right}"] = _agreement(answers[left], answers[right], options.k)
    return report


def _time_systems(
    searcher: Any,
    index_dir: Path,
    workdir: Path,
    texts: list[str],
    options: SearchBenchOptions,
    report: dict[str, Any],
    tuning: tuple[dict[str, str], Qrels] | None,
) -> dict[str, list[Ranking]]:
    """Time each system at each concurrency (rows appended to ``report``); the first pass's answers.

    Every query is first searched once with BM25 and dense alone, untimed, so that the JVM has compiled
    Lucene's search path (JIT) and the OS has the index files in cache before any system is timed:
    otherwise the systems timed first would pay for the warm-up of those timed later.

    Each system is timed ``options.rounds`` times at each concurrency, the systems interleaved (the order
    reversed every round), and its row is its median pass by QPS (``qps_rounds`` lists every pass): on a
    shared 2-core machine one pass of one system can be 20% off. Each pass's warm-up queries run before
    the batcher's counters are read, so a row's ``mean_batch`` describes the timed pass alone.
    """
    from passerelle.bench.systems import batch_counts, batching_delta, passerelle_params

    for mode in ("sparse", "dense"):
        params = passerelle_params(mode, k=options.k, depth=options.depth)
        for text in texts:
            searcher.search(text, params)
    answers: dict[str, list[Ranking]] = {}
    with contextlib.ExitStack() as stack:
        pyserini_state: dict[str, Any] = {}
        owned: dict[str, Any] = {}  # searchers opened for one contrast system, closed at the end
        stack.callback(lambda: [opened.close() for opened in owned.values()])
        factories = _systems(searcher, index_dir, workdir, options, stack, report, pyserini_state, owned, tuning)
        built = {name: factories[name]() for name in options.systems}
        systems = {name: system for name, system in built.items() if system is not None}  # None: not for this index
        names = list(systems)
        for name in set(built) - set(systems):
            report["descriptions"].pop(name, None)
        passes: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for round_no in range(max(options.rounds, 1)):
            # every system once per round, the order reversed each round: no system is always timed first
            for name in names if round_no % 2 == 0 else names[::-1]:
                search = systems[name]
                for concurrency in options.concurrency:
                    # Pyserini's FaissSearcher.search sets OpenMP to 1 thread in the calling thread, each call
                    set_faiss_threads(None)
                    for text in texts[: options.warmup]:
                        search(text)
                    before = batch_counts(search)
                    stats, got = measure(name, search, texts, concurrency=concurrency, warmup=0)
                    logger.info(
                        "round %d, %s c=%d: %.1f q/s, p50 %.1f ms",
                        round_no + 1,
                        name,
                        concurrency,
                        stats.qps,
                        stats.p50_ms,
                    )
                    passes.setdefault((name, concurrency), []).append(
                        {**stats.to_dict(), **batching_delta(before, batch_counts(search))}
                    )
                    if round_no == 0 and concurrency == options.concurrency[0]:
                        answers[name] = got
        report["rows"] += [median_pass(passes[(name, c)]) for name in names for c in options.concurrency]
        if "_server" in report:
            report["server_memory"] = report.pop("_server").memory_mb()
        set_faiss_threads(None)
        report["failed_queries"] = {
            name: len(pyserini_state[key].failed) for name, key in PYSERINI_KEYS.items() if pyserini_state.get(key)
        }
        if options.batch > 1 and {"passerelle", REFERENCE} <= set(options.systems):
            report["batch_rows"], batched = _batches(searcher, pyserini_state["systems"], texts, options)
            report["agreement@10"]["passerelle batch vs passerelle"] = _agreement(
                batched, answers["passerelle"], options.k
            )
    return answers


def _systems(
    searcher: Any,
    index_dir: Path,
    workdir: Path,
    options: SearchBenchOptions,
    stack: contextlib.ExitStack,
    report: dict[str, Any],
    pyserini: dict[str, Any],
    owned: dict[str, Any],
    tuning: tuple[dict[str, str], Qrels] | None,
) -> dict[str, Callable[[], Callable[[str], Ranking] | None]]:
    """Factories (called in turn, so only chosen systems are built) of each system's search callable (``None``:
    the system does not apply to this index).

    Pyserini's hybrids are tuned (alpha, normalization) on ``tuning``'s judged queries when given; the choice
    and the grid go to ``report["pyserini_tuning"]``.

    ``searcher`` is opened with the shipped settings; a contrast system opens its own copy of the index
    with its settings and leaves it in ``owned`` under its name (the caller closes it).
    """
    from passerelle.bench.systems import (
        FaissEncoderSystem,
        HttpSystem,
        PasserelleSystem,
        http_options,
        open_passerelle,
        passerelle_params,
        sparse_view,
    )

    k, depth = options.k, options.depth
    view = sparse_view(searcher)

    def pyserini_systems(key: str = "systems") -> Any:
        """Pyserini over this index: with our encoder (``systems``) or its own AutoQueryEncoder (``hf``)."""
        if key not in pyserini:
            from passerelle.bench.pyserini_peer import PyseriniSystems, hf_query_encoder

            own = hf_query_encoder(searcher.index.encoder) if key == "hf" else None
            if key == "hf" and own is None:
                pyserini[key] = None
                return None
            systems = PyseriniSystems(
                index_dir,
                view,
                searcher.index.manifest.analyzers[view],
                searcher.index.encoder,
                workdir,
                pyserini_encoder=own,
                depth=depth,
                k=k,
                alpha=options.alpha,
            )
            stack.callback(systems.close)
            if tuning is not None:
                report.setdefault("pyserini_tuning", {})[key] = systems.tune(*tuning)
            pyserini[key] = systems
        return pyserini[key]

    def hf_hybrid() -> Callable[[str], Ranking] | None:
        systems = pyserini_systems("hf")
        return None if systems is None else systems.hybrid_search

    def http() -> Callable[[str], Ranking]:
        from passerelle.bench.server import serve

        server = stack.enter_context(serve([index_dir], workdir / "server.log"))
        report["_server"] = server
        report["server_memory_ready"] = server.memory_mb()
        system = HttpSystem(server.url, http_options("hybrid", k=k, depth=depth), pool=max(options.concurrency))
        stack.callback(system.close)
        return system

    def bm25s() -> Callable[[str], Ranking]:
        from passerelle.bench.bm25s_peer import Bm25sSystem

        docs = [(doc.id, doc.view(view) or "") for doc in searcher.index.docstore]
        system = Bm25sSystem([(d, t) for d, t in docs if t], view, depth=depth)
        report["bm25s_build_s"] = round(system.build_s, 3)
        return system

    def in_process(mode: Mode, fusion: FusionMethod = "auto") -> Callable[[], Callable[[str], Ranking]]:
        return lambda: PasserelleSystem(searcher, passerelle_params(mode, k=k, depth=depth, fusion=fusion))

    def contrast(name: str, variant: Any) -> Callable[[], Callable[[str], Ranking]]:
        def build() -> Callable[[str], Ranking]:
            owned[name] = open_passerelle(index_dir, variant)
            return PasserelleSystem(owned[name], passerelle_params("hybrid", k=k, depth=depth))

        return build

    return {
        "passerelle-http": http,
        "passerelle": in_process("hybrid"),
        "passerelle-unbatched": contrast("passerelle-unbatched", "unbatched"),
        "passerelle-all-cores": contrast("passerelle-all-cores", "all-cores"),
        "passerelle-rrf": in_process("hybrid", "rrf"),
        "passerelle-dense": in_process("dense"),
        "passerelle-sparse": in_process("sparse"),
        "pyserini-hybrid": lambda: pyserini_systems().hybrid_search,
        "pyserini-hybrid-norm": lambda: pyserini_systems().hybrid_normalized,
        "pyserini-hybrid-hf": hf_hybrid,
        "pyserini-lucene": lambda: pyserini_systems().lucene_search,
        "faiss+encoder": lambda: FaissEncoderSystem(index_dir, searcher.index.encoder, depth),
        "bm25s": bm25s,
    }


def _batches(
    searcher: Any, pyserini: Any, texts: list[str], options: SearchBenchOptions
) -> tuple[list[dict[str, Any]], list[Ranking]]:
    """Both hybrids answering ``options.batch`` queries per call: Passerelle's ``search_batch`` on the shipped
    searcher (its threads per query; one encoder call per batch, in the caller's thread) and Pyserini's
    ``HybridSearcher.batch_search`` (``encode_batch``, then FAISS and Lucene with one thread per core).
    Returns their rows and Passerelle's answers."""
    from passerelle.bench.env import cpu_count
    from passerelle.bench.systems import passerelle_params
    from passerelle.bench.timing import measure_batches

    params = passerelle_params("hybrid", k=options.k, depth=options.depth)
    set_faiss_threads(None)
    ours, answers = measure_batches(
        f"passerelle (batch {options.batch})",
        lambda group: [[(h.doc_id, h.score) for h in r.hits] for r in searcher.search_batch(group, params)],
        texts,
        batch=options.batch,
    )
    theirs, _ = measure_batches(
        f"pyserini-hybrid (batch_search {options.batch})",
        lambda group: pyserini.hybrid_batch(group, cpu_count()),
        texts,
        batch=options.batch,
    )
    rows = [ours.to_dict(), theirs.to_dict()]
    for row in rows:
        row["batch"] = options.batch
        row["qps_vs_ref"] = round(row["qps"] / theirs.qps, 3)
    return rows, answers


def median_pass(passes: list[dict[str, Any]]) -> dict[str, Any]:
    """The pass with the median QPS (the lower middle one for an even count), with every pass's QPS in
    run order as ``qps_rounds``."""
    if not passes:
        raise BenchmarkError("no timed pass to summarize")
    ranked = sorted(passes, key=lambda row: row["qps"])
    return {**ranked[(len(ranked) - 1) // 2], "qps_rounds": [round(row["qps"], 1) for row in passes]}


def _index_facts(searcher: Any) -> dict[str, Any]:
    from passerelle.bench.systems import sparse_view

    manifest = searcher.index.manifest
    return {
        "name": searcher.name,
        "documents": manifest.doc_count,
        "encoder": manifest.encoder.name,
        "faiss": manifest.faiss.kind,
        "sparse_view": sparse_view(searcher),
        "languages": manifest.languages,
    }


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    """``qps_vs_ref`` = QPS / Pyserini hybrid's QPS, ``p50_vs_ref`` = its p50 / this p50 (same concurrency)."""
    reference = {row["concurrency"]: row for row in rows if row["system"] == REFERENCE}
    for row in rows:
        ref = reference.get(row["concurrency"])
        row["qps_vs_ref"] = round(row["qps"] / ref["qps"], 3) if ref else None
        row["p50_vs_ref"] = round(ref["p50_ms"] / row["p50_ms"], 3) if ref and row["p50_ms"] > 0 else None


def _quality(qids: list[str], answers: Mapping[str, list[Ranking]], qrels: Qrels) -> dict[str, float]:
    from passerelle.eval.metrics import evaluate

    judged = {q: qrels[q] for q in qids if q in qrels}
    if not judged:
        raise BenchmarkError("none of the benchmark queries has relevance judgments")
    scores = {}
    for name, ranked in answers.items():
        run = {qid: dict(_unique(hits)) for qid, hits in zip(qids, ranked, strict=True)}
        scores[name] = round(evaluate(judged, run, ["ndcg@10"]).mean("ndcg@10"), 4)
    return scores


def _unique(hits: Ranking) -> Iterator[tuple[str, float]]:
    seen: set[str] = set()
    for doc_id, score in hits:
        if doc_id not in seen:
            seen.add(doc_id)
            yield doc_id, score


def _agreement(left: list[Ranking], right: list[Ranking], k: int) -> float:
    """Mean over queries of |top-k(left) ∩ top-k(right)| / k' (k' = the larger list, at most k; 1 if both empty)."""
    values = []
    for a, b in zip(left, right, strict=True):
        top_a, top_b = {d for d, _ in a[:k]}, {d for d, _ in b[:k]}
        size = max(len(top_a), len(top_b))
        values.append(len(top_a & top_b) / size if size else 1.0)
    return round(sum(values) / len(values), 4) if values else 0.0
