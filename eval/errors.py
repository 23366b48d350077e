"""Errors raised by the evaluation layer.

They derive from :class:`passerelle.indexing.errors.PasserelleError`. Messages say what went wrong and
where (file and line when there is one) and, when there is one, how to fix it.
"""

from __future__ import annotations

from pathlib import Path

from passerelle.indexing.errors import PasserelleError


class EvalError(PasserelleError):
    """Base class of the errors raised by ``passerelle.eval``."""


class CollectionError(EvalError):
    """A collection file is missing or malformed (qrels, run, queries)."""

    def __init__(self, message: str, *, path: Path | str | None = None, line: int | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.reason = message
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "")
        super().__init__(f"{where}: {message}" if where else message)


class MetricError(EvalError):
    """A metric name Passerelle does not know, or scores that cannot be compared."""


class RunnerError(EvalError):
    """A system could not produce a run (service unreachable, bad answer, unknown system name)."""
