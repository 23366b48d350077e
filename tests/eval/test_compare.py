"""Comparisons: means, tests against the baseline, Holm families, win/tie/loss."""

from __future__ import annotations

import math

import pytest

from passerelle.eval.compare import compare_evaluations, compare_runs
from passerelle.eval.errors import MetricError
from passerelle.eval.metrics import evaluate
from passerelle.eval.significance import holm_bonferroni, paired_t_test, randomization_test

QIDS = [f"q{i}" for i in range(6)]
QRELS = {q: {f"{q}-rel": 1} for q in QIDS}


def _run(ranks: list[int | None]) -> dict[str, dict[str, float]]:
    """The relevant document of query i at ranks[i] (None: not retrieved), among 10 documents."""
    run = {}
    for qid, rank in zip(QIDS, ranks, strict=True):
        docs = [f"{qid}-n{j}" for j in range(10)]
        if rank is not None:
            docs[rank - 1] = f"{qid}-rel"
        run[qid] = {doc: float(10 - j) for j, doc in enumerate(docs)}
    return run


RUNS = {"base": _run([2, 2, 2, 2, 2, None]), "better": _run([1, 1, 1, 1, 1, 1]), "mixed": _run([1, 3, 1, 3, 2, None])}


def test_compare_runs_means_and_deltas():
    c = compare_runs(RUNS, QRELS, "mrr@10,ndcg@10", n_resamples=2000)
    assert c.baseline == "base" and c.systems == ("base", "better", "mixed")
    assert c.qids == tuple(QIDS)
    assert c.mean("base", "mrr@10") == pytest.approx(5 * 0.5 / 6)
    assert c.mean("better", "mrr@10") == pytest.approx(1.0)
    assert c.mean("mixed", "mrr@10") == pytest.approx((1 + 1 / 3 + 1 + 1 / 3 + 1 / 2) / 6)
    test = c.test("better", "MRR@10")
    assert test.delta == pytest.approx(1.0 - 5 * 0.5 / 6)
    assert (test.wtl.wins, test.wtl.ties, test.wtl.losses) == (6, 0, 0)
    mixed = c.test("mixed", "ndcg@10")
    # ndcg of one relevant at rank r is 1/log2(r+1): wins at q0 and q2, losses at q1 and q3
    assert (mixed.wtl.wins, mixed.wtl.ties, mixed.wtl.losses) == (2, 2, 2)
    assert mixed.delta == pytest.approx((2 * (1 - 1 / math.log2(3)) + 2 * (1 / 2 - 1 / math.log2(3))) / 6)


def test_p_values_are_holm_corrected_per_metric():
    c = compare_runs(RUNS, QRELS, ["mrr@10"], n_resamples=2000, seed=3)
    base = c.evaluations["base"].per_query["mrr@10"]
    raw_r = [
        randomization_test(c.evaluations[s].per_query["mrr@10"], base, n_resamples=2000, seed=3)
        for s in ("better", "mixed")
    ]
    raw_t = [paired_t_test(c.evaluations[s].per_query["mrr@10"], base) for s in ("better", "mixed")]
    tests = [c.test("better", "mrr@10"), c.test("mixed", "mrr@10")]
    assert [t.p_randomization for t in tests] == raw_r
    assert [t.p_randomization_holm for t in tests] == holm_bonferroni(raw_r)
    assert [t.p_ttest for t in tests] == raw_t
    assert [t.p_ttest_holm for t in tests] == holm_bonferroni(raw_t)
    # 6 queries: the randomization test is exact (2**6 = 64 assignments); all six wins -> 2/64
    assert tests[0].p_randomization == 2 / 64


def test_a_single_system_has_no_tests():
    c = compare_runs({"only": RUNS["base"]}, QRELS, "mrr@10")
    assert c.tests == ()
    with pytest.raises(MetricError, match="no test"):
        c.test("only", "mrr@10")


def test_evaluations_must_share_queries_and_metrics():
    a = evaluate(QRELS, RUNS["base"], "mrr@10")
    b = evaluate({**QRELS, "extra": {"x": 1}}, RUNS["better"], "mrr@10")
    with pytest.raises(MetricError, match="other queries or metrics"):
        compare_evaluations({"a": a, "b": b})
    with pytest.raises(MetricError, match="other queries or metrics"):
        compare_evaluations({"a": a, "c": evaluate(QRELS, RUNS["better"], "ndcg@10")})
    with pytest.raises(MetricError, match="at least one"):
        compare_evaluations({})
