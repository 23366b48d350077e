"""Metrics: exact values written as formulas, query accounting, ties, and a trec_eval cross-check."""

from __future__ import annotations

import math

import numpy as np
import pytest

from passerelle.eval.errors import MetricError
from passerelle.eval.metrics import canonical_metric, evaluate, parse_metrics

ALL = "ndcg@10,recall@100,mrr@10,map,map@100,p@10"


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("ndcg@10", "ndcg@10"),
        ("NDCG@10", "ndcg@10"),
        ("p@10", "precision@10"),
        ("P@5", "precision@5"),
        ("mrr@10", "mrr@10"),
        ("map", "map"),
        ("map@100", "map@100"),
        ("recall@100", "recall@100"),
        ("success@5", "hit_rate@5"),
        (" ndcg ", "ndcg"),
    ],
)
def test_canonical_metric_names(name, canonical):
    assert canonical_metric(name) == canonical


@pytest.mark.parametrize("name", ["bleu@10", "ndcg@0", "ndcg@", "ndcg@ten", "@10", ""])
def test_unknown_metric_names_are_refused(name):
    with pytest.raises(MetricError, match="unknown metric"):
        canonical_metric(name)


def test_parse_metrics_keeps_order_and_drops_duplicates():
    assert parse_metrics("ndcg@10, p@10,precision@10,map") == ("ndcg@10", "precision@10", "map")
    with pytest.raises(MetricError, match="no metric"):
        parse_metrics(" , ")


QRELS = {
    "q1": {"a": 1},  # one relevant document
    "q2": {"b": 1, "c": 2, "z": 0},  # graded, one relevant not retrieved
    "q3": {"e": 1},  # judged, not answered by the run
    "q5": {"f": 0},  # judged but nothing relevant: not scored
}
RUN = {
    "q1": {"x": 3.0, "y": 2.0, "a": 1.0},  # relevant at rank 3
    "q2": {"c": 2.0, "z": 1.0},  # rel-2 document at rank 1
    "q4": {"a": 1.0},  # no judgments: excluded
    "q5": {"f": 1.0},
}


def test_exact_values_per_query():
    ev = evaluate(QRELS, RUN, ALL)
    assert ev.qids == ("q1", "q2", "q3")
    assert ev.missing == ("q3",)
    assert ev.unjudged == ("q4", "q5")
    idcg_q2 = 2 / math.log2(2) + 1 / math.log2(3)
    expected = {
        "ndcg@10": [1 / math.log2(4), (2 / math.log2(2)) / idcg_q2, 0.0],
        "recall@100": [1.0, 1 / 2, 0.0],
        "mrr@10": [1 / 3, 1.0, 0.0],
        "map": [(1 / 3) / 1, (1 / 1) / 2, 0.0],
        "map@100": [(1 / 3) / 1, (1 / 1) / 2, 0.0],
        "precision@10": [1 / 10, 1 / 10, 0.0],
    }
    for metric, values in expected.items():
        assert ev.per_query[metric] == pytest.approx(values, abs=1e-12), metric
        # the unanswered judged query counts as 0 in the mean: divide by 3, not 2
        assert ev.means[metric] == pytest.approx(sum(values) / 3, abs=1e-12), metric
    assert ev.query_scores("p@10") == pytest.approx({"q1": 0.1, "q2": 0.1, "q3": 0.0})
    assert ev.mean("NDCG@10") == ev.means["ndcg@10"]
    with pytest.raises(MetricError, match="was not computed"):
        ev.mean("ndcg@5")


def test_cutoffs_apply():
    docs = {f"d{i:02d}": float(100 - i) for i in range(1, 12)}  # d11 is at rank 11
    ev = evaluate({"q": {"d11": 1}}, {"q": docs}, "mrr@10,ndcg@10,recall@100,mrr,p@10,success@10")
    assert ev.means == pytest.approx(
        {"mrr@10": 0.0, "ndcg@10": 0.0, "recall@100": 1.0, "mrr": 1 / 11, "precision@10": 0.0, "hit_rate@10": 0.0}
    )


def test_a_single_metric_with_cutoff_works():
    ev = evaluate({"q": {"a": 1}}, {"q": {"b": 2.0, "a": 1.0}}, "ndcg@10")
    assert ev.means == {"ndcg@10": pytest.approx(1 / math.log2(3))}


