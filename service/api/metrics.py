"""Prometheus metrics of one app (its own ``CollectorRegistry``, so several apps can live in a process)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from passerelle.service.query_translation import CacheStats

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The counters, gauges and histograms the service exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "passerelle_http_requests", "HTTP requests answered.", ["method", "route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "passerelle_http_request_duration_seconds",
            "HTTP request latency.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.search_seconds = Histogram(
            "passerelle_search_duration_seconds",
            "Search latency by mode and index (a batch request counts once).",
            ["mode", "index"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter("passerelle_errors", "Error responses by error type.", ["error", "status"], registry=r)
        self.rejected = Counter(
            "passerelle_rejected_requests", "Requests refused with 503 (all slots busy).", registry=r
        )
        self.in_flight = Gauge("passerelle_requests_in_flight", "Requests holding a worker slot.", registry=r)
        self.reloads = Counter(
            "passerelle_index_reloads", "Index reloads by outcome.", ["index", "outcome"], registry=r
        )

    def watch_query_translation(self, stats: Callable[[], CacheStats]) -> None:
        """Export the query-translation cache's lookups (hit / miss) and entries, read from ``stats`` at
        each scrape (the cache keeps its own counters: it is shared by every index and reload)."""
        self.registry.register(_TranslationCacheCollector(stats))

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _TranslationCacheCollector:
    def __init__(self, stats: Callable[[], CacheStats]) -> None:
        self._stats = stats

    def describe(self) -> list[Metric]:
        return []  # nothing to read at registration: the translator may not exist yet

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        lookups = CounterMetricFamily(
            "passerelle_query_translation_cache_lookups",
            "Query translation cache lookups (translate_query=true) by result.",
            labels=["result"],
        )
        lookups.add_metric(["hit"], stats.hits)
        lookups.add_metric(["miss"], stats.misses)
        yield lookups
        yield GaugeMetricFamily(
            "passerelle_query_translation_cache_entries",
            "Translations held in the query translation cache.",
            value=stats.size,
        )


class MetricsMiddleware:
    """ASGI middleware counting requests and timing them, labelled by route template (not raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.request_seconds.labels(method, template).observe(time.perf_counter() - start)
