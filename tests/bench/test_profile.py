"""The profile summary: per-query calls and times of each function."""

from __future__ import annotations

import time

import pytest

from passerelle.bench.profile import profile_queries
from passerelle.bench.timing import BenchmarkError


def _tokenize(query: str) -> list[str]:
    return query.split()


def _score(tokens: list[str]) -> float:
    time.sleep(0.002)
    return float(len(tokens))


def _search(query: str) -> float:
    return sum(_score([t]) for t in _tokenize(query))


def test_calls_per_query_are_exact() -> None:
    report = profile_queries(_search, ["a b", "c d"], warmup=1, top=50)  # 2 tokens per query
    by_name = {row["function"].rsplit("(", 1)[-1].rstrip(")"): row for row in report["by_cumulative"]}
    assert by_name["_search"]["calls_per_query"] == 1
    assert by_name["_tokenize"]["calls_per_query"] == 1
    assert by_name["_score"]["calls_per_query"] == 2
    assert by_name["_search"]["cumulative_ms"] >= by_name["_score"]["cumulative_ms"] >= 4.0  # 2 sleeps of 2 ms
    assert report["queries"] == 2
    assert "test_profile.py" in by_name["_score"]["function"]


def test_profile_refuses_no_query() -> None:
    with pytest.raises(BenchmarkError):
        profile_queries(_search, [])
