"""The capacity benchmark: what a step must meet, the search over rates, the report (structure, not timings)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import SAMPLE_DIR, read_tsv

from passerelle.bench.capacity import CapacityOptions, benchmark_capacity, passed, request_mix, to_markdown
from passerelle.bench.load import REFUSED, LoadReport, Outcome, recovery_s


def _report(*outcomes: tuple[float, float, str]) -> LoadReport:
    return LoadReport([Outcome("step", sent, ms, kind) for sent, ms, kind in outcomes])


def test_a_step_passes_only_with_every_answer_ok_and_the_p99_within_the_bound() -> None:
    fast = [(i / 10, 20.0, "ok") for i in range(100)]
    assert passed(_report(*fast), 500)
    assert not passed(_report(*fast, (10.0, 5.0, REFUSED)), 500)  # a 503 is a failure here
    assert not passed(_report(*fast, (10.0, 5.0, "ReadTimeout")), 500)
    assert not passed(_report(*fast[:98], (10.0, 600.0, "ok"), (10.1, 600.0, "ok")), 500)  # p99 over
    assert not passed(_report(), 500)  # nothing sent proves nothing


def test_recovery_is_the_last_failure_after_the_burst() -> None:
    report = _report((9.0, 5.0, REFUSED), (10.5, 5.0, REFUSED), (11.0, 900.0, "ok"), (12.0, 20.0, "ok"))
    assert recovery_s(report, after_s=10.0, bound_ms=500) == 1.0
    assert recovery_s(report.only("none"), after_s=10.0, bound_ms=500) == 0.0


def test_request_mix_covers_every_route() -> None:
    mix = request_mix(["bees", "glaciers", "bread", "rivers"], ["doc-1"])
    paths = {path.split("?")[0] for _, path, _ in mix}
    assert paths == {"/v1/search", "/v1/search/batch", "/v1/documents/doc-1"}
    assert {body["mode"] for _, _, body in mix if body and "query" in body} == {"hybrid", "dense", "sparse"}


@pytest.mark.slow
def test_capacity_end_to_end(sample_usem3_index: Path, tmp_path: Path) -> None:
    queries = read_tsv(SAMPLE_DIR / "queries.dev.tsv")
    options = CapacityOptions(step_s=2, start_rate=2, growth=2, max_rate=8, p99_bound_ms=5000)
    report = benchmark_capacity([sample_usem3_index], queries, tmp_path, options)
    (result,) = report["results"]
    assert result["encoder"] == "usem3" and result["index"] == sample_usem3_index.name
    assert [s["rate_per_s"] for s in result["steps"]] == [2.0, 4.0, 8.0]  # no step failed up to max_rate
    assert result["capacity_per_s"] == 8.0 and result["first_failing_per_s"] is None
    assert all(s["sent"] == round(s["rate_per_s"] * 2) for s in result["steps"])
    markdown = to_markdown(report)
    assert "| sample-usem3 | usem3 | 8.0 |" in markdown
