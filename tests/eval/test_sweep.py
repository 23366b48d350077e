"""Fusion sweep: grids, fused runs cross-checked against ranx, dev-only selection, test scoring."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

from passerelle.eval.errors import EvalError
from passerelle.eval.metrics import evaluate
from passerelle.eval.sweep import Fusers, FusionSetting, fuse_runs, fusion_grid, sweep, weight_grid


def test_weight_grid_covers_the_simplex():
    assert weight_grid(["dense", "sparse"], 0.5) == [
        (("dense", 0.0), ("sparse", 1.0)),
        (("dense", 0.5), ("sparse", 0.5)),
        (("dense", 1.0), ("sparse", 0.0)),
    ]
    assert len(weight_grid(["a", "b"], 0.1)) == 11
    assert len(weight_grid(["a", "b", "c"], 0.25)) == 15  # C(4 + 2, 2)
    with pytest.raises(EvalError):
        weight_grid([], 0.1)


def test_fusion_grid_and_setting_labels():
    grid = fusion_grid(["dense", "sparse"], rrf_ks=(10, 60), normalizations=("minmax", "zscore"), step=0.5)
    assert len(grid) == 2 * 3 + 2 * 3
    assert grid[0].label == "rrf k=10 dense=0 sparse=1"
    assert grid[-1].label == "linear zscore dense=1 sparse=0"
    assert grid[-1].as_params() == {
        "fusion": "linear",
        "normalization": "zscore",
        "weights": {"dense": 1.0, "sparse": 0.0},
    }
    assert grid[0].as_params() == {"fusion": "rrf", "rrf_k": 10, "weights": {"dense": 0.0, "sparse": 1.0}}


def _runs(seed: int, n_queries: int = 8, n_docs: int = 30, depth: int = 20):
    """Two tie-free runs over overlapping documents, and one relevant document per query."""
    rng = np.random.default_rng(seed)
    runs = {"dense": {}, "sparse": {}}
    qrels = {}
    for q in range(n_queries):
        qid = f"q{q}"
        for name in runs:
            docs = rng.permutation(n_docs)[:depth]
            scores = np.sort(rng.random(depth) * (10 if name == "sparse" else 1))[::-1] + np.arange(depth)[::-1] * 1e-6
            runs[name][qid] = {f"d{d}": float(s) for d, s in zip(docs, scores, strict=True)}
        qrels[qid] = {f"d{int(rng.integers(n_docs))}": 1}
    return runs, qrels


def test_fused_runs_match_ranx_fuse():
    from ranx import Run, fuse

    runs, _ = _runs(seed=1)
    ranx_runs = [Run(runs["dense"], name="dense"), Run(runs["sparse"], name="sparse")]
    cases = [
        (
            FusionSetting("rrf", (("dense", 1.0), ("sparse", 1.0)), rrf_k=60),
            fuse(ranx_runs, norm=None, method="rrf", params={"k": 60}),
        ),
        (
            FusionSetting("linear", (("dense", 0.7), ("sparse", 0.3)), normalization="minmax"),
            fuse(ranx_runs, norm="min-max", method="wsum", params={"weights": [0.7, 0.3]}),
        ),
        (
            FusionSetting("linear", (("dense", 0.4), ("sparse", 0.6)), normalization="zscore"),
            fuse(ranx_runs, norm="zmuv", method="wsum", params={"weights": [0.4, 0.6]}),
        ),
    ]
    for setting, reference in cases:
        ours = fuse_runs(runs, setting, depth=20, k=40)
        expected = reference.to_dict()
        assert set(ours) == set(expected)
        for qid in ours:
            assert ours[qid] == pytest.approx(expected[qid], abs=1e-12), setting.label
            assert list(ours[qid].values()) == sorted(ours[qid].values(), reverse=True)


def test_fuse_runs_cuts_each_input_at_depth_and_keeps_k():
    runs = {"a": {"q": {"x": 3.0, "y": 2.0, "z": 1.0}}, "b": {"q": {"z": 5.0}, "only-b": {"w": 1.0}}}
    setting = FusionSetting("rrf", (("a", 1.0), ("b", 1.0)), rrf_k=0)
    fused = fuse_runs(runs, setting, depth=2, k=10)
    # z is cut from a at depth 2: z = 1/(0+1) from b only; x = 1/1; y = 1/2
    assert fused["q"] == {"x": 1.0, "z": 1.0, "y": 0.5}
    assert fused["only-b"] == {"w": 1.0}
    assert len(fuse_runs(runs, setting, depth=2, k=1)["q"]) == 1


def test_fusion_functions_are_a_parameter():
    Hit = namedtuple("Hit", "doc_id score")
    calls = []

    def first_only(rankings, weights, **options):
        calls.append(options)
        return [Hit(doc, score) for doc, score in next(iter(rankings.values()))]

    runs = {"a": {"q": {"x": 2.0, "y": 1.0}}, "b": {"q": {"y": 9.0}}}
    fusers = Fusers(rrf=first_only, linear=first_only)
    assert fuse_runs(runs, FusionSetting("rrf", (("a", 1.0), ("b", 1.0)), rrf_k=7), fusers=fusers) == {
        "q": {"x": 2.0, "y": 1.0}
    }
    fuse_runs(runs, FusionSetting("linear", (("a", 1.0), ("b", 1.0)), normalization="dbsf"), fusers=fusers)
    assert calls == [{"k": 7}, {"normalization": "dbsf"}]


def _split(good: str, n: int = 10):
    """``good`` ranks the relevant document 1st and a decoy 2nd; the other ranks the decoy 1st and
    never finds the relevant document."""
    runs = {"dense": {}, "sparse": {}}
    qrels = {}
    for q in range(n):
        qid = f"q{q}"
        qrels[qid] = {f"{qid}-rel": 1}
        for name in runs:
            if name == good:
                docs = [f"{qid}-rel", f"{qid}-decoy", *(f"{qid}-{name}-{j}" for j in range(18))]
            else:
                docs = [f"{qid}-decoy", *(f"{qid}-{name}-{j}" for j in range(19))]
            runs[name][qid] = {doc: float(20 - j) for j, doc in enumerate(docs)}
    return runs, qrels


def test_sweep_picks_on_dev_and_scores_test_without_tuning():
    dev_runs, dev_qrels = _split(good="dense")
    test_runs, test_qrels = _split(good="sparse")
    settings = fusion_grid(["dense", "sparse"], rrf_ks=(60,), normalizations=("minmax",), step=0.5)
    result = sweep(
        dev_runs,
        dev_qrels,
        settings,
        metric="mrr@10",
        depth=20,
        test_runs=test_runs,
        test_qrels=test_qrels,
        n_bootstrap=200,
    )
    means = [m for _, m in result.rows]
    assert means == sorted(means, reverse=True) and len(means) == len(settings)
    # equal RRF weights put the decoy first (1/61 + 1/62 > 1/61): only dense=1 sparse=0 is perfect on
    # dev, and among the perfect settings RRF comes first in grid order
    assert result.rows[0][1] == 1.0
    assert dict(result.rows)[FusionSetting("rrf", (("dense", 0.5), ("sparse", 0.5)), rrf_k=60)] == 0.5
    assert result.best == FusionSetting("rrf", (("dense", 1.0), ("sparse", 0.0)), rrf_k=60)
    assert result.dev.mean == 1.0 and result.dev.ci == (1.0, 1.0)
    assert result.dev.inputs == {"dense": 1.0, "sparse": 0.0} and result.dev.best_input == "dense"
    assert result.dev.delta_ci == (0.0, 0.0)
    # on test the dev choice is kept, though sparse-heavy settings would be perfect there: with sparse
    # weighted 0 the relevant document scores 0, below the 20 dense documents
    expected_test = evaluate(test_qrels, fuse_runs(test_runs, result.best, depth=20), "mrr@10").means["mrr@10"]
    assert result.test is not None and result.test.mean == expected_test == 0.0
    assert result.test.inputs == {"dense": 0.0, "sparse": 1.0}


def test_sweep_checks_its_inputs():
    runs, qrels = _split(good="dense", n=3)
    settings = fusion_grid(["dense", "sparse"], step=0.5)
    with pytest.raises(EvalError, match="at least one"):
        sweep(runs, qrels, [])
    with pytest.raises(EvalError, match="two runs"):
        sweep({"dense": runs["dense"]}, qrels, settings)
    with pytest.raises(EvalError, match="both test runs and test qrels"):
        sweep(runs, qrels, settings, test_runs=runs)
