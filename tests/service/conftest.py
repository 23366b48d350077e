"""Fixtures of the service tests: a real uvicorn server on loopback over the real sample index."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

API_KEY = "test-admin-key-0123456789"


@dataclass
class LiveServer:
    """A uvicorn server running one app in a background thread."""

    url: str
    app: Any
    server: Any
    thread: threading.Thread

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0, **kwargs)


def start_server(app: Any) -> LiveServer:
    """Serve ``app`` on 127.0.0.1 at a free port (the socket is bound first: no port race)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return LiveServer(url=f"http://127.0.0.1:{port}", app=app, server=server, thread=thread)


def stop_server(live: LiveServer) -> None:
    live.server.should_exit = True
    live.thread.join(timeout=30)


@pytest.fixture(scope="session")
def live(sample_index: Path) -> Iterator[LiveServer]:
    """The service over the sample index, loaded by its own lifespan, with an admin key."""
    from passerelle.service.app import create_app
    from passerelle.service.settings import ServiceSettings

    settings = ServiceSettings(indexes=[sample_index], api_key=API_KEY, max_k=50, max_query_chars=300,
                               max_batch=8)
    server = start_server(create_app(settings))
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def api_key() -> str:
    """The admin key of the live server."""
    return API_KEY


@pytest.fixture(scope="session")
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


@pytest.fixture(scope="session")
def searcher(sample_index: Path) -> Any:
    """One searcher over the sample index, handed to in-process apps (they do not close it)."""
    from passerelle.service.searcher import Searcher

    return Searcher.open(sample_index)
