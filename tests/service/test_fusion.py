"""Fusion on hand-made ranked lists; expected values written as formulas."""

from __future__ import annotations

import copy
import math
import random

import pytest

from passerelle.service.errors import FusionError
from passerelle.service.fusion import (
    FIXED_FUSION_METHODS,
    NORMALIZATIONS,
    Contribution,
    FusedHit,
    fuse,
    fuse_linear,
    fuse_rrf,
    normalize,
)

DENSE = [("a", 0.9), ("b", 0.8), ("c", 0.5)]
SPARSE = [("c", 12.0), ("d", 7.0), ("a", 3.0)]


def _scores(hits: list[FusedHit]) -> dict[str, float]:
    return {h.doc_id: h.score for h in hits}


def _ids(hits: list[FusedHit]) -> list[str]:
    return [h.doc_id for h in hits]


# --- RRF -------------------------------------------------------------------------------------------


def test_rrf_two_retrievers() -> None:
    hits = fuse_rrf({"dense": DENSE, "sparse": SPARSE})
    expected = {
        "a": 1 / (60 + 1) + 1 / (60 + 3),
        "b": 1 / (60 + 2),
        "c": 1 / (60 + 3) + 1 / (60 + 1),
        "d": 1 / (60 + 2),
    }
    assert _scores(hits) == pytest.approx(expected, rel=1e-12)
    # a and c tie exactly, b and d tie exactly: doc_id ascending breaks the ties
    assert _ids(hits) == ["a", "c", "b", "d"]


def test_rrf_contributions_explain_the_score() -> None:
    hits = fuse_rrf({"dense": DENSE, "sparse": SPARSE}, weights={"dense": 2.0})
    by_id = {h.doc_id: h for h in hits}
    assert by_id["a"].contributions == {
        "dense": Contribution(rank=1, raw_score=0.9, normalized=None, weight=2.0, value=2.0 / (60 + 1)),
        "sparse": Contribution(rank=3, raw_score=3.0, normalized=None, weight=1.0, value=1.0 / (60 + 3)),
    }
    assert set(by_id["d"].contributions) == {"sparse"}  # absent retrievers contribute nothing
    for hit in hits:
        assert hit.score == sum(c.value for c in hit.contributions.values())


def test_rrf_weights() -> None:
    hits = fuse_rrf({"dense": DENSE, "sparse": SPARSE}, weights={"dense": 0.25, "sparse": 1.5})
    assert _scores(hits) == pytest.approx(
        {
            "a": 0.25 / (60 + 1) + 1.5 / (60 + 3),
            "b": 0.25 / (60 + 2),
            "c": 0.25 / (60 + 3) + 1.5 / (60 + 1),
            "d": 1.5 / (60 + 2),
        },
        rel=1e-12,
    )
    assert _ids(hits) == ["c", "a", "d", "b"]


def test_rrf_one_retriever_empty_keeps_its_order() -> None:
    hits = fuse_rrf({"dense": DENSE, "sparse": []})
    assert _ids(hits) == ["a", "b", "c"]
    assert [h.score for h in hits] == pytest.approx([1 / 61, 1 / 62, 1 / 63], rel=1e-12)
    assert all(set(h.contributions) == {"dense"} for h in hits)


@pytest.mark.parametrize("rankings", [{}, {"dense": [], "sparse": []}])
def test_everything_empty(rankings: dict) -> None:
    assert fuse_rrf(rankings) == []
    assert fuse_linear(rankings) == []
    for method in FIXED_FUSION_METHODS:
        assert fuse(rankings, method) == []


@pytest.mark.parametrize("k", [0, 1, 1000])
def test_rrf_k_values(k: int) -> None:
    # k = 1000 is far larger than the number of hits: scores shrink but the formula still holds
    hits = fuse_rrf({"dense": [("x", 1.0), ("y", 0.5)], "sparse": [("y", 2.0)]}, k=k)
    assert _scores(hits) == pytest.approx({"x": 1 / (k + 1), "y": 1 / (k + 2) + 1 / (k + 1)}, rel=1e-12)
    assert _ids(hits) == ["y", "x"]


def test_rrf_ties_broken_by_doc_id_whatever_the_input_order() -> None:
    one = fuse_rrf({"dense": [("b", 1.0), ("a", 0.5)], "sparse": [("a", 1.0), ("b", 0.5)]})
    two = fuse_rrf({"sparse": [("a", 1.0), ("b", 0.5)], "dense": [("b", 1.0), ("a", 0.5)]})
    assert _ids(one) == _ids(two) == ["a", "b"]
    assert one[0].score == one[1].score == pytest.approx(1 / 61 + 1 / 62, rel=1e-12)


