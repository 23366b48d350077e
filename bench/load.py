"""An open-loop HTTP load generator: requests launched on a schedule (aiohttp), whatever the latency,
in phases of given rates, with the server process's resident memory sampled while it runs.

Open loop on purpose: a closed loop (send the next request when the last answers) slows down with the
server and hides queueing; here request ``i`` of a phase leaves at ``phase start + i / rate``.

Every request's outcome is kept (phase, when it left, latency, status), so one run can be cut into
phases afterwards: the steady part, a burst, the recovery after it (:class:`LoadReport`).
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Request = tuple[str, str, dict[str, Any] | None]  # method, path (with query string), JSON body

REFUSED = "HTTP 503"  # the designed answer of an overloaded server (with Retry-After)


@dataclass(frozen=True)
class Phase:
    """``rate`` requests a second for ``duration_s`` seconds."""

    name: str
    rate: float
    duration_s: float

    @property
    def count(self) -> int:
        return round(self.rate * self.duration_s)


@dataclass(frozen=True)
class Outcome:
    """One request: its phase, when it left (seconds after the run started), latency and result."""

    phase: str
    sent_s: float
    latency_ms: float
    kind: str  # "ok", "HTTP 503" (with Retry-After), "HTTP 503 without Retry-After", "HTTP 500", "ReadTimeout"...


@dataclass
class LoadReport:
    """Outcomes of a run (or of some of its phases) and the server's memory meanwhile."""

    outcomes: list[Outcome] = field(default_factory=list)
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds after start, MiB), one a second
    elapsed_s: float = 0.0

    def only(self, *phases: str) -> LoadReport:
        """The outcomes of ``phases`` (and the memory samples taken while they were sent)."""
        picked = [o for o in self.outcomes if o.phase in phases]
        if not picked:
            return LoadReport(elapsed_s=0.0)
        first, last = min(o.sent_s for o in picked), max(o.sent_s for o in picked)
        rss = [(t, mb) for t, mb in self.rss_mb if first <= t <= last + 1]
        return LoadReport(picked, rss, last - first)

    @property
    def sent(self) -> int:
        return len(self.outcomes)

    @property
    def ok(self) -> int:
        return sum(o.kind == "ok" for o in self.outcomes)

    @property
    def refused(self) -> int:
        return sum(o.kind == REFUSED for o in self.outcomes)

    @property
    def errors(self) -> Counter[str]:
        """Every outcome that is neither a success nor a refusal with Retry-After."""
        return Counter(o.kind for o in self.outcomes if o.kind not in ("ok", REFUSED))

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def latencies_ms(self, kind: str = "ok") -> list[float]:
        return [o.latency_ms for o in self.outcomes if o.kind == kind]

    def percentile(self, q: float, kind: str = "ok") -> float:
        """Latency percentile ``q`` (0-100) in ms of the outcomes of ``kind``, nearest rank."""
        return percentile(self.latencies_ms(kind), q)

    def summary(self) -> dict[str, Any]:
        """Figures for a report (JSON-ready)."""
        ok, refused = self.latencies_ms("ok"), self.latencies_ms(REFUSED)
        rss = [mb for _, mb in self.rss_mb] or [float("nan")]
        third = max(len(rss) // 3, 1)
        # warm: the middle third (caches, thread pool and allocator arenas have grown by then); end: the last third
        warm, end = statistics.median(rss[third : 2 * third] or rss), statistics.median(rss[2 * third :] or rss)
        span = (self.outcomes[-1].sent_s - self.outcomes[0].sent_s) if len(self.outcomes) > 1 else 0.0
        return {
            "sent": self.sent,
            # the rate the client really reached (a client on a busy machine launches late, never early)
            "achieved_rate_per_s": round((self.sent - 1) / span, 1) if span > 0 else None,
            "ok": self.ok,
            "refused_503": self.refused,
            "errors": self.error_count,
            "errors_by_kind": dict(self.errors),
            "elapsed_s": round(self.elapsed_s, 1),
            "p50_ms": _round(percentile(ok, 50)),
            "p99_ms": _round(percentile(ok, 99)),
            "max_ms": _round(max(ok, default=float("nan"))),
            "refused_p99_ms": _round(percentile(refused, 99)),
            "refused_max_ms": _round(max(refused, default=float("nan"))),
            "rss_start_mb": _round(rss[0]),
            "rss_warm_mb": _round(warm),
            "rss_end_mb": _round(end),
            "rss_max_mb": _round(max(rss)),
            "rss_growth_after_warmup_mb": _round(end - warm),
        }


def percentile(values: Sequence[float], q: float) -> float:
    """Percentile ``q`` (0-100) of ``values``, nearest rank; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def _round(value: float) -> float | None:
    return None if value != value else round(value, 1)  # NaN -> null in JSON


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` and its children, in MiB (the JVM runs inside the process)."""
    import psutil

    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return float(total) / 2**20


async def run_phases(
    base_url: str,
    requests: Sequence[Request],
    phases: Sequence[Phase],
    *,
    pid: int | None = None,
    timeout_s: float = 30.0,
) -> LoadReport:
    """Send ``requests`` (cycled) phase after phase at each phase's rate and wait for every answer."""
    import aiohttp

    report = LoadReport()
    # aiohttp, not httpx: at a few hundred requests/s with thousands in flight, httpx's connection pool spent
    # the generator's core matching waiting requests to connections (a scan of every connection per request:
    # py-spy, twice a 136/s capacity), so the generator, not the server, fell behind and the latencies it
    # measured were its own. No cap on connections: an open-loop generator must not queue in its client.
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    stop_sampling = asyncio.Event()
    start = time.perf_counter()

    async def sample() -> None:
        while pid is not None and not stop_sampling.is_set():
            report.rss_mb.append((time.perf_counter() - start, rss_mb(pid)))
            try:
                await asyncio.wait_for(stop_sampling.wait(), timeout=1.0)
            except TimeoutError:
                continue

    async def one(session: aiohttp.ClientSession, phase: str, request: Request) -> None:
        method, path, body = request
        sent = time.perf_counter()
        try:
            async with session.request(method, base_url + path, json=body) as response:
                await response.read()
                kind = _kind(response.status, "Retry-After" in response.headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            kind = type(exc).__name__
        report.outcomes.append(Outcome(phase, sent - start, (time.perf_counter() - sent) * 1000, kind))

    cycle = itertools.cycle(requests)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        sampler = asyncio.create_task(sample())
        tasks = []
        phase_start = start
        for phase in phases:
            for i in range(phase.count):
                delay = phase_start + i / phase.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(session, phase.name, next(cycle))))
            phase_start += phase.duration_s
        await asyncio.gather(*tasks)
        report.elapsed_s = time.perf_counter() - start
        stop_sampling.set()
        await sampler
    report.outcomes.sort(key=lambda o: o.sent_s)
    return report


def _kind(status: int, retry_after: bool) -> str:
    if status < 400:
        return "ok"
    if status == 503:
        return REFUSED if retry_after else "HTTP 503 without Retry-After"
    return f"HTTP {status}"


def recovery_s(report: LoadReport, after_s: float, bound_ms: float) -> float:
    """Seconds after ``after_s`` (the end of a burst) until every request sent is a success within ``bound_ms``:
    the send time of the last request that was not, minus ``after_s`` (0 when none was)."""
    late = [o.sent_s for o in report.outcomes if o.sent_s >= after_s and (o.kind != "ok" or o.latency_ms > bound_ms)]
    return round(max(late) - after_s, 2) if late else 0.0
