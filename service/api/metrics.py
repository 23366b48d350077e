"""Prometheus metrics of one app (its own ``CollectorRegistry``, so several apps can live in a process)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from passerelle.service.cluster.calls import CallStats
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
            "passerelle_rejected_requests", "Requests refused with 503 by admission control.", registry=r
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


def watch_store_calls(metrics: Metrics, stats: CallStats) -> None:
    """Export the ingress's calls to store deployments (Ray Serve): calls, retries on another replica,
    calls that failed in the end (answered 503) and their seconds, by deployment."""
    metrics.registry.register(_StoreCallsCollector(stats))


class _StoreCallsCollector:
    _FAMILIES = (
        ("calls", "passerelle_store_calls", "Calls from the ingress to store deployments (one per fan-out branch)."),
        ("retries", "passerelle_store_call_retries", "Calls retried on another replica (the first one died)."),
        ("failures", "passerelle_store_call_failures", "Calls that failed in the end (answered 503)."),
        ("seconds", "passerelle_store_call_seconds", "Seconds spent waiting for store deployments."),
    )

    def __init__(self, stats: CallStats) -> None:
        self._stats = stats

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        with self._stats.lock:
            values = {field: dict(getattr(self._stats, field)) for field, _, _ in self._FAMILIES}
        for field, name, documentation in self._FAMILIES:
            family = CounterMetricFamily(name, documentation, labels=["deployment"])
            for deployment, value in sorted(values[field].items()):
                family.add_metric([deployment], value)
            yield family


def merge_expositions(texts: Sequence[bytes]) -> bytes:
    """Prometheus expositions of several processes as one: samples with the same name and labels summed
    (counters, histogram buckets and sums, gauges such as requests in flight); ``*_created`` timestamps
    take the earliest."""
    from prometheus_client.parser import text_string_to_metric_families

    families: dict[str, tuple[str, str]] = {}
    samples: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text.decode("utf-8")):
            families.setdefault(family.name, (family.documentation, family.type))
            merged = samples.setdefault(family.name, {})
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in merged:
                    merged[key] = sample.value
                elif sample.name.endswith("_created"):
                    merged[key] = min(merged[key], sample.value)
                else:
                    merged[key] += sample.value
    lines = []
    for name, (documentation, kind) in families.items():
        help_text = documentation.replace("\\", r"\\").replace("\n", r"\n")
        declared = f"{name}_total" if kind == "counter" else name  # as prometheus_client writes counters
        lines += [f"# HELP {declared} {help_text}", f"# TYPE {declared} {kind}"]
        for (sample_name, labels), value in samples[name].items():
            label_text = ",".join(f'{key}="{_escape(value_)}"' for key, value_ in labels)
            lines.append(
                f"{sample_name}{{{label_text}}} {_number(value)}" if labels else f"{sample_name} {_number(value)}"
            )
    return ("\n".join(lines) + "\n").encode("utf-8")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
