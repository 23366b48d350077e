"""Micro-batching: concurrent single queries answered together, each caller getting its own answer."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import read_tsv

from passerelle.service.batching import BatcherClosedError, QueryBatcher
from passerelle.service.searcher import Searcher, SearchParams


class GatedBatches:
    """A batched call that records each batch and holds the first one until released."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[str], str]] = []
        self.first_started = threading.Event()
        self.release = threading.Event()

    def __call__(self, queries: list[str], params: str) -> list[str]:
        self.batches.append((list(queries), params))
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.release.wait(10)
        if "boom" in queries:
            raise ValueError("bad query in batch")
        return [f"{params}:{q}" for q in queries]


def _submit_all(batcher: QueryBatcher[str, str], calls: list[tuple[str, str]], pool: ThreadPoolExecutor) -> list:
    return [pool.submit(batcher.submit, query, params) for query, params in calls]


def test_queries_queued_while_a_batch_runs_are_answered_together() -> None:
    run = GatedBatches()
    batcher: QueryBatcher[str, str] = QueryBatcher(run, max_batch=4)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(batcher.submit, "q0", "p")
        assert run.first_started.wait(10)
        queued = _submit_all(batcher, [(f"q{i}", "p") for i in range(1, 7)], pool)
        while len(batcher._queue) < 6:  # all six are waiting behind the first batch
            threading.Event().wait(0.001)
        run.release.set()
        assert first.result(10) == "p:q0"
        assert [f.result(10) for f in queued] == [f"p:q{i}" for i in range(1, 7)]
    assert [len(queries) for queries, _ in run.batches] == [1, 4, 2]  # max_batch caps a batch
    assert batcher.stats.queries == 7 and batcher.stats.largest == 4
    batcher.close()


def test_only_queries_with_equal_parameters_share_a_batch() -> None:
    run = GatedBatches()
    batcher: QueryBatcher[str, str] = QueryBatcher(run, max_batch=8)
    with ThreadPoolExecutor(8) as pool:
        pool.submit(batcher.submit, "q0", "a")
        assert run.first_started.wait(10)
        calls = [("q1", "a"), ("q2", "b"), ("q3", "a"), ("q4", "b")]
        futures = []
        for call in calls:  # queued in this order
            futures.append(pool.submit(batcher.submit, *call))
            while len(batcher._queue) < len(futures):
                threading.Event().wait(0.001)
        run.release.set()
        assert [f.result(10) for f in futures] == ["a:q1", "b:q2", "a:q3", "b:q4"]
    assert run.batches[1:] == [(["q1", "q3"], "a"), (["q2", "q4"], "b")]
    batcher.close()


def test_a_failed_batch_fails_its_callers_and_the_batcher_keeps_working() -> None:
    run = GatedBatches()
    run.release.set()
    batcher: QueryBatcher[str, str] = QueryBatcher(run, max_batch=4)
    with pytest.raises(ValueError, match="bad query"):
        batcher.submit("boom", "p")
    assert batcher.submit("fine", "p") == "p:fine"
    batcher.close()
    with pytest.raises(BatcherClosedError):
        batcher.submit("late", "p")


def test_batched_searcher_answers_exactly_as_the_direct_one(sample_index: Path, sample_dir: Path) -> None:
    queries = list(read_tsv(sample_dir / "queries.dev.tsv").values())
    direct = Searcher.open(sample_index, query_threads=1)
    batched = Searcher(direct.index, micro_batch=8, search_workers=2)
    try:
        for params in (SearchParams(), SearchParams(mode="dense", k=5), SearchParams(fusion="rrf", explain=True)):
            expected = [direct.search(q, params) for q in queries]
            with ThreadPoolExecutor(8) as pool:
                got = list(pool.map(lambda q, p=params: batched.search(q, p), queries))
            for want, have in zip(expected, got, strict=True):
                assert [h.doc_id for h in have.hits] == [h.doc_id for h in want.hits]
                assert [h.score for h in have.hits] == pytest.approx([h.score for h in want.hits], abs=1e-5)
                assert have.query_lang == want.query_lang
        assert batched.batcher is not None and batched.batcher.stats.queries == 3 * len(queries)
    finally:
        batched.close()


def test_a_lone_query_is_answered_in_its_callers_thread() -> None:
    batcher: QueryBatcher[str, str] = QueryBatcher(
        lambda queries, params: [threading.current_thread().name for _ in queries], max_batch=4, workers=2
    )
    assert batcher.submit("q", "p") == threading.current_thread().name  # no hand-off to a worker
    assert batcher._drains == 0  # nothing was queued: no drain was handed to the shared threads
    batcher.close()


def test_batchers_of_reloaded_indexes_share_long_lived_threads() -> None:
    """Every reload makes a new batcher; each one starting threads of its own grew the server's memory without
    end (native libraries keep per-thread state after a thread exits). Queued work of twenty batchers in turn
    is answered by a few threads of the shared pool, the same ones again and again."""
    drained_by: set[threading.Thread] = set()

    def run(queries: list[str], params: str) -> list[str]:
        threading.Event().wait(0.02)
        drained_by.add(threading.current_thread())
        return list(queries)

    for _ in range(20):
        batcher: QueryBatcher[str, str] = QueryBatcher(run, max_batch=4, workers=1)
        callers = [threading.Thread(target=batcher.submit, args=(f"q{i}", "p")) for i in range(3)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        batcher.close()
        assert batcher._drains == 0
    answered_by_a_drain = {thread for thread in drained_by if thread.name.startswith("passerelle-batch")}
    assert answered_by_a_drain, "no query was queued: the test did not exercise the drains"
    assert len(answered_by_a_drain) <= 2


def test_never_more_batched_calls_at_once_than_workers() -> None:
    lock, running, peak = threading.Lock(), [0], [0]

    def slow(queries: list[str], params: str) -> list[str]:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        threading.Event().wait(0.02)
        with lock:
            running[0] -= 1
        return list(queries)

    batcher: QueryBatcher[str, str] = QueryBatcher(slow, max_batch=3, workers=2)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: batcher.submit(f"q{i}", "p"), range(40)))
    assert answers == [f"q{i}" for i in range(40)]
    assert peak[0] <= 2 and batcher.stats.queries == 40 and batcher.stats.largest <= 3
    batcher.close()
