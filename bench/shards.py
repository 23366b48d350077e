"""Sharded builds and searches: docs/s of the local engine and of Ray with 1 and 2 workers, and what merging
shards costs a search (p50 latency of the same queries on one index and on 2 shards of the same documents).

Each Ray configuration runs in a fresh local Ray session; its start-up is timed apart from the build
(a long-lived cluster pays it once). Every build reads the same corpus file and uses the same encoder.
"""

from __future__ import annotations

import functools
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passerelle.bench.env import load_average, machine_info
from passerelle.bench.timing import BenchmarkError, percentile_ms

if TYPE_CHECKING:
    from passerelle.service.searcher import Mode

logger = logging.getLogger(__name__)

MODES: tuple[Mode, ...] = ("dense", "sparse", "hybrid")
WARMUP_DOCS = 64


@dataclass(frozen=True)
class ShardBenchOptions:
    """What to measure: ``docs`` documents of a collection, ``shards`` shards, Ray pools of ``workers``."""

    docs: int = 3000
    encoder: str = "usem3"
    shards: int = 2
    workers: tuple[int, ...] = (1, 2)
    repeat: int = 1
    queries: int = 200
    k: int = 10


def take_corpus(source: Path, docs: int, out: Path) -> int:
    """Write the first ``docs`` non-empty lines of the JSONL corpus ``source`` to ``out``; returns how many.

    Raises:
        BenchmarkError: ``source`` does not exist.
    """
    if not source.is_file():
        raise BenchmarkError(f"no corpus at {source}")
    out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(source, encoding="utf-8") as lines, open(out, "w", encoding="utf-8") as sink:
        for line in lines:
            if written >= docs:
                break
            if line.strip():
                sink.write(line)
                written += 1
    return written


def _build_row(
    engine: str, workers: int | None, docs: int, startup_s: float, warmup_s: float, build_s: float
) -> dict[str, Any]:
    return {
        "engine": engine,
        "workers": workers,
        "docs": docs,
        "startup_s": round(startup_s, 2),
        "warmup_s": round(warmup_s, 2),
        "build_s": round(build_s, 2),
        "docs_per_s": round(docs / build_s, 1),
        "docs_per_s_cold": round(docs / (startup_s + warmup_s + build_s), 1),
        "load_avg_after": load_average(),
    }


