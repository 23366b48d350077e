"""Reports of a :class:`~passerelle.eval.sweep.SweepResult`: Markdown, JSON and a PNG plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from passerelle.eval.report import ReportFiles, markdown_table
from passerelle.eval.sweep import SplitScore, SweepResult
from passerelle.indexing.atomic_files import write_text_atomic


def _ci(interval: tuple[float, float]) -> str:
    return f"[{interval[0]:.4f}, {interval[1]:.4f}]"


def render_sweep_markdown(result: SweepResult, title: str = "Fusion sweep", top: int = 15) -> str:
    """The sweep as Markdown: chosen setting, dev (and test) scores with CIs, the top settings."""
    r = result
    level = f"{r.confidence:.0%}"
    out = [
        f"# {title}",
        "",
        f"Metric: {r.metric}. {len(r.rows)} settings evaluated on dev; the best on dev is "
        f"**{r.best.label}** (chosen on dev only; intervals: {level} percentile bootstrap over queries).",
        "",
    ]
    tied = sum(1 for _, mean in r.rows if mean == r.rows[0][1])
    if tied > 1:
        out[-1:] = [f"{tied} settings reach the best dev score; the first in grid order was kept.", ""]
    rows = []
    for split, score in (("dev", r.dev), ("test", r.test)):
        if score is not None:
            rows.append(
                [
                    split,
                    f"{score.mean:.4f}",
                    _ci(score.ci),
                    ", ".join(f"{name} {mean:.4f}" for name, mean in score.inputs.items()),
                    f"{score.mean - score.inputs[score.best_input]:+.4f} {_ci(score.delta_ci)}",
                ]
            )
    out += [
        markdown_table(["split", r.metric, f"{level} CI", "inputs alone", "Δ vs best input (CI)"], rows),
        "",
        f"## Top {min(top, len(r.rows))} settings on dev",
        "",
        markdown_table(
            ["rank", "setting", r.metric], [[str(i), s.label, f"{m:.4f}"] for i, (s, m) in enumerate(r.rows[:top], 1)]
        ),
    ]
    return "\n".join(out) + "\n"


def _split_dict(score: SplitScore | None) -> dict[str, Any] | None:
    if score is None:
        return None
    return {
        "mean": score.mean,
        "ci": list(score.ci),
        "inputs": dict(score.inputs),
        "best_input": score.best_input,
        "delta_vs_best_input_ci": list(score.delta_ci),
    }


def sweep_to_dict(result: SweepResult) -> dict[str, Any]:
    """The sweep as JSON-ready data (every setting's dev mean included)."""
    return {
        "metric": result.metric,
        "confidence": result.confidence,
        "best": {"label": result.best.label, **result.best.as_params()},
        "dev": _split_dict(result.dev),
        "test": _split_dict(result.test),
        "settings": [{"label": s.label, **s.as_params(), "dev_mean": m} for s, m in result.rows],
    }


def plot_sweep(result: SweepResult, path: str | Path) -> Path:
    """PNG: dev mean against the first retriever's weight, one line per RRF k / normalization."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    groups: dict[str, list[tuple[float, float]]] = {}
    for setting, mean in result.rows:
        key = f"rrf k={setting.rrf_k}" if setting.method == "rrf" else f"linear {setting.normalization}"
        groups.setdefault(key, []).append((setting.weights[0][1], mean))
    for i, (key, points) in enumerate(groups.items()):
        points.sort()
        axes.plot(
            [x for x, _ in points],
            [y for _, y in points],
            marker="o",
            markersize=3,
            linestyle="-" if len(result.best.weights) == 2 else "none",
            color=f"C{i}",
            label=key,
        )
    for j, (name, mean) in enumerate(result.dev.inputs.items()):
        axes.axhline(mean, color="0.3", linestyle=["--", ":", "-."][j % 3], linewidth=1, label=f"{name} alone")
    axes.set_xlabel(f"weight of {result.best.weights[0][0]}")
    axes.set_ylabel(f"dev {result.metric}")
    axes.set_title(f"fusion sweep (best on dev: {result.best.label})", fontsize=10)
    axes.legend(fontsize=7, ncol=2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def write_sweep_report(result: SweepResult, out_dir: str | Path, title: str = "Fusion sweep") -> ReportFiles:
    """Write ``sweep.md``, ``sweep.json`` and ``sweep.png`` into ``out_dir``."""
    out = Path(out_dir)
    markdown = write_text_atomic(out / "sweep.md", render_sweep_markdown(result, title))
    json_path = write_text_atomic(
        out / "sweep.json", json.dumps(sweep_to_dict(result), indent=2, ensure_ascii=False) + "\n"
    )
    return ReportFiles(markdown=markdown, json=json_path, plot=plot_sweep(result, out / "sweep.png"))
