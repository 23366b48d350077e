"""Latency and throughput of a search callable: the timing harness every benchmark shares.

A *search callable* takes one query text and returns its ranked ``(doc_id, score)`` list. The harness
runs it over a query list with ``c`` concurrent workers (threads sharing one queue of queries), and
reports queries per second over the wall-clock time of the whole pass and per-query latency
percentiles (p50, p99; linear interpolation between order statistics, numpy's default).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from passerelle.eval.errors import EvalError

Ranking = list[tuple[str, float]]
SearchFn = Callable[[str], Ranking]


class BenchmarkError(EvalError):
    """A benchmark cannot run as asked (missing tool, bad option, a system that failed)."""


@dataclass(frozen=True)
class LatencyStats:
    """One system at one concurrency: throughput and latency over ``queries`` searches."""

    system: str
    concurrency: int
    queries: int
    seconds: float
    qps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def percentile_ms(latencies_s: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of latencies given in seconds, in milliseconds.

    Raises:
        BenchmarkError: no latency given, or ``q`` outside [0, 100].
    """
    if not latencies_s:
        raise BenchmarkError("no latency to summarize")
    if not 0 <= q <= 100:
        raise BenchmarkError(f"percentile must be within [0, 100], got {q}")
    return float(np.percentile(np.asarray(latencies_s, dtype=np.float64), q) * 1000.0)


def summarize(system: str, concurrency: int, latencies_s: Sequence[float], wall_s: float) -> LatencyStats:
    """Stats of one pass: ``qps = len(latencies) / wall_s``, p50/p99/mean of the latencies."""
    if wall_s <= 0:
        raise BenchmarkError(f"wall-clock time must be positive, got {wall_s}")
    n = len(latencies_s)
    return LatencyStats(
        system=system,
        concurrency=concurrency,
        queries=n,
        seconds=round(wall_s, 6),
        qps=round(n / wall_s, 2),
        p50_ms=round(percentile_ms(latencies_s, 50), 3),
        p99_ms=round(percentile_ms(latencies_s, 99), 3),
        mean_ms=round(float(np.mean(latencies_s)) * 1000.0, 3),
    )


def measure(
    system: str, search: SearchFn, queries: Sequence[str], *, concurrency: int = 1, warmup: int = 3
) -> tuple[LatencyStats, list[Ranking]]:
    """Run ``search`` over every query with ``concurrency`` workers; return the stats and each answer.

    The first ``warmup`` queries are searched once beforehand, untimed (caches, JIT, connections).

    Raises:
        BenchmarkError: no query, concurrency below 1, or a search that raised (the first error, chained).
    """
    if not queries:
        raise BenchmarkError(f"{system}: no query to time")
    if concurrency < 1:
        raise BenchmarkError(f"concurrency must be at least 1, got {concurrency}")
    for query in queries[:warmup]:
        search(query)
    latencies = [0.0] * len(queries)
    answers: list[Ranking] = [[] for _ in queries]
    errors: list[BaseException] = []
    cursor = iter(range(len(queries)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                i = next(cursor, None)
            if i is None or errors:
                return
            start = time.perf_counter()
            try:
                answers[i] = search(queries[i])
            except BaseException as exc:  # surfaced below, with the system's name
                errors.append(exc)
                return
            latencies[i] = time.perf_counter() - start

    start = time.perf_counter()
    if concurrency == 1:
        work()
    else:
        threads = [threading.Thread(target=work, name=f"bench-{i}", daemon=True) for i in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    wall = time.perf_counter() - start
    if errors:
        raise BenchmarkError(f"{system}: a search failed: {errors[0]!r}") from errors[0]
    return summarize(system, concurrency, latencies, wall), answers


def measure_batches(
    system: str,
    search_batch: Callable[[list[str]], list[Ranking]],
    queries: Sequence[str],
    *,
    batch: int,
    warmup: int = 1,
) -> tuple[LatencyStats, list[Ranking]]:
    """Run ``search_batch`` over ``queries`` in consecutive groups of ``batch``, one worker.

    QPS counts queries (not calls); p50/p99 are per call (a whole batch). ``warmup`` batches run first,
    untimed. Returns the stats and each query's answer, in order.

    Raises:
        BenchmarkError: no query, ``batch`` below 1, or a call answered a different number of queries.
    """
    if not queries:
        raise BenchmarkError(f"{system}: no query to time")
    if batch < 1:
        raise BenchmarkError(f"batch size must be at least 1, got {batch}")
    groups = [list(queries[i : i + batch]) for i in range(0, len(queries), batch)]
    for group in groups[:warmup]:
        search_batch(group)
    latencies, answers = [], []
    start = time.perf_counter()
    for group in groups:
        begin = time.perf_counter()
        got = search_batch(group)
        latencies.append(time.perf_counter() - begin)
        if len(got) != len(group):
            raise BenchmarkError(f"{system}: {len(got)} answers for a batch of {len(group)} queries")
        answers.extend(got)
    wall = time.perf_counter() - start
    stats = summarize(system, 1, latencies, wall)
    return replace(stats, queries=len(queries), qps=round(len(queries) / wall, 2)), answers
