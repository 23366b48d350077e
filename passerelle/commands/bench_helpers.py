"""Helpers of the `passerelle bench` commands: comma-separated options and JSON reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

BENCHMARKS_MD = Path("docs/BENCHMARKS.md")


def csv_ints(text: str) -> tuple[int, ...]:
    """``"10_000,100000"`` -> ``(10000, 100000)``; a clear CLI error otherwise."""
    try:
        return tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}") from exc


def csv_items(text: str) -> tuple[str, ...]:
    """The non-blank comma-separated items of ``text``, stripped."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def emit_json(report: dict[str, Any], out: Path | None, indent: int = 1) -> None:
    """Print the JSON report, and write it to ``out`` too when given (atomically)."""
    import json

    text = json.dumps(report, indent=indent, ensure_ascii=False)
    typer.echo(text)
    if out is not None:
        from passerelle.indexing.atomic_files import write_text_atomic

        write_text_atomic(out, text + "\n")
