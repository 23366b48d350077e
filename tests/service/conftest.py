"""Fixtures of the service tests: a real uvicorn server on loopback over the real sample index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.server import API_KEY, LiveServer, start_server, stop_server


@pytest.fixture(scope="session")
def live(sample_index: Path) -> Iterator[LiveServer]:
    """The service over the sample index, loaded by its own lifespan, with an admin key."""
    from passerelle.service.api.app import create_app
    from passerelle.service.api.settings import ServiceSettings

    settings = ServiceSettings(indexes=[sample_index], api_key=API_KEY, max_k=50, max_query_chars=300, max_batch=8)
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
