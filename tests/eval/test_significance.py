"""Significance: t-test, randomization test (exact and Monte Carlo), Holm, win/tie/loss, bootstrap."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from passerelle.eval.errors import MetricError
from passerelle.eval.significance import (
    align,
    bootstrap_ci,
    holm_bonferroni,
    paired_t_test,
    randomization_test,
    win_tie_loss,
)


def _exact_sign_flip_p(d: np.ndarray) -> float:
    """Brute force: share of the 2**n sign assignments whose |mean| reaches the observed one."""
    observed = abs(d.mean())
    hits = sum(
        abs(np.mean(d * np.array(signs))) >= observed - 1e-12 for signs in itertools.product((1.0, -1.0), repeat=len(d))
    )
    return hits / 2 ** len(d)


def test_paired_t_test_matches_the_formula():
    a = np.array([0.5, 0.7, 0.9, 0.4, 0.8])
    b = np.array([0.4, 0.7, 0.6, 0.5, 0.5])
    from scipy import stats

    d = a - b
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    assert paired_t_test(a, b) == pytest.approx(2 * stats.t.sf(abs(t), df=len(d) - 1), rel=1e-12)


def test_paired_t_test_with_constant_differences():
    assert paired_t_test([0.2, 0.3], [0.2, 0.3]) == 1.0
    assert paired_t_test([0.3, 0.4], [0.2, 0.3]) == 0.0


def test_randomization_small_samples_are_exact():
    # signs over d = (1, 2, 3): |sum| in {6, 0, 2, 4, 4, 2, 0, 6}; only the two 6s reach 6 -> 2/8
    assert randomization_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]) == 2 / 8
    # all differences equal: only all-plus and all-minus reach the observed mean -> 2/16
    assert randomization_test([1.0] * 4, [0.0] * 4) == 2 / 16
    # no difference at all: every assignment reaches 0 -> p = 1
    assert randomization_test([0.3, 0.6], [0.3, 0.6]) == 1.0
    d = np.array([0.1, 0.2, -0.05, 0.3, 0.0, -0.1, 0.25, 0.05])
    assert randomization_test(d, np.zeros_like(d)) == pytest.approx(_exact_sign_flip_p(d), abs=1e-12)


def test_randomization_exact_matches_scipy_permutation_test():
    from scipy import stats

    rng = np.random.default_rng(1)
    a, b = rng.random(9), rng.random(9)
    reference = stats.permutation_test(
        (a, b), lambda x, y: np.mean(x - y), permutation_type="samples", n_resamples=np.inf, alternative="two-sided"
    ).pvalue
    assert randomization_test(a, b) == pytest.approx(reference, abs=1e-12)


def test_randomization_monte_carlo_is_seeded_and_close_to_exact():
    rng = np.random.default_rng(2)
    d = rng.normal(0.05, 0.2, size=14)  # 2**14 = 16384 assignments > 10000: Monte Carlo
    exact = _exact_sign_flip_p(d)
    p = randomization_test(d, np.zeros_like(d), n_resamples=10_000, seed=5)
    assert p == randomization_test(d, np.zeros_like(d), n_resamples=10_000, seed=5)
    # binomial standard error at 10,000 resamples is at most 0.005
    assert abs(p - exact) < 0.02
    assert 1 / 10_001 <= p <= 1.0


def test_randomization_monte_carlo_never_reports_zero():
    a, b = np.ones(40), np.zeros(40)
    assert randomization_test(a, b, n_resamples=999) == pytest.approx(1 / 1000)


def test_holm_bonferroni():
    # sorted: 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> kept monotone at 0.06
    assert holm_bonferroni([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_bonferroni([0.5, 0.6]) == [1.0, 1.0]
    assert holm_bonferroni([0.02]) == [0.02]
    assert holm_bonferroni([]) == []
    with pytest.raises(MetricError):
        holm_bonferroni([1.5])


def test_win_tie_loss():
    wtl = win_tie_loss([1.0, 0.5, 0.2, 0.3 + 1e-12], [0.5, 0.5, 0.3, 0.3])
    assert (wtl.wins, wtl.ties, wtl.losses) == (1, 2, 1)


def test_paired_inputs_are_checked():
    with pytest.raises(MetricError, match="equal length"):
        paired_t_test([1.0, 2.0], [1.0])
    with pytest.raises(MetricError, match="at least 2"):
        randomization_test([1.0], [0.0])
    with pytest.raises(MetricError, match="finite"):
        win_tie_loss([1.0, float("nan")], [0.0, 0.0])


def test_align_pairs_by_qid():
    qids, a, b = align({"q2": 0.2, "q1": 0.1}, {"q1": 0.5, "q2": 0.6})
    assert qids == ["q1", "q2"] and a.tolist() == [0.1, 0.2] and b.tolist() == [0.5, 0.6]
    with pytest.raises(MetricError, match="different queries"):
        align({"q1": 0.1}, {"q2": 0.1})


def test_bootstrap_ci():
    assert bootstrap_ci([0.4] * 10) == pytest.approx((0.4, 0.4))
    rng = np.random.default_rng(3)
    scores = rng.random(200)
    low, high = bootstrap_ci(scores, seed=9)
    assert low < scores.mean() < high
    assert (low, high) == bootstrap_ci(scores, seed=9)
    # the 95% interval of a mean is about +-1.96 standard errors
    se = scores.std(ddof=1) / math.sqrt(len(scores))
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.15)
    narrow = bootstrap_ci(scores, confidence=0.5, seed=9)
    assert low < narrow[0] < narrow[1] < high
    with pytest.raises(MetricError):
        bootstrap_ci([], seed=1)
