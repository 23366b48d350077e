"""Reports of a :class:`~passerelle.eval.compare.Comparison`: Markdown, JSON and a PNG plot.

The Markdown pads its tables so it reads as well in a terminal as rendered. The JSON holds every
number of the Markdown plus the per-query scores. The plot (matplotlib, Agg canvas, no pyplot state)
shows the first metric: mean per system with a 95% bootstrap interval, and each system's sorted
per-query difference to the baseline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from passerelle.eval.compare import Comparison
from passerelle.eval.significance import bootstrap_ci, is_significant
from passerelle.indexing.atomic_files import write_text_atomic


@dataclass(frozen=True)
class ReportFiles:
    """Paths of a written report."""

    markdown: Path
    json: Path
    plot: Path


_NUMBER = re.compile(r"[+\-−<]?\d")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with padded columns: numeric columns right-aligned, the others left-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    right = [bool(rows) and all(_NUMBER.match(r[i]) or r[i] == "–" for r in rows) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = (c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if r else "-") for w, r in zip(widths, right, strict=True)) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _p(value: float) -> str:
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def render_markdown(comparison: Comparison, title: str = "Comparison", notes: Sequence[str] = ()) -> str:
    """The comparison as Markdown: a summary table, then one table of tests per metric."""
    c = comparison
    n = len(c.qids)
    out = [
        f"# {title}",
        "",
        f"{n} judged queries. Baseline: **{c.baseline}**. † = better or worse than the baseline by the "
        f"paired randomization test ({c.n_resamples:,} resamples, seed {c.seed}) after Holm–Bonferroni "
        f"correction over the {len(c.systems) - 1} comparison(s) of each metric, p < {c.alpha}.",
        "",
    ]
    out += [f"- {note}" for note in notes]
    headers = ["system", *c.metrics] + (["q/s"] if c.seconds else [])
    rows = []
    for name in c.systems:
        cells = [name + (" (baseline)" if name == c.baseline else "")]
        for metric in c.metrics:
            mark = ""
            if name != c.baseline and is_significant(c.test(name, metric).p_randomization_holm, c.alpha):
                mark = " †"
            cells.append(f"{c.mean(name, metric):.4f}{mark}")
        if c.seconds:
            seconds = c.seconds.get(name)
            cells.append(f"{n / seconds:.1f}" if seconds else "–")
        rows.append(cells)
    out += ["", markdown_table(headers, rows)]
    for name in c.systems:
        ev = c.evaluations[name]
        if ev.missing or ev.unjudged:
            out.append(
                f"\n{name}: {len(ev.missing)} judged queries unanswered (scored 0), "
                f"{len(ev.unjudged)} answered queries without judgments (excluded)."
            )
    for metric in c.metrics if len(c.systems) > 1 else ():
        rows = []
        for name in c.systems[1:]:
            t = c.test(name, metric)
            rows.append(
                [
                    name,
                    f"{c.mean(name, metric):.4f}",
                    f"{t.delta:+.4f}",
                    _p(t.p_randomization),
                    _p(t.p_randomization_holm),
                    _p(t.p_ttest),
                    _p(t.p_ttest_holm),
                    f"{t.wtl.wins}/{t.wtl.ties}/{t.wtl.losses}",
                ]
            )
        out += [
            "",
            f"## {metric} against {c.baseline} ({c.mean(c.baseline, metric):.4f})",
            "",
            markdown_table(["system", "mean", "Δ", "p rand", "p rand Holm", "p t", "p t Holm", "win/tie/loss"], rows),
        ]
    return "\n".join(out) + "\n"


def comparison_to_dict(
    comparison: Comparison, title: str = "Comparison", extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Every number of the comparison as JSON-ready data (per-query scores included)."""
    c = comparison
    return {
        "title": title,
        "baseline": c.baseline,
        "metrics": list(c.metrics),
        "queries": len(c.qids),
        "alpha": c.alpha,
        "n_resamples": c.n_resamples,
        "seed": c.seed,
        "systems": {
            name: {
                "means": dict(c.evaluations[name].means),
                "seconds": c.seconds.get(name),
                "missing": list(c.evaluations[name].missing),
                "unjudged": list(c.evaluations[name].unjudged),
            }
            for name in c.systems
        },
        "tests": [
            {
                "system": t.system,
                "baseline": t.baseline,
                "metric": t.metric,
                "delta": t.delta,
                "p_randomization": t.p_randomization,
                "p_randomization_holm": t.p_randomization_holm,
                "p_ttest": t.p_ttest,
                "p_ttest_holm": t.p_ttest_holm,
                "wins": t.wtl.wins,
                "ties": t.wtl.ties,
                "losses": t.wtl.losses,
            }
            for t in c.tests
        ],
        "per_query": {
            name: {metric: c.evaluations[name].query_scores(metric) for metric in c.metrics} for name in c.systems
        },
        **({"extra": dict(extra)} if extra else {}),
    }


def plot_comparison(comparison: Comparison, path: str | Path, metric: str | None = None) -> Path:
    """PNG: mean ``metric`` per system (95% bootstrap CI), and sorted per-query differences."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    c = comparison
    metric = metric or c.metrics[0]
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    bars, diffs = figure.subplots(1, 2, width_ratios=[1, 1.4])
    means = [c.mean(name, metric) for name in c.systems]
    intervals = [bootstrap_ci(c.evaluations[name].per_query[metric]) for name in c.systems]
    errors = [
        [m - lo for m, (lo, _) in zip(means, intervals, strict=True)],
        [hi - m for m, (_, hi) in zip(means, intervals, strict=True)],
    ]
    positions = range(len(c.systems))
    bars.bar(positions, means, yerr=errors, capsize=4, color=["0.6", *[f"C{i}" for i in range(len(c.systems) - 1)]])
    bars.set_xticks(list(positions), list(c.systems), rotation=20, ha="right")
    for x, m, (_, high) in zip(positions, means, intervals, strict=True):
        bars.annotate(f"{m:.3f}", (x, high), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)
    bars.set_ylabel(f"mean {metric} (95% bootstrap CI)")
    bars.set_title(f"{metric} per system")
    base = c.evaluations[c.baseline].per_query[metric]
    for i, name in enumerate(c.systems[1:]):
        delta = sorted(c.evaluations[name].per_query[metric] - base, reverse=True)
        diffs.plot(range(1, len(delta) + 1), delta, color=f"C{i}", label=name, drawstyle="steps-mid")
    diffs.axhline(0.0, color="0.3", linewidth=0.8)
    diffs.set_xlabel("queries, sorted by difference")
    diffs.set_ylabel(f"{metric} − {c.baseline}")
    diffs.set_title(f"per-query difference against {c.baseline}")
    if len(c.systems) > 1:
        diffs.legend(fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def write_report(
    comparison: Comparison,
    out_dir: str | Path,
    *,
    title: str = "Comparison",
    notes: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> ReportFiles:
    """Write ``report.md``, ``report.json`` and ``report.png`` into ``out_dir``."""
    out = Path(out_dir)
    markdown = write_text_atomic(out / "report.md", render_markdown(comparison, title, notes))
    data = comparison_to_dict(comparison, title, extra)
    json_path = write_text_atomic(out / "report.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    plot = plot_comparison(comparison, out / "report.png")
    return ReportFiles(markdown=markdown, json=json_path, plot=plot)
