"""Helpers shared by the CLI commands: error display and logging setup."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer


def offline_environment() -> None:
    """Never reach a model hub at run time; no telemetry (set unless the user chose otherwise)."""
    for name, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("TRANSFORMERS_OFFLINE", "1"),
        ("ORT_DISABLE_TELEMETRY", "1"),
        ("TOKENIZERS_PARALLELISM", "false"),
        ("RAY_USAGE_STATS_ENABLED", "0"),
    ):
        os.environ.setdefault(name, value)


class TqdmLoggingHandler(logging.Handler):
    """Write log records with ``tqdm.write`` so they print above progress bars instead of through them."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # a logging handler must never raise into the code that logged
            self.handleError(record)


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr through tqdm-aware handling (progress bars stay intact)."""
    handler = TqdmLoggingHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("faiss.loader", "httpx", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


USER_ERROR = 2
"""Exit code of every command for bad input or configuration (the message names the problem), as for
usage errors. Unexpected failures exit 1 with a traceback."""


@contextmanager
def fail_on_error(*also: type[Exception]) -> Iterator[None]:
    """Turn Passerelle's own errors (and the exception types in ``also``) into a one-line message on stderr
    and exit code :data:`USER_ERROR` (no traceback)."""
    from passerelle.indexing.errors import PasserelleError

    expected: tuple[type[Exception], ...] = (PasserelleError, *also)
    try:
        yield
    except expected as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(USER_ERROR) from exc


@contextmanager
def command_run(log_level: str = "INFO", *also: type[Exception]) -> Iterator[None]:
    """The frame of a command that works: offline environment, logging at ``log_level``, and Passerelle's
    errors (and ``also``) as a one-line message with exit code :data:`USER_ERROR`."""
    offline_environment()
    setup_logging(log_level)
    with fail_on_error(*also):
        yield
