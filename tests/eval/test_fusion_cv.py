"""Cross-validation of the fusion fit: each group is scored by a profile that never saw it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from support import SAMPLE_DIR

from passerelle.eval import fusion_fit as ff
from passerelle.eval.collections import load_collection
from passerelle.eval.errors import EvalError
from passerelle.eval.fusion_cv import cross_validate, family_of
from passerelle.eval.fusion_evidence import QueryEvidence, collect_evidence
from passerelle.service.language_fusion import FusionProfile

SMALL_GRID = {
    "matched": (0.0, 1.0, 2.0),
    "mismatched": (0.0,),
    "mismatched_coverage": (0.0, 1.0),
    "mismatched_gap": (0.0,),
    "mismatched_margin": (0.0,),
}


@pytest.fixture(scope="module")
def evidence(sample_usem3_index: Path) -> list[QueryEvidence]:
    return collect_evidence(sample_usem3_index, load_collection(SAMPLE_DIR))


def _renamed(evidence: list[QueryEvidence], prefix: str, keep_text: bool = True) -> list[QueryEvidence]:
    return [replace(e, qid=f"{prefix}-{e.qid}", text=e.text if keep_text else f"{prefix}: {e.text}") for e in evidence]


def test_family_of_a_pair() -> None:
    assert family_of("xquad-en-de@xquad-en-de-e5-small") == "xquad" and family_of("biomed-en-fr@x") == "biomed"


def test_every_group_is_scored_by_a_profile_tuned_without_it(evidence: list[QueryEvidence]) -> None:
    pairs = {
        "alpha-en-fr@a": _renamed(evidence, "a", keep_text=False),
        "alpha-en-de@b": _renamed(evidence, "b", keep_text=False),
        "beta-en-es@c": _renamed(evidence, "c", keep_text=False),
    }
    seen: list[tuple[str, ...]] = []

    def recording_fit(train: Mapping[str, Sequence[QueryEvidence]], baselines: Mapping[str, float]) -> FusionProfile:
        seen.append(tuple(sorted(train)))
        return FusionProfile(name="fold", matched=float(len(train)))

    result = cross_validate(pairs, "leave-family-out", fit=recording_fit)
    assert seen == [("beta-en-es@c",), ("alpha-en-de@b", "alpha-en-fr@a")]  # alpha held out, then beta
    assert [fold.held_out for fold in result.folds] == ["alpha", "beta"]
    assert all(fold.shared_queries == 0 for fold in result.folds)  # distinct query texts: an honest split
    # each pair's out-of-fold score is its own profile's score on it, computed the service's way
    expected = ff.score(pairs["beta-en-es@c"], ff.profile_fuser(FusionProfile(name="fold", matched=2.0)))["ndcg@10"]
    assert result.out_of_fold["beta-en-es@c"] == pytest.approx(expected)


def test_leave_pair_out_counts_the_queries_its_folds_share(evidence: list[QueryEvidence]) -> None:
    pairs = {"alpha-en-fr@a": _renamed(evidence, "a"), "alpha-en-de@b": _renamed(evidence, "b")}
    result = cross_validate(pairs, "leave-pair-out", grid=SMALL_GRID, passes=1)
    assert [fold.shared_queries for fold in result.folds] == [len(evidence), len(evidence)]
    assert "shared between a held-out group and its training pairs: 64" in result.to_markdown()
    with pytest.raises(EvalError, match="at least two groups"):
        cross_validate(pairs, "leave-family-out")


def test_shortfalls_name_the_pairs_below_their_best_single_retriever(evidence: list[QueryEvidence]) -> None:
    pairs = {"alpha-en-fr@a": _renamed(evidence, "a", False), "beta-en-fr@b": _renamed(evidence, "b", False)}
    good = cross_validate(pairs, "leave-family-out", grid=SMALL_GRID, passes=1)
    assert good.shortfalls() == {}
    # every weight 0: the ranking is the id order, far below either retriever
    bad = cross_validate(pairs, "leave-family-out", fit=lambda train, base: FusionProfile("bad", dense=0, matched=0))
    assert set(bad.shortfalls()) == set(pairs)
