"""Reports: padded Markdown tables, JSON with per-query scores, and a PNG plot."""

from __future__ import annotations

import json

import pytest

from passerelle.eval.compare import compare_runs
from passerelle.eval.report import markdown_table, render_markdown, write_report

QIDS = [f"q{i:02d}" for i in range(20)]
QRELS = {q: {"rel": 1} for q in QIDS}
FIRST = {q: {"rel": 2.0, "other": 1.0} for q in QIDS}  # relevant at rank 1
SECOND = {q: {"other": 2.0, "rel": 1.0} for q in QIDS}  # relevant at rank 2


def _comparison():
    return compare_runs(
        {"base": SECOND, "good": FIRST, "same": SECOND},
        QRELS,
        "mrr@10,recall@100",
        n_resamples=1000,
        seconds={"base": 2.0, "good": 4.0, "same": 1.0},
    )


def test_markdown_table_pads_columns():
    table = markdown_table(["system", "score"], [["a", "0.5"], ["longer name", "0.25"]])
    lines = table.splitlines()
    assert lines == [
        "| system      | score |",
        "|-------------|------:|",
        "| a           |   0.5 |",
        "| longer name |  0.25 |",
    ]


def test_render_markdown_marks_significant_systems():
    text = render_markdown(_comparison(), title="Demo", notes=["k = 10"])
    assert text.startswith("# Demo\n")
    assert "- k = 10" in text
    assert "| base (baseline) |   0.5000 |     1.0000 | 10.0 |" in text  # 20 queries in 2 s
    # good wins on all 20 queries: p = 1/1001, x2 by Holm -> significant (dagger); same never is
    assert "| good            | 1.0000 † |     1.0000 |  5.0 |" in text
    assert "| same            |   0.5000 |     1.0000 | 20.0 |" in text
    assert "## mrr@10 against base (0.5000)" in text
    assert "| good   | 1.0000 | +0.5000 | 0.0010 |      0.0020 | <0.0001 |  <0.0001 |       20/0/0 |" in text
    assert "| same   | 0.5000 | +0.0000 | 1.0000 |      1.0000 |  1.0000 |   1.0000 |       0/20/0 |" in text
    assert text.count("†") == 2  # the legend and the one significant cell


def test_write_report_writes_markdown_json_and_png(tmp_path):
    comparison = _comparison()
    files = write_report(comparison, tmp_path / "out", title="Demo", extra={"k": 10})
    assert files.markdown.read_text(encoding="utf-8") == render_markdown(comparison, "Demo")
    data = json.loads(files.json.read_text(encoding="utf-8"))
    assert data["baseline"] == "base" and data["queries"] == 20 and data["extra"] == {"k": 10}
    assert data["systems"]["good"]["means"] == {"mrr@10": 1.0, "recall@100": 1.0}
    assert data["per_query"]["base"]["mrr@10"]["q07"] == 0.5
    test = next(t for t in data["tests"] if t["system"] == "good" and t["metric"] == "mrr@10")
    assert test["delta"] == pytest.approx(0.5) and (test["wins"], test["ties"], test["losses"]) == (20, 0, 0)
    assert files.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert files.plot.stat().st_size > 5000
