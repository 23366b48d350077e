"""The Java runtime fails to start (a bogus PASSERELLE_JAVA_HOME, in a real ``passerelle serve`` process).

The service must still come up: ``/readyz`` says it is degraded and why, sparse requests get a clear 503,
dense requests answer as usual. The JVM is per process, hence the subprocess.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.server import ServerProcess, serve_process

pytestmark = pytest.mark.slow

BOGUS_JAVA = "/nonexistent/java-home"


@pytest.fixture(scope="module")
def javaless(sample_usem3_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("javaless") / "server.log"
    with serve_process([sample_usem3_index], log, env={"PASSERELLE_JAVA_HOME": BOGUS_JAVA}) as server:
        yield server


@pytest.fixture(scope="module")
def http(javaless: ServerProcess) -> Iterator[httpx.Client]:
    with javaless.client() as client:
        yield client


def test_readyz_says_sparse_is_unavailable_and_why(http: httpx.Client) -> None:
    ready = http.get("/readyz")
    assert ready.status_code == 200  # dense search works: keep the instance in rotation
    body = ready.json()
    assert body["status"] == "degraded" and body["indexes"] == ["sample-usem3"]
    reason = body["degraded"]["sample-usem3"]
    assert reason.startswith("sparse search unavailable: ")
    assert f"no Java runtime at {BOGUS_JAVA} (from PASSERELLE_JAVA_HOME)" in reason
    assert "\n" not in reason


def test_sparse_requests_get_a_clear_503(http: httpx.Client) -> None:
    for response in (
        http.post("/v1/search", json={"query": "bees", "mode": "sparse"}),
        http.get("/v1/search", params={"q": "bees", "mode": "sparse"}),
        http.post("/v1/search/batch", json={"queries": ["bees", "olives"], "mode": "sparse"}),
    ):
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "JavaUnavailableError"
        assert response.json()["detail"].startswith("sparse search is unavailable: ")
        assert BOGUS_JAVA in response.json()["detail"]


def test_dense_and_documents_still_work(http: httpx.Client) -> None:
    dense = http.post(
        "/v1/search", json={"query": "Which acids do beekeepers use against varroa?", "mode": "dense", "k": 3}
    )
    assert dense.status_code == 200, dense.text
    assert len(dense.json()["hits"]) == 3
    assert all(set(hit["sources"]) == {"dense"} for hit in dense.json()["hits"])
    assert http.get("/v1/documents/fr-001").json()["id"] == "fr-001"
    assert http.get("/healthz").json() == {"status": "ok"}


def test_the_log_says_it_once_without_a_traceback(javaless: ServerProcess) -> None:
    log = javaless.log_text()
    assert "sparse search disabled" in log and BOGUS_JAVA in log
    assert "Traceback" not in log


def test_hybrid_without_bm25_answers_dense_and_says_so(http: httpx.Client) -> None:
    response = http.post("/v1/search", json={"query": "Which acids do beekeepers use against varroa?", "k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "hybrid" and len(body["hits"]) == 3
    assert all(set(hit["sources"]) == {"dense"} for hit in body["hits"])
    (warning,) = body["warnings"]
    assert warning.startswith("BM25 is unavailable, these are dense results only") and BOGUS_JAVA in warning
