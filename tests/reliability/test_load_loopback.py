"""Load on loopback: a real ``passerelle serve`` process, requests at a fixed rate, memory sampled.

The short run (15 s at 20 requests/s) is part of the suite. The long run is ``make load`` (it sets
``PASSERELLE_LOAD_SECONDS``; ``PASSERELLE_LOAD_RATE`` changes the rate): it must end with no error and a
flat resident memory, and writes its figures to ``.passerelle/load-report.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from support import REPO, SAMPLE_DIR, read_tsv
from support.load import LoadReport, Request, run_load
from support.server import ServerProcess, serve_process

pytestmark = pytest.mark.slow

RATE = float(os.environ.get("PASSERELLE_LOAD_RATE", "20"))
LONG_SECONDS = os.environ.get("PASSERELLE_LOAD_SECONDS")


def request_mix() -> list[Request]:
    """What a client of the service does: every search mode, GET and POST, batches, document fetches."""
    queries = list(read_tsv(SAMPLE_DIR / "queries.dev.tsv").values())
    ids = [json.loads(line)["id"] for line in (SAMPLE_DIR / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    mix: list[Request] = []
    for n, query in enumerate(queries):
        mode = ("hybrid", "dense", "sparse")[n % 3]
        mix.append(("POST", "/v1/search", {"query": query, "mode": mode, "k": 10, "explain": n % 2 == 0}))
        mix.append(("GET", "/v1/search?" + urlencode({"q": query, "mode": "hybrid", "k": 5}), None))
        if n % 4 == 0:
            mix.append(("POST", "/v1/search/batch", {"queries": queries[n : n + 4], "mode": "hybrid", "k": 5}))
        mix.append(("GET", f"/v1/documents/{ids[n % len(ids)]}", None))
    return mix


@pytest.fixture(scope="module")
def loaded_server(sample_usem3_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("load") / "server.log"
    with serve_process([sample_usem3_index], log, ready_path="/readyz") as server:
        with server.client() as client:  # one of each request first: the run measures a warm server
            for method, path, body in request_mix()[:8]:
                assert client.request(method, path, json=body).status_code == 200
        yield server


def _load(server: ServerProcess, seconds: float) -> LoadReport:
    report = asyncio.run(run_load(server.url, request_mix(), rate=RATE, duration_s=seconds, pid=server.process.pid))
    print("\nload:", json.dumps(report.summary()))
    return report


def test_short_load_has_no_error(loaded_server: ServerProcess) -> None:
    report = _load(loaded_server, 15)
    assert report.sent == int(RATE * 15)
    # 503 + Retry-After is the designed answer of an overloaded server (all max_concurrency slots busy):
    # on a machine shared with other work it may happen here, and is counted; anything else is a failure.
    # `make load` (alone on the machine) allows no error at all.
    assert {kind: n for kind, n in report.errors.items() if kind != "HTTP 503"} == {}, report.errors
    assert report.ok >= report.sent // 2, report.summary()
    assert report.elapsed_s < 15 + 30  # every answer came back (the client timeout is 30 s)
    # 15 s cannot prove memory flat (make load does): it catches a gross leak
    assert report.summary()["rss_growth_after_warmup_mb"] < 100, report.rss_mb
    assert "Traceback" not in loaded_server.log_text()


@pytest.mark.skipif(not LONG_SECONDS, reason="the long load run is `make load` (PASSERELLE_LOAD_SECONDS)")
def test_long_load_keeps_memory_flat(loaded_server: ServerProcess) -> None:
    seconds = float(LONG_SECONDS or 0)
    report = _load(loaded_server, seconds)
    out = REPO / ".passerelle" / "load-report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    print(f"report written to {out}")
    assert report.error_count == 0, report.errors
    assert report.ok == report.sent == int(RATE * seconds)
    summary = report.summary()
    # flat: the last third of the run within 5% (at least 20 MiB) of the middle third (after the warm-up)
    allowed = max(20.0, 0.05 * summary["rss_warm_mb"])
    assert summary["rss_growth_after_warmup_mb"] <= allowed, summary
    assert "Traceback" not in loaded_server.log_text()
