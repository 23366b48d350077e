"""`passerelle eval` commands over hand-made run and qrels files."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from passerelle.commands.eval import app
from passerelle.eval.trec import write_qrels, write_run

runner = CliRunner()
QIDS = [f"q{i}" for i in range(8)]


def _files(tmp_path):
    qrels = write_qrels({q: {f"{q}-rel": 1} for q in QIDS}, tmp_path / "qrels.dev.tsv")
    first = write_run({q: {f"{q}-rel": 2.0, f"{q}-x": 1.0} for q in QIDS}, tmp_path / "dense.trec")
    second = write_run({q: {f"{q}-y": 2.0, f"{q}-rel": 1.0} for q in QIDS}, tmp_path / "sparse.trec")
    return qrels, first, second


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert all(name in result.output for name in ("run", "compare", "score", "sweep"))


def test_score_prints_means(tmp_path):
    qrels, _, second = _files(tmp_path)
    result = runner.invoke(app, ["score", str(second), "--qrels", str(qrels), "--metrics", "mrr@10,p@1"])
    assert result.exit_code == 0, result.output
    assert "mrr@10\t0.5000" in result.output and "precision@1\t0.0000" in result.output
    assert "8 judged, 0 unanswered (scored 0), 0 unjudged (excluded)" in result.output


def test_compare_writes_a_report(tmp_path):
    qrels, first, second = _files(tmp_path)
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "compare",
            str(second),
            str(first),
            "--qrels",
            str(qrels),
            "--out",
            str(out),
            "--metrics",
            "mrr@10",
            "--resamples",
            "500",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "| sparse (baseline) |" in result.output
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["baseline"] == "sparse" and data["systems"]["dense"]["means"] == {"mrr@10": 1.0}
    assert (out / "report.png").is_file() and (out / "report.md").is_file()


def test_compare_names_must_match_files(tmp_path):
    qrels, first, second = _files(tmp_path)
    result = runner.invoke(
        app,
        [
            "compare",
            str(first),
            str(second),
            "--qrels",
            str(qrels),
            "--out",
            str(tmp_path / "o"),
            "--names",
            "only-one",
        ],
    )
    assert result.exit_code == 2
    assert "one distinct name per run file" in result.output


def test_sweep_over_run_files(tmp_path):
    qrels, first, second = _files(tmp_path)
    out = tmp_path / "sweep"
    result = runner.invoke(
        app,
        [
            "sweep",
            "--run",
            f"dense={first}",
            "--run",
            f"sparse={second}",
            "--qrels",
            str(qrels),
            "--out",
            str(out),
            "--metric",
            "mrr@10",
            "--rrf-ks",
            "60",
            "--normalizations",
            "minmax",
            "--step",
            "0.5",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    assert len(data["settings"]) == 6 and data["dev"]["mean"] == 1.0 and data["test"] is None


def test_sweep_needs_runs_or_a_collection(tmp_path):
    result = runner.invoke(app, ["sweep", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--run NAME=FILE" in result.output
    result = runner.invoke(app, ["sweep", "--out", str(tmp_path), "--run", "dense", "--qrels", "x"])
    assert result.exit_code == 2 and "NAME=FILE pairs" in result.output


def test_run_refuses_unknown_systems_and_unreachable_services(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "queries.dev.tsv").write_text("q1\tquestion\n", encoding="utf-8")
    (tmp_path / "c" / "qrels.dev.tsv").write_text("q1 0 d1 1\n", encoding="utf-8")
    base = ["run", "--collection", str(tmp_path / "c"), "--out", str(tmp_path / "out")]
    result = runner.invoke(app, [*base, "--url", "http://127.0.0.1:9", "--systems", "bm25,colbert"])
    assert result.exit_code == 2 and "unknown system 'colbert'" in result.output
    result = runner.invoke(app, [*base, "--url", "http://127.0.0.1:9", "--systems", "dense"])
    assert result.exit_code == 2 and "cannot reach http://127.0.0.1:9/v1/search/batch" in result.output
    result = runner.invoke(app, [*base, "--systems", "dense"])
    assert result.exit_code != 0 and "exactly one of --index" in result.output
