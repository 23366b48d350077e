"""Rank fusion: pure functions over ranked lists from several retrievers.

A *ranking* is one retriever's answer, best first: a sequence of ``(doc_id, raw_score)``. The functions
take ``{retriever name: ranking}`` and return one fused list of :class:`FusedHit`, each carrying, per
retriever that found it, a :class:`Contribution` whose ``value`` fields sum to the hit's ``score`` (this
is what ``explain`` shows). A retriever that returns nothing is normal: it simply contributes nothing.

Inputs are never mutated. Ties are broken deterministically: score descending, then ``doc_id``
ascending.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, get_args

from passerelle.service.errors import FusionError

Ranking = Sequence[tuple[str, float]]
FusionMethod = Literal["auto", "rrf", "linear"]
Normalization = Literal["minmax", "zscore", "dbsf", "max"]

FUSION_METHODS: tuple[str, ...] = get_args(FusionMethod)
FIXED_FUSION_METHODS: tuple[str, ...] = ("rrf", "linear")  # "auto" is language-aware: see language_fusion
NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)
DEFAULT_RRF_K = 60


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one retriever adds to one fused hit.

    Attributes:
        rank: 1-based position of the document in that retriever's ranking.
        raw_score: the retriever's own score.
        normalized: the normalized score used by linear fusion; ``None`` for RRF (rank-based).
        weight: the retriever's weight.
        value: the amount added to the fused score (``weight / (k + rank)`` or ``weight * normalized``).
    """

    rank: int
    raw_score: float
    normalized: float | None
    weight: float
    value: float


@dataclass(frozen=True, slots=True)
class FusedHit:
    """One document of a fused ranking; ``score`` is the sum of its contributions' ``value``."""

    doc_id: str
    score: float
    contributions: Mapping[str, Contribution]


def normalize(scores: Sequence[float], method: Normalization) -> list[float]:
    """Normalize one retriever's scores.

    - ``minmax``: ``(s - min) / (max - min)``, in [0, 1].
    - ``zscore``: ``(s - mu) / sigma`` (population standard deviation).
    - ``dbsf``: distribution-based score fusion, ``(s - (mu - 3 sigma)) / (6 sigma)`` clipped to [0, 1]
      (the 3-sigma bounds of Qdrant's DBSF).
    - ``max``: ``max(s, 0) / max``, in [0, 1]: keeps score ratios, so the last hit of a short list is not
      pushed to 0 as min-max does (meant for non-negative scores such as BM25; all 0 when max <= 0).

    When every score is equal (including a single score) the formulas divide by zero. The guard then
    gives every score: ``minmax`` 1.0 (they are all the retriever's best), ``zscore`` 0.0 and ``dbsf``
    0.5 (what each formula gives the mean).

    Args:
        scores: raw scores, any order; not modified.
        method: one of :data:`NORMALIZATIONS`.

    Returns:
        The normalized scores, in the input order (empty for empty input).

    Raises:
        FusionError: unknown method, or a score that is not a finite number.
    """
    if method not in NORMALIZATIONS:
        raise FusionError(f"unknown normalization {method!r}; choose one of {', '.join(NORMALIZATIONS)}")
    values = [float(s) for s in scores]
    for s in values:
        if not math.isfinite(s):
            raise FusionError(f"cannot normalize a non-finite score ({s}); retrievers must return numbers")
    if not values:
        return []
    lo, hi = min(values), max(values)
    if method == "max":
        return [max(s, 0.0) / hi for s in values] if hi > 0 else [0.0] * len(values)
    degenerate = [{"minmax": 1.0, "zscore": 0.0, "dbsf": 0.5}[method]] * len(values)
    if lo == hi:
        return degenerate
    if method == "minmax":
        return [(s - lo) / (hi - lo) for s in values]
    mu = math.fsum(values) / len(values)
    sigma = math.sqrt(math.fsum((s - mu) ** 2 for s in values) / len(values))
    if sigma == 0.0:  # distinct scores whose spread underflows (e.g. subnormal differences)
        return degenerate
    if method == "zscore":
        return [(s - mu) / sigma for s in values]
    low = mu - 3.0 * sigma
    return [min(1.0, max(0.0, (s - low) / (6.0 * sigma))) for s in values]


