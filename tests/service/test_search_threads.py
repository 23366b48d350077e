"""``search_threads``: the searches of a server process run on that many long-lived threads, the rest wait their
turn, unrefused (threads that come and go each leave native per-thread memory behind: see service/api/blocking.py)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from support.server import start_server, stop_server

from passerelle.service.api.app import create_app
from passerelle.service.api.settings import ServiceSettings


def peak_searches(searcher: Any, monkeypatch: pytest.MonkeyPatch, search_threads: int, requests: int = 12) -> int:
    """Most searches running at once in a server with ``search_threads`` while ``requests`` arrive together."""
    lock, running, peak, threads = threading.Lock(), [0], [0], set()
    search = searcher.search

    def counted(*args: Any, **kwargs: Any) -> Any:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            threads.add(threading.current_thread())
        try:
            time.sleep(0.05)  # long enough for the others to arrive meanwhile
            return search(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(searcher, "search", counted)
    settings = ServiceSettings(search_threads=search_threads, max_queue_wait_ms=0)
    server = start_server(create_app(settings, {"sample": searcher}))
    try:
        with server.client() as client, ThreadPoolExecutor(requests) as pool:
            statuses = list(
                pool.map(lambda n: client.get("/v1/search", params={"q": f"glacier {n}"}).status_code, range(requests))
            )
    finally:
        stop_server(server)
    assert statuses == [200] * requests
    assert all(thread.name.startswith("passerelle-search") for thread in threads)
    assert len(threads) <= search_threads
    return peak[0]


def test_no_more_searches_at_once_than_search_threads(searcher: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert peak_searches(searcher, monkeypatch, search_threads=2) == 2
    assert peak_searches(searcher, monkeypatch, search_threads=8) > 2  # the bound, not the client, made it 2
