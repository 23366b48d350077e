"""Security: the admin key (compared in constant time), CORS closed by default, and no request parameter
that reaches the filesystem (reload takes index names, never paths; document ids are only ids)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from support.reliability import reliability_settings
from support.server import API_KEY, LiveServer, start_server, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def http(reliable_server: LiveServer) -> Iterator[httpx.Client]:
    with reliable_server.client() as client:
        yield client


def test_admin_key_is_compared_in_constant_time(http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from passerelle.service.api import deps

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(deps.hmac, "compare_digest", spy)
    refused = http.post("/v1/admin/reload", headers={"X-API-Key": "wrong"})
    assert refused.status_code == 403 and refused.json()["error"] == "AuthenticationError"
    assert calls == [(b"wrong", API_KEY.encode())]
    # the right key passes the check (then the unknown index is a 404, after authentication)
    assert http.post("/v1/admin/reload", headers={"X-API-Key": API_KEY}, json={"index": "nope"}).status_code == 404
    assert calls[-1] == (API_KEY.encode(), API_KEY.encode())


@pytest.mark.parametrize(
    "attempt",
    [
        {},  # no header
        {"headers": {"X-API-Key": ""}},
        {"headers": {"X-API-Key": API_KEY.upper()}},  # case matters
        {"headers": {"X-API-Key": API_KEY[:-1]}},  # a prefix is not the key
        {"headers": {"X-API-Key": API_KEY + "x"}},  # nor a longer string
        {"headers": {"Authorization": f"Bearer {API_KEY}"}},  # only X-API-Key counts
        {"params": {"api_key": API_KEY}},  # never from the URL (it would end up in logs)
    ],
)
def test_admin_needs_the_exact_key_in_its_header(http: httpx.Client, attempt: dict[str, Any]) -> None:
    response = http.post("/v1/admin/reload", **attempt)
    assert response.status_code == 403, response.text
    assert API_KEY not in response.text


def test_cors_is_closed_by_default(http: httpx.Client) -> None:
    origin = {"Origin": "https://evil.example.com"}
    preflight = http.options("/v1/search", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 405  # no CORS middleware at all: OPTIONS is just not a method here
    simple = http.get("/v1/search", params={"q": "bees", "k": 1}, headers=origin)
    assert simple.status_code == 200
    assert not [name for name in simple.headers if name.lower().startswith("access-control-")]


def test_cors_allows_only_the_listed_origins(sample_usem3_index: Path) -> None:
    from passerelle.service.api.app import create_app

    app = create_app(reliability_settings(sample_usem3_index, cors_origins=["https://app.example.org"]))
    client = TestClient(app)
    for origin, allowed in (
        ("https://app.example.org", True),
        ("https://evil.example.com", False),
        ("https://app.example.org.evil.com", False),
        ("null", False),
    ):
        response = client.options("/v1/search", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert (response.headers.get("access-control-allow-origin") == origin) is allowed, origin
        assert response.headers.get("access-control-allow-credentials") is None


def test_a_wildcard_origin_is_refused_in_settings() -> None:
    from pydantic import ValidationError

    from passerelle.service.api.settings import ServiceSettings

    with pytest.raises(ValidationError, match="list the origins explicitly"):
        ServiceSettings(cors_origins=["*"])


def test_reload_takes_names_never_paths(
    sample_usem3_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from passerelle.service import searcher as searcher_module
    from passerelle.service.api.app import create_app

    opened: list[Path] = []
    real = searcher_module.load_index

    def spy(path: Path | str, **kwargs: Any) -> Any:
        opened.append(Path(path))
        return real(path, **kwargs)

    monkeypatch.setattr(searcher_module, "load_index", spy)  # where the service opens indexes
    other = tmp_path / "other"
    other.mkdir()  # a directory an attacker would like the service to open
    app = create_app(reliability_settings(sample_usem3_index))
    admin = {"X-API-Key": API_KEY}
    with TestClient(app) as client:
        for body in ({"path": str(other)}, {"index": "sample-usem3", "path": str(other)}, {"dir": "/"}):
            assert client.post("/v1/admin/reload", headers=admin, json=body).status_code == 422, body
        for name in (str(other), "../other", "..", "/", "sample-usem3/..", "./sample-usem3", str(sample_usem3_index)):
            response = client.post("/v1/admin/reload", headers=admin, json={"index": name})
            assert response.status_code == 404, (name, response.text)
            assert response.json()["error"] == "IndexNotFoundError"
        for name in ("../sample-usem3", str(other)):  # the search's index parameter: a name as well
            assert client.get("/v1/search", params={"q": "bees", "index": name}).status_code == 404
        assert client.post("/v1/admin/reload", headers=admin, json={"index": "sample-usem3"}).status_code == 200
    assert opened and set(opened) == {sample_usem3_index}  # the configured directory, and only it


def test_document_ids_are_only_ids(tmp_path: Path) -> None:
    """Ids that look like paths are stored, searched and fetched as plain strings."""
    from passerelle.indexing.build import build_index
    from passerelle.indexing.options import BuildOptions
    from passerelle.service.api.app import create_app

    ids = ["../../etc/passwd", "/etc/hosts", "a/b/../c", "%2e%2e%2f", "C:\\Windows\\win.ini"]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"id": doc_id, "lang": "en", "title": f"Honey note {n}", "text": f"Bees make honey, note {n}."})
            + "\n"
            for n, doc_id in enumerate(ids)
        ),
        encoding="utf-8",
    )
    index = tmp_path / "paths"
    build_index(corpus, index, BuildOptions(dense=False, progress=False))  # BM25 only: no model needed
    server = start_server(create_app(reliability_settings(index)))  # uvicorn: TestClient decodes paths twice
    try:
        with server.client() as client:
            for doc_id in ids:
                response = client.get("/v1/documents/" + quote(doc_id, safe=""))
                assert response.status_code == 200, (doc_id, response.text)
                assert response.json()["id"] == doc_id
            missing = client.get("/v1/documents/..%2F..%2F..%2Fetc%2Fshadow")
            assert missing.status_code == 404
            assert missing.json()["detail"].startswith("no document '../../../etc/shadow'")
            hits = client.post("/v1/search", json={"query": "bees honey", "mode": "sparse", "k": 10}).json()["hits"]
            assert sorted(hit["id"] for hit in hits) == sorted(ids)
    finally:
        stop_server(server)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.jsonl", "paths"]  # nothing written beside


@pytest.mark.parametrize(
    "path",
    [
        "/ui/..%2Fapp.py",
        "/ui/%2E%2E%2Fsettings.py",
        "/ui/..%2F..%2Fpyproject.toml",
        "/ui/index.html%00.css",
        "/ui/.%2Fapp.js",
    ],
)
def test_page_assets_are_only_the_static_files(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 404, response.text
