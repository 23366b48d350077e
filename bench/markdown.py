"""Markdown helpers of the benchmark reports: tables and number formatting."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A Markdown table (numbers formatted by :func:`fmt`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def fmt(value: Any) -> str:
    """Numbers with sensible precision; ``None`` as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"


def settings_text(facts: dict[str, Any]) -> str:
    """``query_threads=1, micro_batch=16, search_workers=2`` (``query_threads`` None: every core)."""
    threads = facts.get("query_threads")
    return (
        f"query_threads={threads if threads is not None else 'every core'}, "
        f"micro_batch={facts.get('micro_batch')}, search_workers={facts.get('search_workers')}"
    )
