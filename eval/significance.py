"""Paired significance tests over per-query scores.

Pure functions over two arrays aligned by query (``a`` = a system, ``b`` = its baseline), as
recommended for IR evaluation (Smucker, Allan & Carterette, CIKM 2007): a paired t-test, a paired
randomization (sign-flip permutation) test with a fixed seed, Holm–Bonferroni correction over a family
of comparisons, win/tie/loss counts, and a percentile bootstrap confidence interval of a mean.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from passerelle.eval.errors import MetricError

DEFAULT_SEED = 42
_CHUNK = 1024


@dataclass(frozen=True)
class WinTieLoss:
    """Queries where the system beats (``wins``), equals (``ties``) or trails (``losses``) the baseline."""

    wins: int
    ties: int
    losses: int


def align(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Pair two ``{qid: score}`` maps: ``(sorted qids, a scores, b scores)``.

    Raises:
        MetricError: the two maps do not cover the same queries.
    """
    if a.keys() != b.keys():
        only_a, only_b = sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys())
        raise MetricError(
            f"scores cover different queries ({len(only_a)} only in the first, e.g. "
            f"{only_a[:3]}; {len(only_b)} only in the second, e.g. {only_b[:3]})"
        )
    qids = sorted(a)
    return qids, np.array([a[q] for q in qids], dtype=np.float64), np.array([b[q] for q in qids], dtype=np.float64)


def _paired(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise MetricError(f"paired scores must be two 1-d arrays of equal length, got {x.shape} and {y.shape}")
    if len(x) < 2:
        raise MetricError("a paired test needs at least 2 queries")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise MetricError("scores must be finite numbers")
    return x - y


def paired_t_test(a: ArrayLike, b: ArrayLike) -> float:
    """Two-sided p-value of the paired t-test (``scipy.stats.ttest_rel``).

    When every difference is the same (to 1e-12) the statistic is undefined: p is 1.0 if they are
    all zero, 0.0 otherwise.
    """
    d = _paired(a, b)
    if float(np.ptp(d)) <= 1e-12:
        return 1.0 if abs(float(np.mean(d))) <= 1e-12 else 0.0
    from scipy import stats

    return float(stats.ttest_rel(a, b).pvalue)


def randomization_test(a: ArrayLike, b: ArrayLike, *, n_resamples: int = 10_000, seed: int = DEFAULT_SEED) -> float:
    """Two-sided p-value of the paired randomization test on the mean difference.

    Under the null hypothesis the sign of each query's difference is exchangeable. With ``n`` queries
    and ``2**n <= n_resamples`` every sign assignment is enumerated (exact p: the share of assignments
    whose ``|mean|`` reaches the observed one); otherwise ``n_resamples`` random assignments from
    ``numpy.random.default_rng(seed)`` give ``p = (count + 1) / (n_resamples + 1)``.
    """
    d = _paired(a, b)
    if n_resamples < 1:
        raise MetricError(f"n_resamples must be >= 1, got {n_resamples}")
    n = len(d)
    observed = abs(float(np.mean(d)))
    threshold = observed * (1.0 - 1e-9)  # equal in exact arithmetic counts as reaching it
    if n < 31 and 2**n <= n_resamples:
        codes = np.arange(2**n, dtype=np.int64)[:, None] >> np.arange(n, dtype=np.int64)
        signs = 1.0 - 2.0 * (codes & 1)
        return float(np.mean(np.abs(signs @ d) / n >= threshold))
    rng = np.random.default_rng(seed)
    count, done = 0, 0
    while done < n_resamples:
        m = min(_CHUNK, n_resamples - done)
        signs = 1.0 - 2.0 * rng.integers(0, 2, size=(m, n))
        count += int(np.sum(np.abs(signs @ d) / n >= threshold))
        done += m
    return (count + 1) / (n_resamples + 1)


def holm_bonferroni(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (Holm, 1979), in the input order.

    The i-th smallest p (0-based) is multiplied by ``m - i``, then made non-decreasing and capped at 1;
    rejecting where the adjusted p is below alpha controls the family-wise error rate at alpha.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for position, index in enumerate(order):
        p = float(p_values[index])
        if not 0.0 <= p <= 1.0:
            raise MetricError(f"p-values must lie in [0, 1], got {p}")
        running = max(running, min(1.0, (m - position) * p))
        adjusted[index] = running
    return adjusted


def win_tie_loss(a: ArrayLike, b: ArrayLike, *, tolerance: float = 1e-9) -> WinTieLoss:
    """Count queries where ``a`` beats, ties (``|a - b| <= tolerance``) or trails ``b``."""
    d = _paired(a, b)
    wins = int(np.sum(d > tolerance))
    losses = int(np.sum(d < -tolerance))
    return WinTieLoss(wins=wins, ties=len(d) - wins - losses, losses=losses)


def bootstrap_ci(
    scores: ArrayLike, *, confidence: float = 0.95, n_resamples: int = 1000, seed: int = DEFAULT_SEED
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``scores`` (queries resampled).

    For the difference between two systems pass ``a - b`` (paired bootstrap).
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 1 or len(x) == 0:
        raise MetricError("bootstrap needs a non-empty 1-d array of scores")
    if not 0.0 < confidence < 1.0 or n_resamples < 1:
        raise MetricError(f"confidence must lie in (0, 1) and n_resamples be >= 1, got {confidence}, {n_resamples}")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, _CHUNK):
        m = min(_CHUNK, n_resamples - start)
        means[start : start + m] = x[rng.integers(0, len(x), size=(m, len(x)))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def is_significant(p_value: float, alpha: float = 0.05) -> bool:
    """``p_value < alpha`` (NaN never is)."""
    return not math.isnan(p_value) and p_value < alpha
