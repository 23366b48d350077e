"""An open-loop load generator: requests launched at a fixed rate (async httpx), whatever the latency,
with the server process's resident memory sampled (psutil) while it runs.

Open loop on purpose: a closed loop (send the next request when the last answers) slows down with the
server and hides queueing; here request ``i`` leaves at ``start + i / rate``.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from passerelle.bench.load import rss_mb

Request = tuple[str, str, dict[str, Any] | None]  # method, path (with query string), JSON body


@dataclass
class LoadReport:
    """What one load run sent, what came back, and the server's memory meanwhile."""

    rate: float
    duration_s: float
    sent: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # "HTTP 503", "ReadTimeout"...
    latencies_ms: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)  # one sample a second, from the first request on
    elapsed_s: float = 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def percentile(self, q: float) -> float:
        """Latency percentile ``q`` (0-100) in ms, nearest rank."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]

    def summary(self) -> dict[str, Any]:
        """Figures for a report (JSON-ready)."""
        rss = self.rss_mb or [float("nan")]
        third = max(len(rss) // 3, 1)
        # warm: the middle third of the run (caches, thread pool and allocator arenas have grown by then);
        # end: the last third. Flat memory means end ~ warm.
        warm, end = statistics.median(rss[third : 2 * third] or rss), statistics.median(rss[2 * third :] or rss)
        return {
            "rate_per_s": self.rate,
            "duration_s": self.duration_s,
            "elapsed_s": round(self.elapsed_s, 1),
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.error_count,
            "errors_by_kind": dict(self.errors),
            "p50_ms": round(self.percentile(50), 1),
            "p99_ms": round(self.percentile(99), 1),
            "max_ms": round(max(self.latencies_ms, default=float("nan")), 1),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 1) if self.latencies_ms else None,
            "rss_start_mb": round(rss[0], 1),
            "rss_warm_mb": round(warm, 1),
            "rss_end_mb": round(end, 1),
            "rss_last_mb": round(rss[-1], 1),
            "rss_max_mb": round(max(rss), 1),
            "rss_growth_after_warmup_mb": round(end - warm, 1),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "rss_samples_mb": [round(r, 1) for r in self.rss_mb],
            "config": {k: v for k, v in asdict(self).items() if k in ("rate", "duration_s")},
        }


async def run_load(
    base_url: str,
    requests: Sequence[Request],
    *,
    rate: float,
    duration_s: float,
    pid: int | None = None,
    timeout_s: float = 30.0,
) -> LoadReport:
    """Send ``requests`` (cycled) at ``rate`` per second for ``duration_s`` seconds and wait for every answer."""
    report = LoadReport(rate=rate, duration_s=duration_s)
    total = int(rate * duration_s)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    stop_sampling = asyncio.Event()

    async def sample() -> None:
        while pid is not None and not stop_sampling.is_set():
            report.rss_mb.append(rss_mb(pid))
            try:
                await asyncio.wait_for(stop_sampling.wait(), timeout=1.0)
            except TimeoutError:
                continue
        if pid is not None:
            report.rss_mb.append(rss_mb(pid))

    async def one(client: httpx.AsyncClient, request: Request) -> None:
        method, path, body = request
        start = time.perf_counter()
        try:
            response = await client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            report.errors[type(exc).__name__] += 1
            return
        report.latencies_ms.append((time.perf_counter() - start) * 1000)
        if response.is_success:
            report.ok += 1
        elif response.status_code == 503 and "retry-after" not in response.headers:
            report.errors["HTTP 503 without Retry-After"] += 1
        else:
            report.errors[f"HTTP {response.status_code}"] += 1

    async with httpx.AsyncClient(base_url=base_url, timeout=timeout_s, limits=limits) as client:
        sampler = asyncio.create_task(sample())
        tasks = []
        start = time.perf_counter()
        for i, request in zip(range(total), itertools.cycle(requests), strict=False):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, request)))
            report.sent += 1
        await asyncio.gather(*tasks)
        report.elapsed_s = time.perf_counter() - start
        stop_sampling.set()
        await sampler
    return report
