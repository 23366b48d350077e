"""Fusion sweep: fuse per-retriever runs over a grid of settings, pick the best on dev, report test.

Given runs already computed for each retriever (e.g. ``dense`` and ``sparse``, depth 100), every
:class:`FusionSetting` of the grid (RRF over ``rrf_k`` x weights; linear over normalizations x weights)
fuses them per query with the pure fusion functions of :mod:`passerelle.service.fusion` (or functions
passed in, with the same signatures). The best setting is chosen on the dev split only; its dev score
comes with a bootstrap confidence interval, and when a test split is given it is scored there once,
without any tuning on test.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from passerelle.eval.errors import EvalError, MetricError
from passerelle.eval.metrics import TieBreak, canonical_metric, evaluate
from passerelle.eval.significance import DEFAULT_SEED, bootstrap_ci
from passerelle.eval.trec import Qrels, Run, ranked

logger = logging.getLogger(__name__)


class HitLike(Protocol):
    """What a fusion function returns per document (``FusedHit`` of the service)."""

    @property
    def doc_id(self) -> str: ...

    @property
    def score(self) -> float: ...


Rankings = Mapping[str, Sequence[tuple[str, float]]]
FuseFn = Callable[..., Sequence[HitLike]]


@dataclass(frozen=True)
class Fusers:
    """``rrf(rankings, weights, k=...)`` and ``linear(rankings, weights, normalization=...)``."""

    rrf: FuseFn
    linear: FuseFn


def default_fusers() -> Fusers:
    """The service's pure fusion functions (imported here, not at module import)."""
    from passerelle.service.fusion import fuse_linear, fuse_rrf

    return Fusers(rrf=fuse_rrf, linear=fuse_linear)


@dataclass(frozen=True)
class FusionSetting:
    """One point of the grid; ``weights`` as ``((retriever, weight), ...)``."""

    method: Literal["rrf", "linear"]
    weights: tuple[tuple[str, float], ...]
    rrf_k: int = 60
    normalization: str = "minmax"

    @property
    def label(self) -> str:
        """Short readable name, e.g. ``rrf k=60 dense=0.7 sparse=0.3``."""
        what = f"rrf k={self.rrf_k}" if self.method == "rrf" else f"linear {self.normalization}"
        return " ".join([what, *(f"{name}={w:g}" for name, w in self.weights)])

    def as_params(self) -> dict[str, Any]:
        """The setting as search options (``SearchParams`` fields / HTTP body)."""
        params: dict[str, Any] = {"fusion": self.method, "weights": dict(self.weights)}
        if self.method == "rrf":
            params["rrf_k"] = self.rrf_k
        else:
            params["normalization"] = self.normalization
        return params


def weight_grid(names: Sequence[str], step: float = 0.1) -> list[tuple[tuple[str, float], ...]]:
    """Every weighting of ``names`` on the simplex (weights are multiples of ``step`` summing to 1)."""
    if not names or not 0 < step <= 1:
        raise EvalError(f"weight grid needs retriever names and a step in (0, 1], got {names}, {step}")
    units = round(1 / step)
    grid = []
    for combo in itertools.product(range(units + 1), repeat=len(names)):
        if sum(combo) == units:
            grid.append(tuple((name, round(c / units, 6)) for name, c in zip(names, combo, strict=True)))
    return grid


def fusion_grid(
    names: Sequence[str],
    *,
    rrf_ks: Sequence[int] = (10, 30, 60, 100),
    normalizations: Sequence[str] = ("minmax", "zscore", "dbsf"),
    step: float = 0.1,
) -> list[FusionSetting]:
    """RRF settings (``rrf_ks`` x weights), then linear ones (``normalizations`` x weights)."""
    weights = weight_grid(names, step)
    return [FusionSetting("rrf", w, rrf_k=k) for k in rrf_ks for w in weights] + [
        FusionSetting("linear", w, normalization=n) for n in normalizations for w in weights
    ]


