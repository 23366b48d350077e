"""Out-of-fold scores of the fusion profile fit: every pair is scored by a profile tuned without its group.

A *pair* is one collection searched through one index (``xquad-en-de@xquad-en-de-e5-small``). Two schemes:

- ``leave-pair-out``: each pair is held out alone. Optimistic: the other XQuAD languages ask the same
  English questions, so the training folds have seen the held-out queries (the report counts them).
- ``leave-family-out``: a collection family (``xquad``, ``tatoeba``, ``biomed``: the name before the first
  ``-``) is held out whole, with every index of it; the folds share no query text, which the report
  checks. This is the honest estimate of how the fit serves a collection it has never seen.

A profile fitted on every pair and then scored on those same pairs is *in-sample*: its numbers are
labelled so wherever they appear.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from passerelle.eval.errors import EvalError
from passerelle.eval.fusion_evidence import QueryEvidence
from passerelle.eval.fusion_fit import fixed_fuser, profile_fuser, score, tune_profile
from passerelle.service.language_fusion import FusionProfile

Scheme = Literal["leave-pair-out", "leave-family-out"]
SCHEMES: tuple[Scheme, ...] = ("leave-pair-out", "leave-family-out")


def collection_of(pair: str) -> str:
    """``xquad-en-de@index`` -> ``xquad-en-de``."""
    return pair.split("@", 1)[0]


def family_of(pair: str) -> str:
    """``xquad-en-de@index`` -> ``xquad``."""
    return collection_of(pair).split("-", 1)[0]


def grouping(scheme: Scheme) -> Callable[[str], str]:
    """The function naming the group a pair is held out with."""
    if scheme == "leave-pair-out":
        return lambda pair: pair
    if scheme == "leave-family-out":
        return family_of
    raise EvalError(f"unknown cross-validation scheme {scheme!r}; use one of {', '.join(SCHEMES)}")


@dataclass(frozen=True)
class Fold:
    """One held-out group: what it holds, the profile tuned without it, and the query texts the
    training pairs share with it (0 for an honest fold)."""

    held_out: str
    pairs: tuple[str, ...]
    profile: FusionProfile
    shared_queries: int


@dataclass(frozen=True)
class CrossValidation:
    """Per pair: nDCG@10 of each single retriever (``singles``: dense, BM25, and latent terms where the index
    has them) and of the out-of-fold fused ranking."""

    scheme: Scheme
    singles: Mapping[str, Mapping[str, float]]
    out_of_fold: Mapping[str, float]
    folds: tuple[Fold, ...]

    def best_single(self, pair: str) -> float:
        """The best single retriever on ``pair``."""
        return max(scores[pair] for scores in self.singles.values() if pair in scores)

    def shortfalls(self, tolerance: float = 0.005) -> dict[str, float]:
        """Pairs whose out-of-fold fusion falls more than ``tolerance`` below their best single retriever."""
        return {
            pair: round(value - self.best_single(pair), 4)
            for pair, value in self.out_of_fold.items()
            if value < self.best_single(pair) - tolerance
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (profiles as dicts)."""
        return {
            "scheme": self.scheme,
            "pairs": {
                pair: {
                    **{name: round(scores[pair], 4) for name, scores in self.singles.items() if pair in scores},
                    "out_of_fold": round(value, 4),
                    "delta_vs_best_single": round(value - self.best_single(pair), 4),
                }
                for pair, value in self.out_of_fold.items()
            },
            "folds": [
                {
                    "held_out": fold.held_out,
                    "pairs": list(fold.pairs),
                    "shared_queries": fold.shared_queries,
                    "profile": fold.profile.to_dict(),
                }
                for fold in self.folds
            ],
        }

    def to_markdown(self) -> str:
        """A table: one row per pair, nDCG@10 of each single retriever, the out-of-fold fusion and its Δ."""
        names = list(self.singles)
        lines = [
            f"| pair ({self.scheme}) | " + " | ".join(names) + " | fused, out of fold | Δ vs best single |",
            "|---|" + "---:|" * (len(names) + 2),
        ]
        for pair, value in self.out_of_fold.items():
            delta = value - self.best_single(pair)
            mark = " ▲" if delta > 1e-9 else " ▼" if delta < -1e-9 else ""
            cells = [f"{self.singles[n][pair]:.3f}" if pair in self.singles[n] else "–" for n in names]
            lines.append(f"| {pair} | " + " | ".join(cells) + f" | {value:.3f}{mark} | {delta:+.3f} |")
        shared = sum(fold.shared_queries for fold in self.folds)
        lines.append("")
        lines.append(
            f"{len(self.folds)} folds; query texts shared between a held-out group and its training pairs: {shared}."
        )
        return "\n".join(lines)


