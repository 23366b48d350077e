"""Admission control: refuse a request at once when it would wait too long, instead of queueing it.

A fixed number of slots either sheds bursts the server could absorb (too few) or lets the queue grow
until answers take seconds (too many). Here a request is admitted when the wait predicted for it is
within ``max_wait_s``:

    predicted wait = requests in flight x recent time between completions while busy + event loop lag

The time between completions while the server is busy is its recent service time per slot (service
time / parallelism, whatever the mix of requests and the micro-batching): the mean over the last
``WINDOW`` completions (a micro-batch completes many requests at once: one long gap, then none, so a
plain mean over a window, not a clipped or median one, is unbiased). An idle server always admits
(nothing ahead of the request), so a stale estimate cannot lock it, and so does one with fewer than
``floor`` requests in flight (micro-batching needs a few together to reach its throughput).
``limit`` stays as a hard bound on requests in flight.

Refusals start only once the predicted wait has stayed over the bound for ``grace_s`` (and stop once
it falls to half the bound): a stall of the whole process (its CPU taken by other work for a second)
releases a bunch of requests at once with a large predicted wait that clears by itself, and should
not turn into errors; a real overload lasts.

The event loop lag (how late a timer fires, :meth:`Admission.watch_loop`) covers the requests that wait
before they reach admission at all: parsing and answering run on the one event loop, and when it is
saturated the requests queue there, unseen by the count in flight.

A refused request gets 503 with ``Retry-After`` (the predicted wait, rounded up, at least
``retry_after_s``) before any search work is done: within milliseconds.

Everything here runs on the event loop thread (routes enter and leave there): no lock is needed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from passerelle.service.errors import ServiceUnavailableError

if TYPE_CHECKING:
    from passerelle.service.api.metrics import Metrics

WINDOW = 64  # completions the time between completions is averaged over
LAG_PERIOD_S = 0.05  # how often the event loop lag is sampled


class Admission:
    """Admits a request while its predicted wait is within ``max_wait_s`` and fewer than ``limit`` are in flight."""

    def __init__(
        self,
        limit: int,
        retry_after_s: int,
        metrics: Metrics | None = None,
        *,
        max_wait_s: float | None = None,
        floor: int = 1,
        grace_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.metrics = metrics
        self.max_wait_s = max_wait_s  # None or 0: slots only
        self.floor = max(floor, 1)
        self.grace_s = grace_s
        self._over_since: float | None = None  # since when the predicted wait is over the bound
        self.clock = clock
        self.active = 0
        self.gap_s = 0.0  # recent time between completions while busy (service time per slot)
        self._gaps: collections.deque[float] = collections.deque(maxlen=WINDOW)
        self._last_event = 0.0  # last completion, or when the server last became busy
        self.loop_lag_s = 0.0  # recent lateness of the event loop

    def predicted_wait_s(self) -> float:
        """How long a request arriving now is expected to wait before it is served."""
        return self.active * self.gap_s + self.loop_lag_s

    async def watch_loop(self) -> None:
        """Sample the event loop's lag every ``LAG_PERIOD_S`` until cancelled (run it as a task of the app)."""
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(LAG_PERIOD_S)
            lag = max(loop.time() - start - LAG_PERIOD_S, 0.0)
            self.loop_lag_s = 0.5 * self.loop_lag_s + 0.5 * lag  # one stall counts half; saturation within a few

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one place among the requests in flight for the duration of a request.

        Raises:
            ServiceUnavailableError: the predicted wait is over ``max_wait_s``, or ``limit`` requests are in flight.
        """
        wait = self.predicted_wait_s()
        if self.active >= self.limit:
            self._refuse(f"all {self.limit} search slots are busy", wait)
        if self._overloaded(wait):
            self._refuse(
                f"the service is overloaded: a new search would wait about {wait * 1000:.0f} ms "
                f"(over max_queue_wait_ms={(self.max_wait_s or 0) * 1000:.0f})",
                wait,
            )
        if self.active == 0:
            self._last_event = self.clock()
        self.active += 1
        if self.metrics is not None:
            self.metrics.in_flight.inc()
        try:
            yield
        finally:
            now = self.clock()
            self._update(max(now - self._last_event, 0.0))
            self._last_event = now
            self.active -= 1
            if self.metrics is not None:
                self.metrics.in_flight.dec()

    def _overloaded(self, wait: float) -> bool:
        if not self.max_wait_s:
            return False
        if self.active < self.floor or wait <= self.max_wait_s / 2:
            self._over_since = None
            return False
        if wait <= self.max_wait_s:
            return False
        now = self.clock()
        if self._over_since is None:
            self._over_since = now
        return now - self._over_since >= self.grace_s

    def _update(self, gap: float) -> None:
        self._gaps.append(gap)
        self.gap_s = sum(self._gaps) / len(self._gaps)

    def _refuse(self, why: str, wait_s: float) -> None:
        retry = max(self.retry_after_s, math.ceil(wait_s))
        if self.metrics is not None:
            self.metrics.rejected.inc()
        raise ServiceUnavailableError(f"{why}; retry in {retry} s", retry_after_s=retry)