# --- normalization ---------------------------------------------------------------------------------


def test_minmax() -> None:
    assert normalize([3.0, 1.0, 2.0], "minmax") == [1.0, 0.0, 0.5]


def test_zscore() -> None:
    sigma = math.sqrt(2 / 3)  # population std of 1, 2, 3
    assert normalize([1.0, 2.0, 3.0], "zscore") == pytest.approx([-1 / sigma, 0.0, 1 / sigma], rel=1e-12)


def test_dbsf_formula_and_clipping() -> None:
    mu, sigma = 2.0, math.sqrt(2 / 3)
    assert normalize([1.0, 2.0, 3.0], "dbsf") == pytest.approx(
        [(s - (mu - 3 * sigma)) / (6 * sigma) for s in (1.0, 2.0, 3.0)], rel=1e-12
    )
    # ten zeros and one 1: the 1 lies sqrt(10) > 3 sigmas above the mean, so it is clipped to 1.0
    out = normalize([0.0] * 10 + [1.0], "dbsf")
    assert out[-1] == 1.0
    assert out[0] == pytest.approx(0.5 - 1 / (6 * math.sqrt(10)), rel=1e-12)


@pytest.mark.parametrize(("method", "value"), [("minmax", 1.0), ("zscore", 0.0), ("dbsf", 0.5)])
def test_all_scores_equal(method: str, value: float) -> None:
    assert normalize([4.2, 4.2, 4.2], method) == [value] * 3  # type: ignore[arg-type]
    assert normalize([7.0], method) == [value]  # type: ignore[arg-type]
    assert normalize([], method) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["zscore", "dbsf"])
def test_spread_that_underflows_is_treated_as_all_equal(method: str) -> None:
    tiny = 5e-324  # smallest subnormal: the squared deviations underflow to 0
    assert normalize([0.0, tiny], method) == normalize([1.0, 1.0], method)  # type: ignore[arg-type]


def test_normalize_leaves_input_alone_and_rejects_garbage() -> None:
    scores = [3.0, 1.0]
    normalize(scores, "zscore")
    assert scores == [3.0, 1.0]
    with pytest.raises(FusionError, match="unknown normalization"):
        normalize(scores, "softmax")  # type: ignore[arg-type]
    with pytest.raises(FusionError, match="non-finite"):
        normalize([1.0, float("nan")], "minmax")


# --- linear ----------------------------------------------------------------------------------------


def test_linear_minmax_missing_docs_contribute_zero() -> None:
    hits = fuse_linear({"dense": DENSE, "sparse": SPARSE}, weights={"dense": 0.7, "sparse": 0.3})
    d_norm = {"a": 1.0, "b": (0.8 - 0.5) / (0.9 - 0.5), "c": 0.0}
    s_norm = {"c": 1.0, "d": (7.0 - 3.0) / (12.0 - 3.0), "a": 0.0}
    expected = {doc: 0.7 * d_norm.get(doc, 0.0) + 0.3 * s_norm.get(doc, 0.0) for doc in "abcd"}
    assert _scores(hits) == pytest.approx(expected, rel=1e-12)
    assert _ids(hits) == sorted(expected, key=lambda d: (-expected[d], d))
    b = next(h for h in hits if h.doc_id == "b")
    assert b.contributions == {
        "dense": Contribution(rank=2, raw_score=0.8, normalized=d_norm["b"], weight=0.7, value=0.7 * d_norm["b"])
    }


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_linear_sum_of_values_is_the_score(normalization: str) -> None:
    hits = fuse_linear({"dense": DENSE, "sparse": SPARSE}, normalization=normalization)  # type: ignore[arg-type]
    assert len(hits) == 4
    for hit in hits:
        assert hit.score == sum(c.value for c in hit.contributions.values())
        for c in hit.contributions.values():
            assert c.value == c.weight * c.normalized


def test_linear_one_retriever_empty_and_all_equal() -> None:
    hits = fuse_linear({"dense": [("x", 0.3), ("y", 0.3)], "sparse": []})
    assert [(h.doc_id, h.score) for h in hits] == [("x", 1.0), ("y", 1.0)]


def test_linear_zscore_values() -> None:
    hits = fuse_linear({"dense": [("a", 3.0), ("b", 2.0), ("c", 1.0)], "sparse": [("c", 5.0)]}, normalization="zscore")
    sigma = math.sqrt(2 / 3)
    assert _scores(hits) == pytest.approx({"a": 1 / sigma, "b": 0.0, "c": -1 / sigma + 0.0}, abs=1e-12)
    assert _ids(hits) == ["a", "b", "c"]