def single_retrievers(evidence: Mapping[str, Sequence[QueryEvidence]]) -> dict[str, dict[str, float]]:
    """nDCG@10 of each retriever alone, per pair: ``dense``, ``bm25``, and ``latent`` (pairs that have it)."""
    alone = {
        "dense": fixed_fuser("rrf", sparse=False, latent=False),
        "bm25": fixed_fuser("rrf", dense=False, latent=False),
        "latent": fixed_fuser("rrf", dense=False, sparse=False),
    }
    singles: dict[str, dict[str, float]] = {}
    for name, fuser in alone.items():
        for pair, ev in evidence.items():
            if name != "latent" or any(e.latent for e in ev):
                singles.setdefault(name, {})[pair] = score(ev, fuser)["ndcg@10"]
    return singles


def best_singles(singles: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Per pair, the best single retriever's nDCG@10."""
    pairs = {pair for scores in singles.values() for pair in scores}
    return {pair: max(scores[pair] for scores in singles.values() if pair in scores) for pair in pairs}


def cross_validate(
    evidence: Mapping[str, Sequence[QueryEvidence]],
    scheme: Scheme = "leave-family-out",
    *,
    fit: Callable[[Mapping[str, Sequence[QueryEvidence]], Mapping[str, float]], FusionProfile] | None = None,
    **tune_kwargs: Any,
) -> CrossValidation:
    """Score every pair with a profile tuned on the pairs outside its group.

    ``fit(train_evidence, baselines)`` makes the profile (default: :func:`tune_profile` with
    ``tune_kwargs``, the procedure that fits the shipped profile).

    Raises:
        EvalError: fewer than two groups (nothing to train a held-out group on), or an unknown scheme.
    """
    group = grouping(scheme)
    groups = sorted({group(pair) for pair in evidence})
    if len(groups) < 2:
        raise EvalError(f"{scheme} needs pairs from at least two groups, got {groups}")
    singles = single_retrievers(evidence)
    baselines = best_singles(singles)

    def default_fit(train: Mapping[str, Sequence[QueryEvidence]], base: Mapping[str, float]) -> FusionProfile:
        return tune_profile(train, baselines=base, **tune_kwargs)[0]

    fitter = fit or default_fit
    out_of_fold: dict[str, float] = {}
    folds = []
    for held_out in groups:
        held = [pair for pair in evidence if group(pair) == held_out]
        train = {pair: ev for pair, ev in evidence.items() if group(pair) != held_out}
        profile = fitter(train, {pair: baselines[pair] for pair in train})
        for pair in held:
            out_of_fold[pair] = score(evidence[pair], profile_fuser(profile))["ndcg@10"]
        seen = {e.text for ev in train.values() for e in ev if e.text}
        shared = len({e.text for pair in held for e in evidence[pair] if e.text and e.text in seen})
        folds.append(Fold(held_out=held_out, pairs=tuple(held), profile=profile, shared_queries=shared))
    ordered = {pair: out_of_fold[pair] for pair in evidence}
    return CrossValidation(scheme=scheme, singles=singles, out_of_fold=ordered, folds=tuple(folds))