def fuse_rrf(
    rankings: Mapping[str, Ranking],
    weights: Mapping[str, float] | None = None,
    k: int = DEFAULT_RRF_K,
    limit: int | None = None,
) -> list[FusedHit]:
    """Weighted Reciprocal Rank Fusion (Cormack, Clarke & Buettcher, SIGIR 2009).

    ``score(d) = sum_r w_r / (k + rank_r(d))`` over the retrievers ``r`` that returned ``d``.

    Args:
        rankings: retriever name -> ranked ``(doc_id, raw_score)`` list, best first.
        weights: retriever name -> weight (>= 0); a retriever without one weighs 1.0, a weight for a
            retriever absent from ``rankings`` is unused.
        k: the RRF constant (>= 0); 60 in the paper.
        limit: keep only the best ``limit`` hits (``None``: all).

    Returns:
        Fused hits, best first.

    Raises:
        FusionError: negative ``k``, bad weight, duplicate document in one ranking, non-finite score.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Real) or not math.isfinite(k) or k < 0:
        raise FusionError(f"rrf k must be a number >= 0, got {k!r}")
    table = _collect(rankings, weights, normalization=None)
    return _finish(table, lambda rank, raw, norm, weight: weight / (k + rank), limit)


def fuse_linear(
    rankings: Mapping[str, Ranking],
    weights: Mapping[str, float] | None = None,
    normalization: Normalization = "minmax",
    limit: int | None = None,
) -> list[FusedHit]:
    """Weighted sum of normalized scores (linear interpolation / CombSUM with weights).

    ``score(d) = sum_r w_r * norm_r(s_r(d))``; a document a retriever did not return contributes 0 for
    that retriever. Scores are normalized per retriever with :func:`normalize`.

    Args:
        rankings: retriever name -> ranked ``(doc_id, raw_score)`` list, best first.
        weights: retriever name -> weight (>= 0); default 1.0 each.
        normalization: ``minmax``, ``zscore``, ``dbsf`` or ``max``.
        limit: keep only the best ``limit`` hits (``None``: all).

    Returns:
        Fused hits, best first.

    Raises:
        FusionError: unknown normalization, bad weight, duplicate document, non-finite score.
    """
    if normalization not in NORMALIZATIONS:
        raise FusionError(f"unknown normalization {normalization!r}; choose one of {', '.join(NORMALIZATIONS)}")
    table = _collect(rankings, weights, normalization=normalization)
    return _finish(table, lambda rank, raw, norm, weight: weight * norm, limit)


def fuse(
    rankings: Mapping[str, Ranking],
    method: FusionMethod = "rrf",
    *,
    weights: Mapping[str, float] | None = None,
    rrf_k: int = DEFAULT_RRF_K,
    normalization: Normalization = "minmax",
    limit: int | None = None,
) -> list[FusedHit]:
    """Fuse with the method named ``method``: ``rrf`` (:func:`fuse_rrf`) or ``linear`` (:func:`fuse_linear`);
    ``limit`` keeps only the best hits (the same hits and scores as the head of the full list).

    Raises:
        FusionError: unknown method, or any error of the chosen method.
    """
    if method == "rrf":
        return fuse_rrf(rankings, weights, k=rrf_k, limit=limit)
    if method == "linear":
        return fuse_linear(rankings, weights, normalization=normalization, limit=limit)
    if method == "auto":
        raise FusionError("fusion 'auto' needs query-time signals: use language_fusion.fuse_language_aware")
    raise FusionError(f"unknown fusion method {method!r}; choose one of {', '.join(FUSION_METHODS)}")


def weighted_sum(rows: Sequence[tuple[str, str, int, float, float, float]], limit: int | None = None) -> list[FusedHit]:
    """Fuse rows ``(retriever, doc_id, rank, raw score, normalized score, weight)`` by the weighted sum of
    normalized scores: best first (score desc, doc_id asc), the best ``limit`` when given."""
    return _finish(list(rows), lambda rank, raw, norm, weight: weight * norm, limit)


# (retriever name, doc_id, rank, raw score, normalized score or None, weight), in input order
_Row = tuple[str, str, int, float, float | None, float]
# (rank, raw score, normalized score, weight) -> contribution value
_ValueOf = Callable[[int, float, Any, float], float]


def _weight_of(name: str, weights: Mapping[str, float] | None) -> float:
    if weights is None or name not in weights:
        return 1.0
    w = weights[name]
    if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w) or w < 0:
        raise FusionError(f"weight of retriever {name!r} must be a finite number >= 0, got {w!r}")
    return float(w)


def _collect(
    rankings: Mapping[str, Ranking], weights: Mapping[str, float] | None, normalization: Normalization | None
) -> list[_Row]:
    """Validate the rankings and flatten them into rows (no input is modified)."""
    rows: list[_Row] = []
    for name, ranking in rankings.items():
        weight = _weight_of(name, weights)
        seen: set[str] = set()
        ids: list[str] = []
        raws: list[float] = []
        for position, (doc_id, raw) in enumerate(ranking, start=1):
            if doc_id in seen:
                raise FusionError(
                    f"retriever {name!r} returned document {doc_id!r} twice "
                    f"(second time at rank {position}); a ranking lists each id once"
                )
            seen.add(doc_id)
            score = float(raw)
            if not math.isfinite(score):
                raise FusionError(f"retriever {name!r} gave document {doc_id!r} the score {raw!r}")
            ids.append(doc_id)
            raws.append(score)
        norms: list[float | None] = (
            list(normalize(raws, normalization)) if normalization is not None else [None] * len(raws)
        )
        for position, (doc_id, raw, norm) in enumerate(zip(ids, raws, norms, strict=True), start=1):
            rows.append((name, doc_id, position, raw, norm, weight))
    return rows


def _finish(rows: list[_Row], value_of: _ValueOf, limit: int | None = None) -> list[FusedHit]:
    """Sum each document's contribution values, sort (score desc, doc_id asc), keep the best ``limit``.

    Scores are summed first with plain floats, in input order; the :class:`Contribution` objects are built
    only for the hits kept (a service asks for 10 of ~200 candidates), with the same sums.
    """
    totals: dict[str, float] = {}
    values: list[float] = []
    for _, doc_id, rank, raw, norm, weight in rows:
        value = float(value_of(rank, raw, norm, weight))
        values.append(value)
        totals[doc_id] = totals.get(doc_id, 0.0) + value
    order = sorted(totals, key=lambda d: (-totals[d], d))
    if limit is not None:
        order = order[: max(limit, 0)]
    kept: dict[str, dict[str, Contribution]] = {doc_id: {} for doc_id in order}
    for (name, doc_id, rank, raw, norm, weight), value in zip(rows, values, strict=True):
        parts = kept.get(doc_id)
        if parts is not None:
            parts[name] = Contribution(rank=rank, raw_score=raw, normalized=norm, weight=weight, value=value)
    return [FusedHit(doc_id=d, score=totals[d], contributions=MappingProxyType(kept[d])) for d in order]
