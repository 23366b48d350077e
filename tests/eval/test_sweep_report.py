"""Sweep reports: Markdown with dev/test rows, JSON with every setting, PNG plot."""

from __future__ import annotations

import json

from passerelle.eval.sweep import fusion_grid, sweep
from passerelle.eval.sweep_report import render_sweep_markdown, write_sweep_report


def _result(with_test: bool):
    qids = [f"q{i}" for i in range(6)]
    qrels = {q: {f"{q}-rel": 1} for q in qids}
    dense = {q: {f"{q}-rel": 2.0, f"{q}-x": 1.0} for q in qids}  # relevant first
    sparse = {q: {f"{q}-y": 2.0, f"{q}-rel": 1.0} for q in qids}  # relevant second
    runs = {"dense": dense, "sparse": sparse}
    settings = fusion_grid(["dense", "sparse"], rrf_ks=(60,), normalizations=("minmax",), step=0.5)
    return sweep(
        runs,
        qrels,
        settings,
        metric="mrr@10",
        n_bootstrap=100,
        test_runs=runs if with_test else None,
        test_qrels=qrels if with_test else None,
    )


def test_render_sweep_markdown():
    text = render_sweep_markdown(_result(with_test=True), title="Sweep demo", top=3)
    assert text.startswith("# Sweep demo\n")
    assert "the best on dev is **rrf k=60 dense=0.5 sparse=0.5**" in text
    assert "| dev   | 1.0000 | [1.0000, 1.0000] | dense 1.0000, sparse 0.5000 | +0.0000 [0.0000, 0.0000] |" in text
    assert "| test  | 1.0000 |" in text
    assert "## Top 3 settings on dev" in text
    assert "|    1 | rrf k=60 dense=0.5 sparse=0.5      | 1.0000 |" in text
    assert "test" not in render_sweep_markdown(_result(with_test=False)).split("## Top")[0].split("|", 1)[1]


def test_write_sweep_report(tmp_path):
    result = _result(with_test=False)
    files = write_sweep_report(result, tmp_path)
    data = json.loads(files.json.read_text(encoding="utf-8"))
    assert data["best"] == {
        "label": "rrf k=60 dense=0.5 sparse=0.5",
        "fusion": "rrf",
        "rrf_k": 60,
        "weights": {"dense": 0.5, "sparse": 0.5},
    }
    assert data["test"] is None and data["dev"]["inputs"] == {"dense": 1.0, "sparse": 0.5}
    assert len(data["settings"]) == 6
    assert files.markdown.read_text(encoding="utf-8") == render_sweep_markdown(result)
    assert files.plot.read_bytes()[:4] == b"\x89PNG"
