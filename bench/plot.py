"""The scale plot: hybrid search latency (p50 and p99) against corpus size, one colour per FAISS kind:
the shipped serving settings solid (p50) and dashed (p99), every core per query (the contrast) dotted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from passerelle.bench.timing import BenchmarkError


def plot_latency(scale: dict[str, Any], out: Path, *, title: str = "") -> Path:
    """Write a PNG of hybrid latency vs documents (log x) per FAISS kind: shipped settings p50 (solid) and
    p99 (dashed), and the every-core contrast's p50 (dotted) where it was measured (``hybrid_all_cores``).

    Raises:
        BenchmarkError: the scale report has no measurement.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[int, float, float]]] = {}
    all_cores: dict[str, list[tuple[int, float]]] = {}
    for entry in scale.get("sizes", []):
        for kind in entry["kinds"]:
            hybrid = kind["hybrid"]
            series.setdefault(kind["kind"], []).append((entry["documents"], hybrid["p50_ms"], hybrid["p99_ms"]))
            if kind.get("hybrid_all_cores"):
                all_cores.setdefault(kind["kind"], []).append((entry["documents"], kind["hybrid_all_cores"]["p50_ms"]))
    if not series:
        raise BenchmarkError("the scale report has no measurement to plot")
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=120)
    for name, points in sorted(series.items()):
        points.sort()
        sizes = [p[0] for p in points]
        line = ax.plot(sizes, [p[1] for p in points], marker="o", label=f"{name} p50 (shipped)")[0]
        ax.plot(
            sizes,
            [p[2] for p in points],
            marker="x",
            linestyle="--",
            color=line.get_color(),
            label=f"{name} p99 (shipped)",
        )
        if name in all_cores:
            alt = sorted(all_cores[name])
            ax.plot(
                [p[0] for p in alt],
                [p[1] for p in alt],
                marker=".",
                linestyle=":",
                color=line.get_color(),
                label=f"{name} p50, every core (before)",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("documents (synthetic, grown from a real corpus)")
    ax.set_ylabel("hybrid search latency (ms)")
    ax.set_title(title or "Passerelle hybrid search latency vs corpus size (1 worker, shipped settings)")
    ax.axhline(20, color="grey", linewidth=0.8, linestyle=":")
    ax.text(ax.get_xlim()[0], 20, " 20 ms goal", va="bottom", fontsize=8, color="grey")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
