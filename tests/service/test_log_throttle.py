"""A flood of the same warning (an overloaded server's 503s) is logged once per period, with a count."""

from __future__ import annotations

import logging

import pytest

from passerelle.service.api.log_throttle import ThrottledWarning


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_repeats_within_the_period_are_counted_and_reported_with_the_next_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    throttled = ThrottledWarning(logging.getLogger("test.throttle"), period_s=5.0, clock=clock)
    with caplog.at_level("WARNING", logger="test.throttle"):
        assert throttled.warning("503 GET /v1/search", "refused 1")
        for n in range(2, 302):
            clock.now += 0.01
            assert not throttled.warning("503 GET /v1/search", f"refused {n}")
        assert throttled.warning("503 POST /v1/search", "another route is its own line")
        clock.now += 5.0
        assert throttled.warning("503 GET /v1/search", "refused again")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "refused 1",
        "another route is its own line",
        "refused again (and 300 more like it in the last 8 s, not logged)",
    ]


def test_an_isolated_warning_is_never_held_back(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    throttled = ThrottledWarning(logging.getLogger("test.throttle"), period_s=5.0, clock=clock)
    with caplog.at_level("WARNING", logger="test.throttle"):
        for _ in range(3):
            assert throttled.warning("k", "once in a while")
            clock.now += 60
    assert [r.getMessage() for r in caplog.records] == ["once in a while"] * 3
