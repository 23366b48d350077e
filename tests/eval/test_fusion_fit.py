"""Fusion profile fitting on real evidence from the sample index: the fast scorer mirrors the service."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import SAMPLE_DIR

from passerelle.eval import fusion_fit as ff
from passerelle.eval.collections import load_collection
from passerelle.eval.fusion_evidence import collect_evidence
from passerelle.service.language_fusion import FusionProfile


@pytest.fixture(scope="module")
def evidence(sample_usem3_index: Path, tmp_path_factory: pytest.TempPathFactory) -> list:
    cache = tmp_path_factory.mktemp("evidence") / "sample.json"
    first = collect_evidence(sample_usem3_index, load_collection(SAMPLE_DIR), cache=cache)
    assert cache.is_file()
    again = collect_evidence(Path("/nonexistent"), load_collection(SAMPLE_DIR), cache=cache)  # read back
    assert again == first
    return first


def test_evidence_holds_lists_and_signals(evidence: list) -> None:
    assert len(evidence) == 32
    e = evidence[0]
    assert e.query_lang == "en" and e.dense and set(e.sparse) == {"sparse:en"}
    assert 0.0 < e.signals["sparse:en"]["match"] <= 1.0 and 0.0 <= e.signals["sparse:en"]["coverage"] <= 1.0


def test_fast_scorer_agrees_with_the_service_fusion(evidence: list) -> None:
    profile = FusionProfile(name="t", matched=0.7, mismatched=0.1, mismatched_coverage=0.5)
    compiled = ff._Compiled(evidence, profile.dense_normalization, profile.sparse_normalization)
    assert compiled.ndcg(profile) == pytest.approx(ff.score(evidence, ff.profile_fuser(profile))["ndcg@10"])


def test_tuning_never_ends_below_the_best_single_retriever(evidence: list) -> None:
    by_name = {"sample": evidence}
    dense = ff.score(evidence, ff.fixed_fuser("rrf", sparse=False, latent=False))["ndcg@10"]
    bm25 = ff.score(evidence, ff.fixed_fuser("rrf", dense=False, latent=False))["ndcg@10"]
    grid = {
        "matched": (0.0, 0.5, 1.0, 2.0),
        "mismatched": (0.0,),
        "mismatched_coverage": (0.0,),
        "mismatched_gap": (0.0,),
        "mismatched_margin": (0.0,),
    }
    profile, per = ff.tune_profile(by_name, baselines={"sample": max(dense, bm25)}, grid=grid, passes=1)
    assert per["sample"] >= max(dense, bm25) - 1e-9
    assert profile.fitted["collections"] == ["sample"] and profile.matched in grid["matched"]


def test_a_coefficient_the_training_data_cannot_inform_keeps_its_prior(evidence: list) -> None:
    """Held-out folds without any view in their queries' language must not teach 'never trust one': with
    every view marked as another language's, ``matched`` has nothing to fit and stays at 1 (dense's weight)."""
    from dataclasses import replace

    mismatched_only = [
        replace(e, signals={name: {**sig, "match": 0.0} for name, sig in e.signals.items()}) for e in evidence
    ]
    dense = ff.score(mismatched_only, ff.fixed_fuser("rrf", sparse=False, latent=False))["ndcg@10"]
    profile, _ = ff.tune_profile({"sample": mismatched_only}, baselines={"sample": dense}, passes=1)
    assert profile.matched == 1.0


@pytest.mark.parametrize(
    "profile",
    [
        FusionProfile(name="a", matched=0.7, mismatched=0.1, mismatched_coverage=0.5),
        FusionProfile(name="b", matched=0.0, mismatched=-0.2, mismatched_coverage=2.0, mismatched_margin=-1.0),
        FusionProfile(name="ties", dense=0.0, matched=0.0),  # every score 0: ranks from the id order alone
    ],
    ids=["a", "b", "ties"],
)
def test_fast_ndcg_equals_ranx(evidence: list, profile: FusionProfile) -> None:
    compiled = ff._Compiled(evidence, profile.dense_normalization, profile.sparse_normalization)
    assert compiled.ndcg_fast(profile) == pytest.approx(compiled.ndcg(profile), abs=1e-12)
