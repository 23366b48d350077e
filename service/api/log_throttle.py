"""Log a recurring warning at most once per period, with how many times it recurred in between.

An overloaded server refuses hundreds of requests a second; one warning line per refusal floods the log
(and writing it costs the event loop time it needs to refuse the next ones fast). The first occurrence is
logged at once, so a lone 503 is still seen; the repeats within ``period_s`` are counted and reported with
the next line logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class ThrottledWarning:
    """``warning(key, message)`` logs at most once per ``period_s`` for each ``key``."""

    def __init__(self, logger: logging.Logger, period_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.period_s = period_s
        self.clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, message: str) -> bool:
        """Log ``message`` unless ``key`` was logged less than ``period_s`` ago; whether it was logged."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.period_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        repeats = self._suppressed.pop(key, 0)
        if repeats and last is not None:
            message += f" (and {repeats} more like it in the last {now - last:.0f} s, not logged)"
        self._last[key] = now
        self.logger.warning("%s", message)
        return True
