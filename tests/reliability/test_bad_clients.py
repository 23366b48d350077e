"""Bad clients over real HTTP: slow heads and bodies, idle connections, huge heads, nested JSON, odd queries.

Each gets a bounded, clear answer (or its connection closed) within its deadline, and the server keeps
answering everyone else meanwhile. The server is ``passerelle serve``'s stack (uvicorn with the guarded
protocol of ``service/api/connection.py``) with short deadlines.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.reliability import LIMITS, reliability_settings
from support.server import LiveServer, start_server, stop_server

pytestmark = pytest.mark.slow

HEAD_S, BODY_S = 1.0, 1.0
MARGIN_S = 2.0  # scheduling slack on a shared machine


@pytest.fixture(scope="module")
def guarded(sample_usem3_index: Path) -> Iterator[LiveServer]:
    from passerelle.service.api.app import create_app

    settings = reliability_settings(sample_usem3_index, header_timeout_s=HEAD_S, body_timeout_s=BODY_S)
    server = start_server(create_app(settings))
    yield server
    stop_server(server)


def _connect(server: LiveServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _read_all(sock: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    start = time.monotonic()
    sock.settimeout(limit_s)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data, time.monotonic() - start
        data += chunk


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw else 0


def _search_works(server: LiveServer) -> float:
    start = time.monotonic()
    with server.client(timeout=10) as client:
        response = client.post("/v1/search", json={"query": "bees", "mode": "hybrid", "k": 3})
    assert response.status_code == 200, response.text
    return time.monotonic() - start


def test_a_slow_loris_head_gets_408_in_time_while_others_are_served(guarded: LiveServer) -> None:
    sock = _connect(guarded)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    start = time.monotonic()
    closed = False
    while time.monotonic() - start < HEAD_S + MARGIN_S:  # one header line every 0.2 s, never finishing
        try:
            sock.sendall(b"X-Slow: %d\r\n" % int(time.monotonic() * 1000))
        except OSError:
            closed = True
            break
        assert _search_works(guarded) < 2.0
        time.sleep(0.2)
    raw, _ = _read_all(sock, MARGIN_S) if not closed else (b"HTTP/1.1 408 closed", 0.0)
    assert _status(raw) == 408, raw
    assert time.monotonic() - start < HEAD_S + MARGIN_S + 1
    sock.close()


def test_a_silent_connection_is_closed_after_the_head_deadline(guarded: LiveServer) -> None:
    sock = _connect(guarded)
    raw, waited = _read_all(sock, HEAD_S + MARGIN_S + 5)
    assert _status(raw) == 408 and b"RequestTimeoutError" in raw, raw
    assert HEAD_S * 0.8 <= waited < HEAD_S + MARGIN_S
    sock.close()


def test_a_slow_body_gets_408_and_the_app_never_waits_for_it(guarded: LiveServer) -> None:
    sock = _connect(guarded)
    body = json.dumps({"query": "bees", "k": 3}).encode()
    head = b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    sock.sendall(head % len(body) + body[:5])  # the rest never comes
    raw, waited = _read_all(sock, BODY_S + MARGIN_S + 5)
    assert _status(raw) == 408 and b"request body" in raw, raw
    assert waited < BODY_S + MARGIN_S
    assert _search_works(guarded) < 2.0
    sock.close()


def test_a_head_over_the_limit_gets_431(guarded: LiveServer) -> None:
    sock = _connect(guarded)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (20 * 1024) + b"\r\n\r\n")
    raw, waited = _read_all(sock, 5)
    assert _status(raw) == 431 and b"max_head_bytes" in raw, raw
    assert waited < 1.0
    sock.close()
    # a 100k-character query in the URL is such a head too; in a body it is a 413 (over max_body_bytes)
    long_query = "bees+" * 20_000
    sock = _connect(guarded)
    sock.sendall(b"GET /v1/search?q=%s HTTP/1.1\r\nHost: x\r\n\r\n" % long_query.encode())
    raw, waited = _read_all(sock, 5)
    assert _status(raw) == 431 and waited < 1.0, raw
    sock.close()
    with guarded.client() as client:
        assert client.post("/v1/search", json={"query": long_query.replace("+", " ")}).status_code == 413
    assert _search_works(guarded) < 2.0


def test_many_idle_connections_do_not_hold_the_server(guarded: LiveServer) -> None:
    idle = [_connect(guarded) for _ in range(300)]
    for sock in idle[::2]:
        sock.sendall(b"GET /v1/search?q=bees HTTP/1.1\r\n")  # half of them start a head and stop
    assert _search_works(guarded) < 2.0
    time.sleep(HEAD_S + MARGIN_S)
    for sock in idle:  # every one has been answered 408 and closed
        raw, _ = _read_all(sock, 5)
        assert _status(raw) == 408, raw
        sock.close()
    assert _search_works(guarded) < 2.0


def test_deeply_nested_json_is_a_clear_4xx(guarded: LiveServer) -> None:
    depth = LIMITS["max_body_bytes"] // 2 - 10
    with guarded.client() as client:
        for body in ("[" * depth + "]" * depth, '{"query": ' + "[" * depth + "]" * depth + "}"):
            response = client.post("/v1/search", content=body, headers={"Content-Type": "application/json"})
            # the JSON parser's recursion limit: FastAPI answers 400 "There was an error parsing the body"
            assert response.status_code in (400, 422), response.text
            assert response.json()["error"] in ("RequestValidationError", "HTTPException"), response.text
    assert _search_works(guarded) < 2.0


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("?!...;:—«»()", 200),  # punctuation only: a valid query that matches nothing in BM25
        ("🐝🍯🔥", 200),  # emoji only
        ("\u0007\u0001\u001b", 422),  # control characters only
        ("a" * (LIMITS["max_query_chars"] + 1), 422),
    ],
)
def test_odd_queries_get_a_clear_answer(guarded: LiveServer, query: str, status: int) -> None:
    with guarded.client() as client:
        for mode in ("dense", "sparse", "hybrid"):
            response = client.post("/v1/search", json={"query": query, "mode": mode, "k": LIMITS["max_k"]})
            assert response.status_code == status, response.text
            if status == 200:
                assert len(response.json()["hits"]) <= LIMITS["max_k"]
            else:
                assert response.json()["error"] == "RequestValidationError"


def test_k_at_and_past_the_limit(guarded: LiveServer) -> None:
    with guarded.client() as client:
        assert client.get("/v1/search", params={"q": "bees", "k": LIMITS["max_k"]}).status_code == 200
        for k in (LIMITS["max_k"] + 1, 10**12, 10**30):
            response = client.get("/v1/search", params={"q": "bees", "k": k})
            assert response.status_code == 422 and response.json()["error"] == "RequestValidationError", response.text
