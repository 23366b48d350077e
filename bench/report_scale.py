"""The Scale section of ``docs/BENCHMARKS.md``: synthetic corpora, FAISS kinds, memory per 100k documents."""

from __future__ import annotations

from typing import Any

from passerelle.bench.markdown import fmt, settings_text, table

RECALL_FLOOR = 0.95


def scale_section(scale: dict[str, Any], plot_name: str | None) -> list[str]:
    """The Scale section: latency, memory and the FAISS kind to use per corpus size (synthetic corpora)."""
    p = scale["options"]["perturbation"]
    lines = [
        "## Scale",
        "",
        f"**Synthetic corpora.** Grown from {scale['base_documents']:,} real documents: copy 0 is the real "
        f"set, each further copy drops words (p={p['drop']}) and swaps neighbours (p={p['swap']}) and gets "
        f"new ids. Encoding a million documents is out of reach on this CPU, so the copies' vectors are "
        f"NOT encoded: each is its base document's real vector plus gaussian noise (sigma={p['sigma']}) "
        "re-normalized. Latency and memory are realistic; retrieval quality on these corpora is not "
        f"measured. {scale['queries']} real queries per point, one worker, Passerelle's hybrid with "
        "default parameters, in process, with the shipped serving settings"
        + (f" ({settings_text(scale['shipped_settings'])})" if scale.get("shipped_settings") else "")
        + "; the contrast runs the encoder and FAISS on every core per query (the behaviour before those "
        "settings).",
        "",
    ]
    rows, stage_rows, memory = [], [], []
    for entry in scale["sizes"]:
        for kind in entry["kinds"]:
            h, every = kind["hybrid"], kind.get("hybrid_all_cores")
            dense = _pair(
                kind.get("dense_p50_ms_all_cores", kind.get("dense_p50_ms")),  # older results: no suffix
                kind.get("dense_p50_ms_1_thread", kind.get("dense_p50_ms_1t")),
            )
            rows.append(
                (
                    entry["documents"],
                    kind["kind"],
                    kind["build_s"],
                    kind["faiss_mb"],
                    kind["recall@10"],
                    dense,
                    h["p50_ms"],
                    h["p99_ms"],
                    h["qps"],
                    _pair(every["p50_ms"], every["p99_ms"]) if every else None,
                )
            )
            stage_rows.append(
                (
                    entry["documents"],
                    kind["kind"],
                    _stages(kind["stages_p50_ms"]),
                    _stages(kind.get("stages_p50_ms_all_cores", {})),
                )
            )
        serving = entry["serving"]
        memory.append(
            (
                entry["documents"],
                entry["build_without_encoding_s"],
                sum(entry["disk_mb"].values()),
                serving["rss_ready_mb"],
                serving["peak_rss_mb"],
                serving["http"]["p50_ms"],
            )
        )
    lines += table(
        [
            "documents",
            "FAISS",
            "FAISS build s",
            "FAISS MiB",
            "recall@10 vs flat",
            "dense p50 ms (every core / 1 thread)",
            "hybrid p50 ms",
            "hybrid p99 ms",
            "QPS",
            "every core: hybrid p50 / p99 ms",
        ],
        rows,
    )
    lines += [
        "Median time per stage (ms), as the searcher reports it; shipped settings, then every core per "
        "query (encoder and FAISS):",
        "",
    ]
    lines += table(["documents", "FAISS", "stages (shipped)", "stages (every core)"], stage_rows)
    if plot_name:
        lines += [f"![hybrid latency vs corpus size]({plot_name})", ""]
    lines += [
        "Which FAISS kind at which size (fastest hybrid p50 among kinds with recall@10 ≥ "
        f"{RECALL_FLOOR} against exact search):",
        "",
    ]
    by_kind = {(e["documents"], k["kind"]): k for e in scale["sizes"] for k in e["kinds"]}
    for size, kind in recommend(scale):
        chosen = by_kind[(size, kind)]
        every = chosen.get("hybrid_all_cores")
        contrast = f", {every['p50_ms']:.1f} ms on every core" if every else ""
        lines.append(
            f"- {fmt(size)} documents: `{kind}` (hybrid p50 {chosen['hybrid']['p50_ms']:.1f} ms{contrast}; "
            f"recall@10 {chosen['recall@10']:.2f})"
        )
    lines.append("")
    low = [
        f"{k['kind']} at {fmt(e['documents'])} ({k['recall@10']:.2f})"
        for e in scale["sizes"]
        for k in e["kinds"]
        if k["recall@10"] < RECALL_FLOOR
    ]
    if low:
        lines += [
            "Below the recall floor with the shipped parameters: " + ", ".join(low) + ". On these synthetic "
            "corpora each document has near-duplicates (its perturbed copies) whose scores differ by little, "
            "so lossy codes (PQ) reorder the exact top 10 more than they would on real text: read these "
            "recalls as a lower bound.",
            "",
        ]
    lines += _filtered_dense(scale)
    lines += [
        "### Memory while serving",
        "",
        "`passerelle serve` (flat FAISS) on each synthetic index, peak resident set after "
        "a pass of HTTP queries; build time excludes encoding.",
        "",
    ]
    lines += table(
        ["documents", "build s (no encoding)", "index on disk MiB", "RSS ready MiB", "peak RSS MiB", "HTTP p50 ms"],
        memory,
    )
    slope = memory_per_100k(scale)
    if slope is not None:
        lines += [
            f"Marginal serving memory: {slope:.0f} MiB per 100k documents (peak RSS slope between the "
            "smallest and largest size).",
            "",
        ]
    if scale.get("skipped"):
        lines += [
            "Skipped: " + "; ".join(scale["skipped"]) + " (HNSW construction of that many 512-d vectors "
            "takes far longer than the rest of the run on this CPU).",
            "",
        ]
    return lines


