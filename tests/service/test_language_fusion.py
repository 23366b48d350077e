"""Language-aware fusion: per-query view weights from language match, coverage, gap and dense margin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from passerelle.service.errors import InvalidRequestError
from passerelle.service.language_fusion import (
    FusionProfile,
    ViewSignals,
    dense_margin,
    fuse_language_aware,
    load_profile,
    shipped_profiles,
    top_gap,
)

PROFILE = FusionProfile(
    name="t", matched=2.0, mismatched=0.1, mismatched_coverage=1.0, mismatched_gap=0.2, mismatched_margin=-4.0
)
DENSE = [("a", 0.9), ("b", 0.7), ("c", 0.5)]


def test_view_weight_formula() -> None:
    matched = ViewSignals("en", 1.0, coverage=0.1, gap=0.0)
    other = ViewSignals("de", 0.0, coverage=0.5, gap=0.25)
    assert PROFILE.view_weight(matched, margin=0.3) == 2.0
    assert PROFILE.view_weight(other, margin=0.05) == pytest.approx(0.1 + 1.0 * 0.5 + 0.2 * 0.25 - 4.0 * 0.05)
    assert PROFILE.view_weight(other, margin=0.5) == 0.0  # clipped: a confident dense answer needs no help


def test_an_unsure_language_match_weighs_between_match_and_mismatch() -> None:
    """The weight is the expectation over whether the view is in the query's language."""
    other = PROFILE.view_weight(ViewSignals("en", 0.0, coverage=0.5, gap=0.25), margin=0.05)
    full = PROFILE.view_weight(ViewSignals("en", 1.0, coverage=0.5, gap=0.25), margin=0.05)
    unsure = PROFILE.view_weight(ViewSignals("en", 0.3, coverage=0.5, gap=0.25), margin=0.05)
    assert full == 2.0 and unsure == pytest.approx(0.3 * full + 0.7 * other)
    assert PROFILE.view_weight(ViewSignals("en", 7.0, 0.5, 0.25), 0.05) == full  # match is clipped to [0, 1]


def test_signals() -> None:
    assert top_gap([("x", 4.0), ("y", 1.0)]) == pytest.approx(0.75)
    assert top_gap([("x", 4.0)]) == 1.0 and top_gap([]) == 0.0
    assert dense_margin(DENSE) == pytest.approx((0.9 - 0.7) / (0.9 - 0.5)) and dense_margin(DENSE[:1]) == 0.0
    assert dense_margin([("a", 0.8), ("b", 0.8)]) == 0.0


def test_fused_score_is_the_sum_of_explained_contributions() -> None:
    sparse = [("b", 6.0), ("d", 3.0)]
    signals = {"sparse:en": ViewSignals("en", 1.0, 1.0, 0.5)}
    dense = list(DENSE)
    hits, weights = fuse_language_aware({"dense": dense, "sparse:en": sparse}, signals, PROFILE)
    assert weights == {"dense": 1.0, "sparse:en": 2.0}
    by_id = {h.doc_id: h for h in hits}
    # dense min-max: a=1, b=(0.7-0.5)/0.4=0.5, c=0; sparse s/max: b=1, d=0.5
    assert by_id["b"].score == pytest.approx(1.0 * 0.5 + 2.0 * 1.0)
    assert by_id["d"].score == pytest.approx(2.0 * 0.5)
    assert [h.doc_id for h in hits] == ["b", "a", "d", "c"]
    for hit in hits:
        assert hit.score == pytest.approx(sum(c.value for c in hit.contributions.values()))
    assert dense == DENSE  # inputs unchanged


def test_mismatched_view_without_shared_terms_changes_nothing() -> None:
    sparse = [("c", 2.0)]
    signals = {"sparse:de": ViewSignals("de", 0.0, coverage=0.0, gap=1.0)}
    profile = FusionProfile(name="t", matched=1.0, mismatched=0.0, mismatched_coverage=1.0, mismatched_gap=0.0)
    hits, weights = fuse_language_aware({"dense": DENSE, "sparse:de": sparse}, signals, profile)
    assert weights["sparse:de"] == 0.0
    assert [h.doc_id for h in hits] == ["a", "b", "c"]


def test_one_side_empty_is_normal() -> None:
    signals = {"sparse:en": ViewSignals("en", 1.0, 0.0, 0.0)}
    hits, _ = fuse_language_aware({"dense": DENSE, "sparse:en": []}, signals, PROFILE)
    assert [h.doc_id for h in hits] == ["a", "b", "c"]
    hits, _ = fuse_language_aware({"sparse:en": [("z", 1.0)]}, signals, PROFILE)
    assert [h.doc_id for h in hits] == ["z"]


def test_shipped_default_profile_loads_and_bad_profiles_are_refused(tmp_path: Path) -> None:
    assert "default" in shipped_profiles()
    default = load_profile("default")
    assert default.dense == 1.0 and default.matched > 0 and default.fitted["collections"]
    with pytest.raises(InvalidRequestError, match="unknown fusion profile 'nope'"):
        load_profile("nope")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "temperature": 3}))
    with pytest.raises(InvalidRequestError, match="unknown fields: temperature"):
        load_profile(str(bad))


def test_a_limit_keeps_exactly_the_head_of_the_full_fused_list() -> None:
    sparse = [("c", 12.0), ("d", 9.5), ("a", 3.0), ("e", 1.0)]
    rankings = {"dense": DENSE, "sparse:en": sparse}
    signals = {"sparse:en": ViewSignals("en", 0.0, coverage=0.6, gap=top_gap(sparse))}
    full, weights = fuse_language_aware(rankings, signals, PROFILE)
    assert [h.doc_id for h in full] == sorted(
        {d for d, _ in DENSE + sparse}, key=lambda d: (-next(h.score for h in full if h.doc_id == d), d)
    )
    for limit in (0, 1, 3, 10):
        head, same_weights = fuse_language_aware(rankings, signals, PROFILE, limit=limit)
        assert head == full[:limit] and same_weights == weights


def test_misdetected_queries_never_give_a_view_full_trust(searcher: Any) -> None:
    """On the sample index (en view + fr/de/es documents): a query whose language the detector is unsure of
    gives the view it picked only partial trust; the same query with its language given gets full trust."""
    from passerelle.service.searcher import SearchParams

    query = "Who do gurus control?"  # English, but langid leans Portuguese
    (detected,) = searcher.retrieve([query], SearchParams(mode="hybrid"))
    assert detected.query_lang == "en" and 0.0 < detected.signals["sparse:en"].match < 0.5
    (given,) = searcher.retrieve([query], SearchParams(mode="hybrid", query_lang="en"))
    assert given.signals["sparse:en"].match == 1.0
    (clear,) = searcher.retrieve(["Which river flows through the capital of the country?"], SearchParams())
    assert clear.signals["sparse:en"].match == 1.0
