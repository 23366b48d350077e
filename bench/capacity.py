"""``passerelle bench capacity``: the highest request rate one ``passerelle serve`` process sustains over
HTTP with no error and a bounded p99.

The server runs in its own process on loopback with its default settings (admission control included).
An open-loop load (:mod:`passerelle.bench.load`) of the service's request mix is sent at increasing
rates, one step of ``step_s`` seconds each: from ``start_rate``, multiplied by ``growth`` until a step
fails, then bisected ``refine`` times between the last rate that passed and the first that failed. A
step passes when every request is answered 2xx (a 503 from admission control counts as a failure here)
and the p99 latency is within ``p99_bound_ms``. The capacity is the highest rate that passed.

The load generator runs on the same machine and takes CPU from the server: the capacity is that of a
server sharing its cores with its clients, an understatement of the server alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from passerelle.bench.env import load_average
from passerelle.bench.load import LoadReport, Phase, Request, run_phases
from passerelle.bench.timing import BenchmarkError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CapacityOptions:
    """How the rates are stepped and what a step must meet."""

    p99_bound_ms: float = 1000.0
    step_s: float = 20.0
    start_rate: float = 5.0
    growth: float = 1.5
    refine: int = 2
    max_rate: float = 1000.0


def request_mix(queries: Sequence[str], ids: Sequence[str]) -> list[Request]:
    """What a client of the service does: every search mode, GET and POST, explanations, batches of 4,
    document fetches (``ids``)."""
    if not queries or not ids:
        raise BenchmarkError("the request mix needs at least one query and one document id")
    mix: list[Request] = []
    for n, query in enumerate(queries):
        mode = ("hybrid", "dense", "sparse")[n % 3]
        mix.append(("POST", "/v1/search", {"query": query, "mode": mode, "k": 10, "explain": n % 2 == 0}))
        mix.append(("GET", "/v1/search?" + urlencode({"q": query, "mode": "hybrid", "k": 5}), None))
        if n % 4 == 0:
            batch = [queries[(n + i) % len(queries)] for i in range(4)]
            mix.append(("POST", "/v1/search/batch", {"queries": batch, "mode": "hybrid", "k": 5}))
        mix.append(("GET", f"/v1/documents/{ids[n % len(ids)]}", None))
    return mix


def passed(report: LoadReport, p99_bound_ms: float) -> bool:
    """Every request answered 2xx and the p99 within the bound."""
    return report.ok == report.sent > 0 and report.percentile(99) <= p99_bound_ms


def find_capacity(url: str, mix: Sequence[Request], options: CapacityOptions, pid: int | None = None) -> dict[str, Any]:
    """Step the rate as :class:`CapacityOptions` say against the server at ``url``; every step's figures."""
    steps: list[dict[str, Any]] = []

    def step(rate: float) -> bool:
        rate = round(float(rate), 1)
        report = asyncio.run(run_phases(url, mix, [Phase("step", rate, options.step_s)], pid=pid))
        ok = passed(report, options.p99_bound_ms)
        steps.append({"rate_per_s": rate, "passed": ok, "load_average": load_average(), **report.summary()})
        logger.info("capacity step %.1f/s: %s %s", rate, "pass" if ok else "FAIL", json.dumps(steps[-1]))
        return ok

    good, bad = 0.0, None
    rate = float(options.start_rate)
    while rate <= options.max_rate:
        if not step(rate):
            bad = rate
            break
        good, rate = rate, rate * options.growth
    if bad is not None:
        for _ in range(options.refine):
            middle = (good + bad) / 2
            if step(middle):
                good = middle
            else:
                bad = middle
    return {
        "capacity_per_s": round(float(good), 1),
        "first_failing_per_s": bad and round(float(bad), 1),
        "steps": steps,
    }