def _pair(first: float | None, second: float | None) -> str:
    return " / ".join(fmt(v) for v in (first, second) if v is not None)


def _stages(stages: dict[str, float]) -> str:
    return ", ".join(f"{name} {fmt(ms)}" for name, ms in stages.items()) or "–"


def _filtered_dense(scale: dict[str, Any]) -> list[str]:
    """Dense search under a filter, per FAISS kind (both ways for HNSW), when the results have it."""
    rows = [
        (
            entry["documents"],
            kind["kind"],
            row["share"],
            row["allowed"],
            row["way"] + (" (shipped)" if row["shipped_way"] and kind["kind"] == "hnsw" else ""),
            row["p50_ms"],
            row["p99_ms"],
            row["recall@10"],
        )
        for entry in scale["sizes"]
        for kind in entry["kinds"]
        for row in kind.get("filtered_dense", [])
    ]
    if not rows:
        return []
    return [
        "### Dense search under a filter",
        "",
        "FAISS on one thread, 100 candidates, under a filter on the synthetic `year` (uniform over 100 years) "
        "allowing 10% or 1% of the documents; recall@10 against the exact top 10 of the allowed documents. "
        "HNSW both ways: *graph* (the HNSW search with an ID selector) and *scan* (the exact scan of the "
        "allowed rows' stored vectors); Passerelle scans when a filter allows at most `FILTER_EXACT_MAX_ROWS` "
        "rows (*shipped* marks the way it takes). IVF-PQ probes `nprobe / share` lists (at most all).",
        "",
        *table(["documents", "FAISS", "filter", "allowed rows", "way", "p50 ms", "p99 ms", "recall@10"], rows),
    ]


def recommend(scale: dict[str, Any]) -> list[tuple[int, str]]:
    """Per size, the kind with the lowest hybrid p50 among those with recall@10 ≥ :data:`RECALL_FLOOR`."""
    out = []
    for entry in scale.get("sizes", []):
        good = [k for k in entry["kinds"] if k["recall@10"] >= RECALL_FLOOR] or entry["kinds"]
        if good:
            out.append((entry["documents"], min(good, key=lambda k: k["hybrid"]["p50_ms"])["kind"]))
    return out


def memory_per_100k(scale: dict[str, Any]) -> float | None:
    """Peak-RSS slope (MiB per 100k documents) between the smallest and the largest size."""
    sizes = sorted(scale.get("sizes", []), key=lambda e: e["documents"])
    if len(sizes) < 2:
        return None
    low, high = sizes[0], sizes[-1]
    span = (high["documents"] - low["documents"]) / 100_000
    return (high["serving"]["peak_rss_mb"] - low["serving"]["peak_rss_mb"]) / span if span > 0 else None
