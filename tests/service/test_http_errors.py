"""Every error case answers its own status and names what is wrong; user input never gives a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow


def _field_errors(response: httpx.Response) -> list[tuple[str, ...]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "RequestValidationError"
    return [tuple(str(part) for part in entry["loc"]) for entry in body["detail"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "x" * 301}, "query"),  # live server: max_query_chars=300
        ({"query": "bees", "k": 51}, "k"),  # live server: max_k=50
        ({"query": "bees", "k": 0}, "k"),
        ({"query": "bees", "mode": "semantic"}, "mode"),
        ({"query": "bees", "fusion": "borda"}, "fusion"),
        ({"query": "bees", "normalization": "softmax"}, "normalization"),
        ({"query": "bees", "query_lang": "english"}, "query_lang"),
        ({"query": "bees", "doc_langs": ["fr", "french"]}, "doc_langs"),
        ({"query": "bees", "weights": {"bm25": 1.0}}, "weights"),
        ({"query": "bees", "weights": {"sparse:french": 1.0}}, "weights"),
        ({"query": "bees", "weights": {"dense": -1}}, "weights"),
        ({"query": "bees", "k": 10, "depth": 5}, "depth"),
        ({"query": "bees", "colour": "red"}, "colour"),
        ({}, "query"),
    ],
)
def test_post_search_422_names_the_field(http: httpx.Client, body: dict, field: str) -> None:
    locs = _field_errors(http.post("/v1/search", json=body))
    assert any(loc[:2] == ("body", field) for loc in locs), locs


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "bees", "k": "ten"}, "k"),
        ({"q": "bees", "mode": "nope"}, "mode"),
        ({"q": "bees", "query_lang": "x1"}, "query_lang"),
        ({}, "q"),
    ],
)
def test_get_search_422_names_the_parameter(http: httpx.Client, params: dict, field: str) -> None:
    locs = _field_errors(http.get("/v1/search", params=params))
    assert any(loc[:2] == ("query", field) for loc in locs), locs


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"queries": []}, "queries"),
        ({"queries": ["bees"] * 9}, "queries"),  # live server: max_batch=8
        ({"queries": ["bees", " "]}, "queries"),
        ({"queries": ["bees", "x" * 301]}, "queries"),
    ],
)
def test_batch_422(http: httpx.Client, body: dict, field: str) -> None:
    locs = _field_errors(http.post("/v1/search/batch", json=body))
    assert any(loc[:2] == ("body", field) for loc in locs), locs


def test_not_found(http: httpx.Client) -> None:
    for response, error in [
        (http.post("/v1/search", json={"query": "bees", "index": "nope"}), "IndexNotFoundError"),
        (http.get("/v1/search", params={"q": "bees", "index": "nope"}), "IndexNotFoundError"),
        (http.get("/v1/documents/fr-999"), "DocumentNotFoundError"),
        (http.get("/v1/documents/fr-001", params={"index": "nope"}), "IndexNotFoundError"),
        (http.get("/v2/anything"), "HTTPException"),
    ]:
        assert response.status_code == 404, response.text
        assert response.json()["error"] == error


def test_admin_key(http: httpx.Client, api_key: str) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": api_key + "x"}):
        response = http.post("/v1/admin/reload", headers=headers)
        assert response.status_code == 403
        assert response.json()["error"] == "AuthenticationError"
    unknown = http.post("/v1/admin/reload", headers={"X-API-Key": api_key}, json={"index": "nope"})
    assert unknown.status_code == 404


def test_admin_disabled_without_key(searcher: Any) -> None:
    from passerelle.service.api.app import create_app
    from passerelle.service.api.settings import ServiceSettings

    with TestClient(create_app(ServiceSettings(), searchers={"sample": searcher})) as client:
        response = client.post("/v1/admin/reload", headers={"X-API-Key": "anything-at-all-1234"})
        assert response.status_code == 404
        assert response.json()["error"] == "AdminDisabledError"


def test_busy_service_answers_503_with_retry_after(searcher: Any) -> None:
    from passerelle.service.api.app import create_app
    from passerelle.service.api.settings import ServiceSettings

    app = create_app(ServiceSettings(max_concurrency=2, retry_after_s=7), searchers={"sample": searcher})
    admission = app.state.passerelle.admission
    with TestClient(app) as client, admission.slot(), admission.slot():  # every slot taken
        busy = client.post("/v1/search", json={"query": "bees"})
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "7"
        assert busy.json()["error"] == "ServiceUnavailableError"
        assert client.get("/healthz").status_code == 200  # health checks never queue
    with TestClient(app) as client:
        assert client.post("/v1/search", json={"query": "bees"}).status_code == 200
        assert "passerelle_rejected_requests_total 1.0" in client.get("/metrics").text


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'"bees"',
        b"null",
        b'{"query": null}',
        b'{"query": 42}',
        b'{"query": ["a"]}',
        b'{"query": "bees", "k": "many"}',
        b'{"query": "bees", "k": 1e309}',
        b'{"query": "bees", "k": 2.5}',
        b'{"query": "bees", "weights": {"dense": "heavy"}}',
        b'{"query": "bees", "weights": [1, 2]}',
        b'{"query": "bees", "doc_langs": "fr"}',
        b'{"query": "bees", "explain": "maybe"}',
        b'{"query": "bees", "rrf_k": -1}',
        b'{"query": "bees", "depth": 100000000}',
        b'{"query": "\\u0000\\u0001"}',
        b'{"query": "bees", "index": ""}',
    ],
)
def test_garbage_never_gives_500(http: httpx.Client, payload: bytes) -> None:
    response = http.post("/v1/search", content=payload, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert "error" in response.json()


@pytest.mark.parametrize(
    "query",
    ["🙂🙂🙂", "?", "12345", "<script>alert(1)</script>", "ß" * 300, "le la les", "AND OR NOT (", 'title:"x" ~2 ^3 \\'],
)
def test_odd_but_valid_queries_answer_200(http: httpx.Client, query: str) -> None:
    for mode in ("dense", "sparse", "hybrid"):
        response = http.post("/v1/search", json={"query": query, "mode": mode, "k": 3})
        assert response.status_code == 200, (mode, response.text)


def test_unsupported_language_is_not_a_500(http: httpx.Client) -> None:
    response = http.post("/v1/search", json={"query": "bees", "query_lang": "xx", "mode": "hybrid"})
    assert response.status_code in (200, 422), response.text