# --- contract: inputs untouched, errors --------------------------------------------------------------


def test_inputs_unchanged() -> None:
    rankings = {"dense": list(DENSE), "sparse": list(SPARSE)}
    weights = {"dense": 0.5}
    before = copy.deepcopy((rankings, weights))
    fuse_rrf(rankings, weights)
    fuse_linear(rankings, weights, normalization="dbsf")
    assert (rankings, weights) == before


def test_accepts_tuples_and_returns_read_only_contributions() -> None:
    hits = fuse_rrf({"dense": (("a", 1.0),)})
    with pytest.raises(TypeError):
        hits[0].contributions["x"] = None  # type: ignore[index]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fuse_rrf({"dense": [("a", 1.0), ("a", 0.5)]}), "twice"),
        (lambda: fuse_rrf({"dense": [("a", float("inf"))]}), "score"),
        (lambda: fuse_rrf({"dense": DENSE}, weights={"dense": -1.0}), "weight"),
        (lambda: fuse_linear({"dense": DENSE}, weights={"dense": float("nan")}), "weight"),
        (lambda: fuse_rrf({"dense": DENSE}, k=-1), "k must be"),
        (lambda: fuse_linear({"dense": DENSE}, normalization="l2"), "normalization"),  # type: ignore[arg-type]
        (lambda: fuse({"dense": DENSE}, "borda"), "fusion method"),  # type: ignore[arg-type]
    ],
)
def test_errors(call, message: str) -> None:  # noqa: ANN001
    with pytest.raises(FusionError, match=message):
        call()


def test_fuse_dispatches() -> None:
    rankings = {"dense": DENSE, "sparse": SPARSE}
    assert fuse(rankings, "rrf", rrf_k=10) == fuse_rrf(rankings, k=10)
    assert fuse(rankings, "linear", normalization="dbsf") == fuse_linear(rankings, normalization="dbsf")


# --- cross-check against ranx ----------------------------------------------------------------------


def _random_case(seed: int) -> dict[str, list[tuple[str, float]]]:
    rng = random.Random(seed)
    pool = [f"doc{i}" for i in range(40)]
    out = {}
    for name in ("dense", "sparse"):
        ids = rng.sample(pool, 25)
        scores = sorted((rng.uniform(0, 30) for _ in ids), reverse=True)
        out[name] = list(zip(ids, scores, strict=True))
    return out


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::Warning")  # numba's type-safety chatter inside ranx
def test_matches_ranx() -> None:
    ranx = pytest.importorskip("ranx")
    rankings = _random_case(7)
    runs = [ranx.Run({"q": dict(rankings[name])}) for name in ("dense", "sparse")]

    ours = _scores(fuse_rrf(rankings, k=60))
    theirs = ranx.fuse(runs, norm=None, method="rrf", params={"k": 60}).to_dict()["q"]
    assert ours == pytest.approx(dict(theirs), rel=1e-9)

    ours = _scores(fuse_linear(rankings, weights={"dense": 0.3, "sparse": 0.7}, normalization="minmax"))
    theirs = ranx.fuse(runs, norm="min-max", method="wsum", params={"weights": [0.3, 0.7]}).to_dict()["q"]
    assert ours == pytest.approx(dict(theirs), rel=1e-9, abs=1e-12)


def test_max_normalization_keeps_ratios() -> None:
    assert normalize([4.0, 2.0, 1.0], "max") == [1.0, 0.5, 0.25]
    assert normalize([3.0, 3.0], "max") == [1.0, 1.0]
    assert normalize([-1.0, 0.0], "max") == [0.0, 0.0]


@pytest.mark.parametrize("method", ["rrf", "linear"])
def test_a_limit_keeps_exactly_the_head_of_the_full_fused_list(method: str) -> None:
    rng = random.Random(7)
    docs = [f"d{i:03d}" for i in range(60)]
    rankings = {name: [(d, rng.uniform(0, 30)) for d in rng.sample(docs, 40)] for name in ("dense", "sparse:fr")}
    for ranking in rankings.values():
        ranking.sort(key=lambda pair: -pair[1])
    full = fuse(rankings, method, weights={"dense": 1.0, "sparse:fr": 0.3})
    for limit in (0, 1, 10, 59, 100):
        head = fuse(rankings, method, weights={"dense": 1.0, "sparse:fr": 0.3}, limit=limit)
        assert head == full[:limit]  # same ids, same float scores, same contributions