def _timed_s(build: Callable[[], object], repeat: int = 1) -> float:
    """Seconds of the fastest of ``repeat`` runs (the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        build()
        best = min(best, time.perf_counter() - start)
    return best


def bench_builds(corpus: Path, workdir: Path, docs: int, options: ShardBenchOptions) -> list[dict[str, Any]]:
    """Build the corpus with the local engine (one index, then ``shards`` shards) and on Ray per worker count.

    Each configuration first builds a tiny corpus (``WARMUP_DOCS`` documents), timed apart as ``warmup_s``:
    it pays the one-off costs of a fresh process (JVM start, model load), so ``docs_per_s`` is the
    steady-state rate of a long-lived worker pool and ``docs_per_s_cold`` includes every start-up cost.
    Each timed build runs ``options.repeat`` times; the fastest counts.
    """
    from passerelle.indexing.build import build_index
    from passerelle.indexing.options import BuildOptions
    from passerelle.indexing.shards.build import build_sharded
    from passerelle.indexing.shards.ray_build import build_index_ray, ray_session

    build_options = BuildOptions(encoder=options.encoder, progress=False)
    tiny = workdir / "warmup.jsonl"
    take_corpus(corpus, WARMUP_DOCS, tiny)
    shards = options.shards
    rows = []
    warm = _timed_s(lambda: build_index(tiny, workdir / "warmup", build_options))
    took = _timed_s(lambda: build_index(corpus, workdir / "single", build_options), options.repeat)
    rows.append(_build_row("local (1 index)", None, docs, 0.0, warm, took))
    took = _timed_s(
        lambda: build_sharded(corpus, workdir / "local-sharded", build_options, shards=shards), options.repeat
    )
    rows.append(_build_row(f"local ({shards} shards, one after the other)", None, docs, 0.0, 0.0, took))
    for workers in options.workers:
        start = time.perf_counter()
        with ray_session("local", workers):
            started = time.perf_counter()
            warm = _timed_s(
                functools.partial(
                    build_index_ray, tiny, workdir / "warmup-ray", build_options, shards=shards, workers=workers
                )
            )
            took = _timed_s(
                functools.partial(
                    build_index_ray, corpus, workdir / f"ray-{workers}", build_options, shards=shards, workers=workers
                ),
                options.repeat,
            )
        rows.append(_build_row(f"ray ({shards} shards)", workers, docs, started - start, warm, took))
        logger.info("ray with %d worker(s): %s docs/s", workers, rows[-1]["docs_per_s"])
    return rows


def bench_merge(single: Path, sharded: Path, queries: Sequence[str], k: int) -> list[dict[str, Any]]:
    """p50/p99 latency per mode on one index and on its sharded twin, in process, one query at a time.

    The two are timed in turns, query by query (their order alternating), so load from other processes
    falls on both alike; ``paired_median_ms`` is the median of the per-query differences (sharded - single).
    """
    from passerelle.service.searcher import Searcher, SearchParams

    rows = []
    searchers = {"single": Searcher.open(single), "sharded": Searcher.open(sharded)}
    try:
        for mode in MODES:
            params = SearchParams(mode=mode, k=k)
            stage = "sparse" if mode == "sparse" else "dense"
            latency: dict[str, list[float]] = {name: [] for name in searchers}
            stages: dict[str, list[float]] = {name: [] for name in searchers}
            for query in queries[:3]:  # warm-up, untimed
                for searcher in searchers.values():
                    searcher.search(query, params)
            for number, query in enumerate(queries):
                names = list(searchers) if number % 2 == 0 else list(reversed(searchers))
                for name in names:
                    start = time.perf_counter()
                    result = searchers[name].search(query, params)
                    latency[name].append(time.perf_counter() - start)
                    stages[name].append(result.timings_ms.get(stage, 0.0))
            row: dict[str, Any] = {"mode": mode}
            for name in searchers:
                row[f"{name}_p50_ms"] = round(percentile_ms(latency[name], 50), 3)
                row[f"{name}_p99_ms"] = round(percentile_ms(latency[name], 99), 3)
                row[f"{name}_{stage}_stage_p50_ms"] = round(statistics.median(stages[name]), 3)
            diffs = [b - a for a, b in zip(latency["single"], latency["sharded"], strict=True)]
            row["paired_median_ms"] = round(statistics.median(diffs) * 1000, 3)
            row["overhead_p50_ms"] = round(row["sharded_p50_ms"] - row["single_p50_ms"], 3)
            row["overhead_pct"] = round(100 * row["overhead_p50_ms"] / row["single_p50_ms"], 1)
            rows.append(row)
    finally:
        for searcher in searchers.values():
            searcher.index.close()
    return rows


def benchmark_shards(collection: Path, workdir: Path, options: ShardBenchOptions | None = None) -> dict[str, Any]:
    """The whole benchmark: builds (local, Ray per worker count) and the merge overhead of searching shards."""
    from passerelle.eval.collections import read_queries

    options = options or ShardBenchOptions()
    corpus = workdir / "corpus.jsonl"
    docs = take_corpus(collection / "corpus.jsonl", options.docs, corpus)
    queries = list(read_queries(collection / "queries.dev.tsv").values())[: options.queries]
    builds = bench_builds(corpus, workdir, docs, options)
    merge = bench_merge(workdir / "single", workdir / f"ray-{max(options.workers)}", queries, options.k)
    return {
        "collection": collection.name,
        "docs": docs,
        "encoder": options.encoder,
        "shards": options.shards,
        "queries": len(queries),
        "machine": machine_info(),
        "builds": builds,
        "merge": merge,
    }


def to_markdown(report: dict[str, Any]) -> str:
    """The report as two Markdown tables (builds, merge overhead)."""
    lines = [
        f"{report['docs']:,} documents of {report['collection']}, encoder {report['encoder']}, "
        f"{report['shards']} shards.",
        "",
        f"| engine | workers | build s | docs/s | Ray start-up s | warm-up build s ({WARMUP_DOCS} docs) | "
        "docs/s cold (incl. start-up and warm-up) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["builds"]:
        lines.append(
            f"| {row['engine']} | {row['workers'] or '–'} | {row['build_s']} | {row['docs_per_s']} | "
            f"{row['startup_s'] or '–'} | {row['warmup_s'] or '–'} | {row['docs_per_s_cold']} |"
        )
    lines += [
        "",
        f"Search, {report['queries']} queries one at a time, in process, the two indexes timed in turns (ms):",
        "",
        "| mode | 1 index p50 | 2 shards p50 | overhead p50 | paired median overhead | 1 index p99 "
        "| 2 shards p99 | retrieval stage p50 (1 index → 2 shards) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["merge"]:
        stage = "sparse" if row["mode"] == "sparse" else "dense"
        lines.append(
            f"| {row['mode']} | {row['single_p50_ms']} | {row['sharded_p50_ms']} | "
            f"{row['overhead_p50_ms']:+} ms ({row['overhead_pct']:+}%) | {row['paired_median_ms']:+} ms | "
            f"{row['single_p99_ms']} | "
            f"{row['sharded_p99_ms']} | {stage}: {row[f'single_{stage}_stage_p50_ms']} → "
            f"{row[f'sharded_{stage}_stage_p50_ms']} |"
        )
    return "\n".join(lines) + "\n"