def fuse_runs(
    runs: Mapping[str, Run],
    setting: FusionSetting,
    *,
    depth: int = 100,
    k: int | None = None,
    fusers: Fusers | None = None,
) -> Run:
    """Fuse per-retriever runs query by query: the top ``depth`` of each, the top ``k`` fused kept."""
    fusers = fusers or default_fusers()
    weights = dict(setting.weights)
    keep = k or depth
    fused: Run = {}
    for qid in sorted(set().union(*runs.values())):
        rankings = {name: ranked(run.get(qid, {}))[:depth] for name, run in runs.items()}
        if setting.method == "rrf":
            hits = fusers.rrf(rankings, weights, k=setting.rrf_k)
        else:
            hits = fusers.linear(rankings, weights, normalization=setting.normalization)
        fused[qid] = {hit.doc_id: float(hit.score) for hit in list(hits)[:keep]}
    return fused


@dataclass(frozen=True)
class SplitScore:
    """The chosen setting on one split: mean, bootstrap CI, and the inputs' means for reference."""

    mean: float
    ci: tuple[float, float]
    inputs: Mapping[str, float]
    best_input: str
    delta_ci: tuple[float, float]  # CI of (fused - best input), paired bootstrap


@dataclass(frozen=True)
class SweepResult:
    """All settings' dev means (best first), the chosen one, and its dev/test scores."""

    metric: str
    confidence: float
    rows: tuple[tuple[FusionSetting, float], ...]
    best: FusionSetting
    dev: SplitScore
    test: SplitScore | None


def _score(
    runs: Mapping[str, Run],
    fused: Run,
    qrels: Qrels,
    metric: str,
    ties: TieBreak,
    confidence: float,
    n_bootstrap: int,
    seed: int,
) -> SplitScore:
    scores = evaluate(qrels, fused, [metric], ties=ties).per_query[metric]
    inputs = {name: evaluate(qrels, run, [metric], ties=ties).per_query[metric] for name, run in runs.items()}
    best_input = max(inputs, key=lambda name: float(np.mean(inputs[name])))
    return SplitScore(
        mean=float(np.mean(scores)),
        ci=bootstrap_ci(scores, confidence=confidence, n_resamples=n_bootstrap, seed=seed),
        inputs={name: float(np.mean(s)) for name, s in inputs.items()},
        best_input=best_input,
        delta_ci=bootstrap_ci(scores - inputs[best_input], confidence=confidence, n_resamples=n_bootstrap, seed=seed),
    )


def sweep(
    dev_runs: Mapping[str, Run],
    dev_qrels: Qrels,
    settings: Sequence[FusionSetting],
    *,
    metric: str = "ndcg@10",
    depth: int = 100,
    k: int | None = None,
    test_runs: Mapping[str, Run] | None = None,
    test_qrels: Qrels | None = None,
    fusers: Fusers | None = None,
    ties: TieBreak = "order",
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    seed: int = DEFAULT_SEED,
) -> SweepResult:
    """Evaluate every setting on dev, choose the best mean (first in grid order on ties), score it.

    Raises:
        EvalError: no settings, fewer than two runs, or only one of ``test_runs``/``test_qrels``.
    """
    if not settings:
        raise EvalError("the sweep needs at least one fusion setting")
    if len(dev_runs) < 2:
        raise EvalError(f"fusion needs at least two runs, got {list(dev_runs)}")
    if (test_runs is None) != (test_qrels is None):
        raise EvalError("give both test runs and test qrels, or neither")
    metric = canonical_metric(metric)
    fusers = fusers or default_fusers()
    rows = []
    for setting in settings:
        fused = fuse_runs(dev_runs, setting, depth=depth, k=k, fusers=fusers)
        rows.append((setting, evaluate(dev_qrels, fused, [metric], ties=ties).mean(metric)))
        logger.debug("%s: %s = %.4f", setting.label, metric, rows[-1][1])
    order = sorted(range(len(rows)), key=lambda i: -rows[i][1])  # stable: grid order breaks ties
    best = rows[order[0]][0]

    def score_best(runs: Mapping[str, Run], qrels: Qrels) -> SplitScore:
        fused = fuse_runs(runs, best, depth=depth, k=k, fusers=fusers)
        return _score(runs, fused, qrels, metric, ties, confidence, n_bootstrap, seed)

    dev = score_best(dev_runs, dev_qrels)
    test = None
    if test_runs is not None and test_qrels is not None:
        if set(test_runs) != set(dev_runs):
            raise MetricError(f"test runs {sorted(test_runs)} differ from dev runs {sorted(dev_runs)}")
        test = score_best(test_runs, test_qrels)
    return SweepResult(
        metric=metric, confidence=confidence, rows=tuple(rows[i] for i in order), best=best, dev=dev, test=test
    )
