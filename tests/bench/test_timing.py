"""The timing harness: percentiles, QPS, concurrency, errors."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from passerelle.bench.timing import BenchmarkError, measure, percentile_ms, summarize


def test_percentiles_interpolate_like_numpy() -> None:
    latencies = [0.001, 0.002, 0.003, 0.004]
    assert percentile_ms(latencies, 50) == pytest.approx(2.5)  # halfway between 2 and 3 ms
    assert percentile_ms(latencies, 99) == pytest.approx(1 + 0.99 * 3)  # 1 ms + 99% of the 3 ms range
    assert percentile_ms(latencies, 0) == pytest.approx(1.0)


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(BenchmarkError):
        percentile_ms([], 50)
    with pytest.raises(BenchmarkError):
        percentile_ms([0.1], 101)


def test_summary_qps_is_queries_over_wall_time() -> None:
    stats = summarize("x", 4, [0.010] * 8, wall_s=0.02)
    assert stats.qps == pytest.approx(8 / 0.02)
    assert stats.p50_ms == pytest.approx(10.0)
    assert stats.mean_ms == pytest.approx(10.0)
    assert stats.concurrency == 4 and stats.queries == 8


def test_measure_answers_every_query_in_order_with_concurrency() -> None:
    seen: list[str] = []
    threads: set[str] = set()
    lock = threading.Lock()

    def search(query: str) -> list[tuple[str, float]]:
        time.sleep(0.002)
        with lock:
            seen.append(query)
            threads.add(threading.current_thread().name)
        return [(f"doc-{query}", float(len(query)))]

    queries = [f"q{i}" for i in range(20)]
    stats, answers = measure("fake", search, queries, concurrency=4, warmup=2)
    assert answers == [[(f"doc-{q}", float(len(q)))] for q in queries]
    assert len(seen) == 20 + 2  # every query once, plus the warm-up
    assert len(threads) > 1
    assert stats.queries == 20
    assert stats.qps == pytest.approx(20 / stats.seconds, rel=0.01)
    assert stats.p50_ms >= 2.0


def test_measure_single_worker_latencies_add_up_to_wall_time() -> None:
    stats, _ = measure("fake", lambda q: (time.sleep(0.003), [])[1], ["a"] * 10, concurrency=1, warmup=0)
    assert stats.mean_ms * stats.queries / 1000 == pytest.approx(stats.seconds, rel=0.2)


def test_measure_names_the_system_that_failed() -> None:
    def search(query: str) -> list[tuple[str, float]]:
        if query == "bad":
            raise ValueError("boom")
        return []

    with pytest.raises(BenchmarkError, match="broken: a search failed: ValueError"):
        measure("broken", search, ["ok", "bad", "ok"], concurrency=2, warmup=0)
    with pytest.raises(BenchmarkError):
        measure("none", search, [], concurrency=1)
    with pytest.raises(BenchmarkError):
        measure("zero", search, ["ok"], concurrency=0)


def test_stats_are_plain_json() -> None:
    stats = summarize("x", 1, list(np.linspace(0.001, 0.1, 50)), wall_s=1.0)
    assert set(stats.to_dict()) == {"system", "concurrency", "queries", "seconds", "qps", "p50_ms", "p99_ms", "mean_ms"}


def test_measure_batches_counts_queries_not_calls() -> None:
    from passerelle.bench.timing import measure_batches

    calls: list[list[str]] = []

    def search_batch(group: list[str]) -> list[list[tuple[str, float]]]:
        calls.append(group)
        time.sleep(0.002)  # so that the wall time is well above its rounding (1 µs)
        return [[(q, 1.0)] for q in group]

    stats, answers = measure_batches("b", search_batch, [f"q{i}" for i in range(7)], batch=3, warmup=1)
    assert calls[1:] == [["q0", "q1", "q2"], ["q3", "q4", "q5"], ["q6"]]  # after one warm-up batch
    assert answers == [[(f"q{i}", 1.0)] for i in range(7)]
    assert stats.queries == 7 and stats.qps == pytest.approx(7 / stats.seconds, rel=0.01)
    with pytest.raises(BenchmarkError, match="2 answers for a batch of 3"):
        measure_batches("short", lambda g: [[]] * 2, ["a", "b", "c"], batch=3, warmup=0)


def test_a_row_is_the_median_pass_and_lists_every_pass() -> None:
    from passerelle.bench.search import median_pass

    passes = [{"qps": 180.0, "p50_ms": 5.0}, {"qps": 120.0, "p50_ms": 9.0}, {"qps": 150.0, "p50_ms": 6.0}]
    assert median_pass(passes) == {"qps": 150.0, "p50_ms": 6.0, "qps_rounds": [180.0, 120.0, 150.0]}
    assert median_pass(passes[:2])["qps"] == 120.0  # even count: the lower middle, never flattering
    assert median_pass(passes[:1])["qps_rounds"] == [180.0]
    with pytest.raises(BenchmarkError):
        median_pass([])