def sample_ids(url: str, queries: Sequence[str], n: int = 20) -> list[str]:
    """Document ids the index holds (the hits of the first queries); each query searched once (a warm-up)."""
    import httpx

    ids: list[str] = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for query in queries:
            response = client.post("/v1/search", json={"query": query, "k": 10})
            response.raise_for_status()
            ids += [hit["id"] for hit in response.json()["hits"] if hit["id"] not in ids]
            if len(ids) >= n:
                break
    return ids


def benchmark_capacity(
    indexes: Sequence[Path],
    queries: Mapping[str, str],
    workdir: Path,
    options: CapacityOptions,
    serve_args: Sequence[str] = (),
) -> dict[str, Any]:
    """The capacity of a ``passerelle serve`` process over each index of ``indexes`` (one after the other)."""
    from passerelle.bench.env import machine_info
    from passerelle.bench.server import serve

    texts = list(queries.values())
    results = []
    for index in indexes:
        manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
        with serve([index], workdir / f"capacity-{index.name}.log", args=serve_args) as server:
            ids = sample_ids(server.url, texts)
            mix = request_mix(texts, ids)
            for method, path, body in mix[: len(mix) // 2]:  # one pass over the mix: a warm server is measured
                with server.client() as client:
                    client.request(method, path, json=body)
            found = find_capacity(server.url, mix, options, server.process.pid)
            memory = server.memory_mb()
        results.append(
            {
                "index": index.name,
                "encoder": _encoder_name(manifest),
                "documents": _documents(manifest),
                "requests_in_mix": len(mix),
                "server_memory_mb": memory,
                **found,
            }
        )
    return {
        "benchmark": "capacity",
        "options": asdict(options),
        "serve_args": list(serve_args),
        "machine": machine_info(),
        "results": results,
    }


def _encoder_name(manifest: Mapping[str, Any]) -> str:
    encoder = manifest.get("encoder")
    if isinstance(encoder, Mapping):
        return str(encoder.get("name", "?"))
    return str(encoder or "?")


def _documents(manifest: Mapping[str, Any]) -> int | None:
    for key in ("documents", "num_documents", "doc_count"):
        value = manifest.get(key)
        if isinstance(value, int):
            return value
    return None


def to_markdown(report: Mapping[str, Any]) -> str:
    """The capacity section of docs/BENCHMARKS.md."""
    options = report["options"]
    lines = [
        "## Capacity of one server",
        "",
        f"`passerelle bench capacity`: the highest open-loop request rate one `passerelle serve` process answers "
        f"over loopback HTTP with **no error** (a 503 counts as one) and **p99 ≤ {options['p99_bound_ms']:.0f} ms**, "
        f"in steps of {options['step_s']:.0f} s (from {options['start_rate']:g}/s, ×{options['growth']:g} until a "
        f"step fails, then {options['refine']} bisections). The mix: every search mode, GET and POST, "
        "explanations, batches of 4, document fetches. The load generator shares the machine's cores.",
        "",
        "| Index | Encoder | Capacity (req/s) | First failing rate | p50 / p99 at capacity (ms) | Server RSS (MiB) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for result in report["results"]:
        at = [s for s in result["steps"] if s["passed"] and s["rate_per_s"] == result["capacity_per_s"]]
        latency = f"{at[0]['p50_ms']} / {at[0]['p99_ms']}" if at else "-"
        lines.append(
            f"| {result['index']} | {result['encoder']} | {result['capacity_per_s']} | "
            f"{result['first_failing_per_s'] or '-'} | {latency} | {result['server_memory_mb']['rss_mb']} |"
        )
    lines += ["", "Steps (rate: sent / ok / 503 / other errors, p99 ms, load average):", ""]
    for result in report["results"]:
        steps = "; ".join(
            f"{s['rate_per_s']}/s: {s['sent']}/{s['ok']}/{s['refused_503']}/{s['errors']}, p99 {s['p99_ms']}, "
            f"load {s['load_average'][0] if s['load_average'] else '?'}"
            for s in result["steps"]
        )
        lines.append(f"- {result['index']} ({result['encoder']}): {steps}")
    return "\n".join(lines) + "\n"
