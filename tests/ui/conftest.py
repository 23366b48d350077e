"""Fixtures of the search-page tests: a live server over the real sample index, and Debian's Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.server import start_server, stop_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MAX_QUERY_CHARS = 300


@dataclass
class UiServer:
    """The service running in a background thread, and a client for its API."""

    url: str
    api: httpx.Client
    max_query_chars: int


@pytest.fixture(scope="session")
def ui_server(sample_index: Path) -> Iterator[UiServer]:
    """The service over the sample index on 127.0.0.1."""
    from passerelle.service.api.app import create_app
    from passerelle.service.api.settings import ServiceSettings

    live = start_server(create_app(ServiceSettings(indexes=[sample_index], max_k=50, max_query_chars=MAX_QUERY_CHARS)))
    try:
        with live.client() as api:
            yield UiServer(url=live.url, api=api, max_query_chars=MAX_QUERY_CHARS)
    finally:
        stop_server(live)


def chromium_path() -> Path | None:
    """Debian's Chromium (``make browser`` installs it), or ``chromium`` on the PATH; None when absent."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    found = shutil.which("chromium")
    return Path(found) if found else None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Playwright; never a browser Playwright downloads itself."""
    executable = chromium_path()
    if executable is None:
        pytest.skip(
            f"Chromium not found at {CHROMIUM} nor on the PATH: run `make browser` as root on Debian "
            "(apt-get install chromium) to run the browser tests"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