def test_ties_follow_the_run_order_or_trec_eval():
    run = {"q": {"m": 1.0, "z": 1.0, "a": 0.5}}  # m and z tie; the run lists m first
    qrels = {"q": {"m": 1}}
    assert evaluate(qrels, run, "mrr").means["mrr"] == 1.0
    # trec_eval breaks ties by document id descending: z before m
    assert evaluate(qrels, run, "mrr", ties="trec_eval").means["mrr"] == 0.5
    with pytest.raises(MetricError, match="tie rule"):
        evaluate(qrels, run, "mrr", ties="random")  # type: ignore[arg-type]


def test_inputs_are_not_modified():
    qrels = {"q1": {"a": 1}}
    run = {"q1": {"b": 2.0, "a": 1.0}}
    evaluate(qrels, run, ALL, ties="trec_eval")
    assert qrels == {"q1": {"a": 1}} and list(run["q1"].items()) == [("b", 2.0), ("a", 1.0)]


def test_qrels_without_relevant_documents_are_refused():
    with pytest.raises(MetricError, match="no relevant document"):
        evaluate({"q": {"a": 0}}, {"q": {"a": 1.0}}, "ndcg@10")


def _random_case(seed: int = 7):
    rng = np.random.default_rng(seed)
    qrels, run = {}, {}
    for q in range(15):
        docs = [f"d{i:02d}" for i in range(40)]
        qrels[f"q{q}"] = {
            docs[i]: int(rng.integers(1, 3)) for i in rng.choice(40, size=int(rng.integers(1, 6)), replace=False)
        }
        qrels[f"q{q}"].setdefault(docs[int(rng.integers(0, 40))], 0)
        scores = np.round(rng.random(30), 1)  # one decimal: many ties
        run[f"q{q}"] = {docs[i]: float(s) for i, s in zip(rng.permutation(40)[:30], scores, strict=True)}
    return qrels, run


def test_cross_check_against_trec_eval():
    """Same numbers as pytrec_eval (trec_eval 9) and ir_measures, ties included."""
    import ir_measures
    import pytrec_eval
    from ir_measures import AP, P, R, nDCG

    qrels, run = _random_case()
    ev = evaluate(qrels, run, ALL + ",mrr,ndcg", ties="trec_eval")
    measures = {
        "ndcg_cut_10": "ndcg@10",
        "recall_100": "recall@100",
        "map": "map",
        "map_cut_100": "map@100",
        "P_10": "precision@10",
        "recip_rank": "mrr",
        "ndcg": "ndcg",
    }
    reference = pytrec_eval.RelevanceEvaluator(qrels, set(measures)).evaluate(run)
    for trec_name, ours in measures.items():
        for qid, score in ev.query_scores(ours).items():
            assert score == pytest.approx(reference[qid][trec_name], abs=1e-12), (ours, qid)
    # mrr@10: trec_eval has no cutoff for recip_rank; cut the run at 10 in trec_eval's order first
    top10 = {}
    for qid, docs in run.items():
        ordered = sorted(sorted(docs.items(), key=lambda item: item[0], reverse=True), key=lambda item: -item[1])
        top10[qid] = dict(ordered[:10])
    cut = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    assert ev.query_scores("mrr@10") == pytest.approx({q: cut[q]["recip_rank"] for q in cut}, abs=1e-12)
    aggregate = ir_measures.calc_aggregate([nDCG @ 10, R @ 100, AP, AP @ 100, P @ 10], qrels, run)
    assert ev.means["ndcg@10"] == pytest.approx(aggregate[nDCG @ 10], abs=1e-12)
    assert ev.means["recall@100"] == pytest.approx(aggregate[R @ 100], abs=1e-12)
    assert ev.means["map"] == pytest.approx(aggregate[AP], abs=1e-12)
    assert ev.means["map@100"] == pytest.approx(aggregate[AP @ 100], abs=1e-12)
    assert ev.means["precision@10"] == pytest.approx(aggregate[P @ 10], abs=1e-12)


def test_run_order_ties_match_trec_eval_once_ties_are_gone():
    qrels, run = _random_case(seed=11)
    distinct = {
        q: {
            d: float(len(docs) - i)
            for i, (d, _) in enumerate(
                sorted(sorted(docs.items(), key=lambda item: item[0], reverse=True), key=lambda item: -item[1])
            )
        }
        for q, docs in run.items()
    }
    assert evaluate(qrels, run, ALL, ties="trec_eval").means == evaluate(qrels, distinct, ALL).means
