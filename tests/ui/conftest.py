"""Fixtures of the search-page tests: a live server over the real sample index, and Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MAX_QUERY_CHARS = 300


@dataclass
class UiServer:
    """A uvicorn server running the app in a background thread, and a client for its API."""

    url: str
    server: Any
    thread: threading.Thread
    api: httpx.Client
    max_query_chars: int


@pytest.fixture(scope="session")
def ui_server(sample_index: Path) -> Iterator[UiServer]:
    """The service over the sample index on 127.0.0.1 (the socket is bound first: no port race)."""
    import uvicorn

    from passerelle.service.app import create_app
    from passerelle.service.settings import ServiceSettings

    app = create_app(ServiceSettings(indexes=[sample_index], max_k=50, max_query_chars=MAX_QUERY_CHARS))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    with httpx.Client(base_url=url, timeout=60.0) as api:
        yield UiServer(url=url, server=server, thread=thread, api=api, max_query_chars=MAX_QUERY_CHARS)
    server.should_exit = True
    thread.join(timeout=30)


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
        pytest.skip(f"Chromium not found at {CHROMIUM} nor on the PATH: run `make browser` as root on Debian "
                    "(apt-get install chromium) to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
