"""Micro-batching: concurrent single-query searches answered together, in batches.

Under concurrency the cost of a query is dominated by work that is far cheaper per query in a batch
(one encoder call for many queries, one FAISS scan for many vectors) and by threads fighting over the
GIL and the encoder's lock. :class:`QueryBatcher` lets at most ``workers`` batched calls run at once.
A query that finds the batcher idle (nothing running, nothing queued) is answered at once in its
caller's thread (no hand-off: latency at concurrency 1 is that of a plain call); one that arrives while
others are being answered is queued, and drains on the process's shared batch threads
(:mod:`passerelle.service.threads`: no thread is started per batcher, so reloads start none) answer what is
queued (up to ``max_batch`` queries with equal parameters) with one batched call. Nothing ever waits for a
batch to fill: batches form only from queries that arrived while others were being answered.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from passerelle.service.threads import BATCH_THREADS, shared_pool

logger = logging.getLogger(__name__)

P = TypeVar("P")  # compared with ==, never hashed (SearchParams may hold a dict)
R = TypeVar("R")


class BatcherClosedError(RuntimeError):
    """The batcher was closed: its index is being unloaded."""


@dataclass(eq=False)
class _Request(Generic[P, R]):
    query: str
    params: P
    done: threading.Event = field(default_factory=threading.Event)
    result: R | None = None
    error: BaseException | None = None


@dataclass
class BatchStats:
    """Counters since the batcher started (read without locking: approximate while it runs)."""

    batches: int = 0
    queries: int = 0
    largest: int = 0


class QueryBatcher(Generic[P, R]):
    """Answers single queries by batching those that arrive together.

    Args:
        run_batch: answers a list of queries sharing one parameter object, one result per query, in order.
        max_batch: most queries answered by one call.
        workers: batched calls running at once (callers answering their own query included); as many
            drains answer the queue, on the shared batch threads.
    """

    def __init__(
        self, run_batch: Callable[[list[str], P], Sequence[R]], *, max_batch: int = 16, workers: int = 1
    ) -> None:
        if max_batch < 1 or workers < 1:
            raise ValueError("max_batch and workers must be at least 1")
        self._run_batch = run_batch
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: deque[_Request[P, R]] = deque()
        self._closed = False
        self._slots = workers
        self._running = 0  # batched calls in progress, in drains or in callers
        self._drains = 0  # drains submitted to the shared threads and not finished
        self.stats = BatchStats()

    def submit(self, query: str, params: P) -> R:
        """Answer one query (blocking); raises what the batched call raised.

        Raises:
            BatcherClosedError: the batcher was closed.
        """
        request: _Request[P, R] = _Request(query, params)
        with self._cond:
            if self._closed:
                raise BatcherClosedError("this index is closed")
            inline = self._running == 0 and not self._queue  # idle: no batch is running or waiting
            if inline:
                self._running += 1
            else:
                self._queue.append(request)
                self._cond.notify()
                if self._drains < self._slots:
                    self._drains += 1
                    shared_pool("batch", BATCH_THREADS).submit(self._drain)
        if inline:  # answer it here, without a thread hand-off
            try:
                self._answer([request])
            finally:
                self._release()
        else:
            request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result  # type: ignore[return-value]

    def _release(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()  # a worker may take what was queued meanwhile

    def close(self) -> None:
        """Return once the queued queries are answered; later submits raise."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            while self._drains:
                self._cond.wait()

    def _drain(self) -> None:
        """Answer queued batches until the queue is empty (then give the shared thread back)."""
        while True:
            with self._cond:
                while self._queue and not self._closed and self._running >= self._slots:
                    self._cond.wait()
                if not self._queue:
                    self._drains -= 1
                    self._cond.notify_all()  # close() may be waiting for the last drain
                    return
                batch = self._take()
                self._running += 1
            try:
                self._answer(batch)
            finally:
                self._release()

    def _take(self) -> list[_Request[P, R]]:
        """The oldest query and the queued ones with equal parameters (at most ``max_batch``); the lock is held."""
        first = self._queue.popleft()
        batch: list[_Request[P, R]] = [first]
        others: list[_Request[P, R]] = []
        while self._queue and len(batch) < self.max_batch:
            request = self._queue.popleft()
            (batch if request.params == first.params else others).append(request)
        self._queue.extendleft(reversed(others))  # back at the front, in their order
        return batch

    def _answer(self, batch: list[_Request[P, R]]) -> None:
        try:
            results = self._run_batch([r.query for r in batch], batch[0].params)
            if len(results) != len(batch):
                raise RuntimeError(f"batched search answered {len(results)} results for {len(batch)} queries")
            for request, result in zip(batch, results, strict=True):
                request.result = result
        except BaseException as exc:  # every caller in the batch gets the failure, the worker survives
            for request in batch:
                request.error = exc
        finally:
            self.stats.batches += 1
            self.stats.queries += len(batch)
            self.stats.largest = max(self.stats.largest, len(batch))
            for request in batch:
                request.done.set()
