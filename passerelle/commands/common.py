"""Helpers shared by the CLI commands: error display and logging setup."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import typer


def offline_environment() -> None:
    """Never reach a model hub at run time; no telemetry (set unless the user chose otherwise)."""
    for name, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("ORT_DISABLE_TELEMETRY", "1"),
                        ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(name, value)


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr through tqdm-aware handling (progress bars stay intact)."""
    from tqdm.contrib.logging import _TqdmLoggingHandler

    handler = _TqdmLoggingHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("faiss.loader", "httpx", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def fail_on_error() -> Iterator[None]:
    """Turn Passerelle's own errors into a one-line message and exit code 2 (no traceback)."""
    from passerelle.indexing.errors import PasserelleError

    try:
        yield
    except PasserelleError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
