"""Where a hybrid query's time goes: cProfile over a pass of queries, summarized per query.

cProfile sees Python frames only: time spent inside Java (Lucene, via pyjnius) or in C (FAISS, the
encoder's numpy kernels) is charged to the Python call that entered it, which is what we want to know
(which of *our* calls costs what).
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from passerelle.bench.timing import BenchmarkError

_PREFIXES = ("site-packages/", str(Path(__file__).resolve().parents[1]) + "/")


@dataclass(frozen=True)
class ProfileRow:
    """One function: calls per query, and its own and cumulative time per query (milliseconds)."""

    function: str
    calls_per_query: float
    self_ms: float
    cumulative_ms: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def profile_queries(
    search: Callable[[str], Any], queries: Sequence[str], *, top: int = 20, warmup: int = 3
) -> dict[str, Any]:
    """Profile ``search`` over ``queries`` (after ``warmup`` untimed ones).

    Returns ``{"queries", "total_ms_per_query", "by_cumulative": [ProfileRow...], "by_self": [...]}``,
    each list the ``top`` functions, times divided by the number of queries.

    Raises:
        BenchmarkError: no query.
    """
    if not queries:
        raise BenchmarkError("no query to profile")
    for query in queries[:warmup]:
        search(query)
    profiler = cProfile.Profile()
    profiler.enable()
    for query in queries:
        search(query)
    profiler.disable()
    stats = pstats.Stats(profiler)
    n = len(queries)
    rows = [
        ProfileRow(
            function=_name(func),
            calls_per_query=round(calls / n, 2),
            self_ms=round(self_s * 1000 / n, 3),
            cumulative_ms=round(cum_s * 1000 / n, 3),
        )
        for func, (_, calls, self_s, cum_s, _) in stats.stats.items()  # type: ignore[attr-defined]
    ]
    total = stats.total_tt * 1000 / n  # type: ignore[attr-defined]
    return {
        "queries": n,
        "total_ms_per_query": round(total, 3),
        "by_cumulative": [r.to_dict() for r in sorted(rows, key=lambda r: -r.cumulative_ms)[:top]],
        "by_self": [r.to_dict() for r in sorted(rows, key=lambda r: -r.self_ms)[:top]],
    }


def _name(func: tuple[str, int, str]) -> str:
    """``package/module.py:line(function)``, with the site-packages or repository prefix cut."""
    filename, line, name = func
    if filename == "~":  # a builtin or C function
        return name
    for marker in _PREFIXES:
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({name})"
