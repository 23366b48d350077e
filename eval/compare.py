"""Compare systems side by side: means, per-query scores, significance against a baseline.

The first system is the baseline. For each metric, every other system is tested against it with the
paired randomization test and the paired t-test; each test's p-values are Holm–Bonferroni corrected
over that metric's family of comparisons (one per non-baseline system).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from passerelle.eval.errors import MetricError
from passerelle.eval.metrics import Evaluation, TieBreak, canonical_metric, evaluate
from passerelle.eval.significance import (
    DEFAULT_SEED,
    WinTieLoss,
    holm_bonferroni,
    paired_t_test,
    randomization_test,
    win_tie_loss,
)
from passerelle.eval.trec import Run


@dataclass(frozen=True)
class PairedTest:
    """One system against the baseline on one metric (``delta`` = system mean - baseline mean)."""

    system: str
    baseline: str
    metric: str
    delta: float
    p_randomization: float
    p_randomization_holm: float
    p_ttest: float
    p_ttest_holm: float
    wtl: WinTieLoss


@dataclass(frozen=True)
class Comparison:
    """Systems scored on the same judged queries, the baseline first."""

    metrics: tuple[str, ...]
    systems: tuple[str, ...]
    evaluations: Mapping[str, Evaluation]
    tests: tuple[PairedTest, ...]
    alpha: float = 0.05
    n_resamples: int = 10_000
    seed: int = DEFAULT_SEED
    seconds: Mapping[str, float] = field(default_factory=dict)

    @property
    def baseline(self) -> str:
        """Name of the baseline system."""
        return self.systems[0]

    @property
    def qids(self) -> tuple[str, ...]:
        """The judged queries every per-query array follows."""
        return self.evaluations[self.baseline].qids

    def mean(self, system: str, metric: str) -> float:
        """Mean of ``metric`` for ``system``."""
        return self.evaluations[system].mean(metric)

    def test(self, system: str, metric: str) -> PairedTest:
        """The test of ``system`` against the baseline on ``metric``.

        Raises:
            MetricError: no such test (the baseline itself, or an unknown system or metric).
        """
        name = canonical_metric(metric)
        for paired in self.tests:
            if paired.system == system and paired.metric == name:
                return paired
        raise MetricError(f"no test of {system!r} on {metric!r} (baseline: {self.baseline!r})")


def compare_runs(
    runs: Mapping[str, Run],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: str | Sequence[str],
    *,
    ties: TieBreak = "order",
    alpha: float = 0.05,
    n_resamples: int = 10_000,
    seed: int = DEFAULT_SEED,
    seconds: Mapping[str, float] | None = None,
) -> Comparison:
    """Evaluate each run (the first is the baseline) and test the others against it."""
    evaluations = {name: evaluate(qrels, run, metrics, ties=ties) for name, run in runs.items()}
    return compare_evaluations(evaluations, alpha=alpha, n_resamples=n_resamples, seed=seed, seconds=seconds)


def compare_evaluations(
    evaluations: Mapping[str, Evaluation],
    *,
    alpha: float = 0.05,
    n_resamples: int = 10_000,
    seed: int = DEFAULT_SEED,
    seconds: Mapping[str, float] | None = None,
) -> Comparison:
    """Test every evaluation against the first one (same qrels, same metrics).

    Raises:
        MetricError: no evaluation, or evaluations over different queries or metrics.
    """
    if not evaluations:
        raise MetricError("nothing to compare: give at least one system")
    systems = tuple(evaluations)
    base = evaluations[systems[0]]
    for name in systems[1:]:
        other = evaluations[name]
        if other.qids != base.qids or other.metrics != base.metrics:
            raise MetricError(
                f"{name!r} was scored on other queries or metrics than {systems[0]!r}; "
                "compare runs against the same qrels"
            )
    tests: list[PairedTest] = []
    for metric in base.metrics:
        b = base.per_query[metric]
        rows = []
        for name in systems[1:]:
            a = evaluations[name].per_query[metric]
            rows.append(
                (
                    name,
                    float(a.mean() - b.mean()),
                    randomization_test(a, b, n_resamples=n_resamples, seed=seed),
                    paired_t_test(a, b),
                    win_tie_loss(a, b),
                )
            )
        holm_r = holm_bonferroni([row[2] for row in rows])
        holm_t = holm_bonferroni([row[3] for row in rows])
        for (name, delta, p_r, p_t, wtl), h_r, h_t in zip(rows, holm_r, holm_t, strict=True):
            tests.append(
                PairedTest(
                    system=name,
                    baseline=systems[0],
                    metric=metric,
                    delta=delta,
                    p_randomization=p_r,
                    p_randomization_holm=h_r,
                    p_ttest=p_t,
                    p_ttest_holm=h_t,
                    wtl=wtl,
                )
            )
    return Comparison(
        metrics=base.metrics,
        systems=systems,
        evaluations=dict(evaluations),
        tests=tuple(tests),
        alpha=alpha,
        n_resamples=n_resamples,
        seed=seed,
        seconds=dict(seconds or {}),
    )
