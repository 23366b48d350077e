"""Admin reload: a fresh copy swapped in atomically, with zero failed requests while it happens."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow

QUERIES = [
    ("How long is the bread dough left to rise in the cold at a bakery in Lyon?", "hybrid"),
    ("Why is the cathedral in Cologne always covered in scaffolding?", "dense"),
    ("Which acids do beekeepers use to treat hives against the varroa parasite?", "sparse"),
]


def test_reload_under_load_drops_nothing(live: Any, api_key: str) -> None:
    with live.client() as client:
        baseline = {
            q: [h["id"] for h in client.post("/v1/search", json={"query": q, "mode": m, "k": 5}).json()["hits"]]
            for q, m in QUERIES
        }
    state = live.app.state.passerelle
    first_copy = state.registry.get("sample")

    stop = threading.Event()
    outcomes: list[tuple[int, bool]] = []  # (status, same hits as the baseline)
    lock = threading.Lock()

    def hammer() -> None:
        with live.client() as client:
            i = 0
            while not stop.is_set():
                query, mode = QUERIES[i % len(QUERIES)]
                i += 1
                try:
                    response = client.post("/v1/search", json={"query": query, "mode": mode, "k": 5})
                    same = response.status_code == 200 and [h["id"] for h in response.json()["hits"]] == baseline[query]
                    status = response.status_code
                except httpx.HTTPError:
                    status, same = -1, False
                with lock:
                    outcomes.append((status, same))

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    stamps = []
    try:
        with live.client(headers={"X-API-Key": api_key}) as admin:
            for _ in range(3):
                response = admin.post("/v1/admin/reload")
                assert response.status_code == 200, response.text
                (info,) = response.json()["reloaded"]
                assert info["name"] == "sample"
                stamps.append(info["loaded_at"])
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)

    assert len(outcomes) >= 10, "the load loop barely ran"
    failures = [o for o in outcomes if o != (200, True)]
    assert failures == [], f"{len(failures)} of {len(outcomes)} requests failed during reloads"
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    current = state.registry.get("sample")
    assert current is not first_copy
    assert current.loaded_at.isoformat() == stamps[-1]
    assert first_copy.retired and first_copy.closed and first_copy.leases == 0  # old copy released
    with live.client() as client:
        assert client.get("/v1/indexes").json()["indexes"][0]["loaded_at"] == stamps[-1]
        assert 'passerelle_index_reloads_total{index="sample",outcome="ok"} 3.0' in client.get("/metrics").text


def test_failed_reload_keeps_the_old_copy(sample_index: Path, tmp_path: Path) -> None:
    from passerelle.service.api.app import create_app
    from passerelle.service.api.settings import ServiceSettings

    copy = tmp_path / "sample"
    shutil.copytree(sample_index, copy)
    key = "another-admin-key-123456"
    app = create_app(ServiceSettings(indexes=[copy], api_key=key))
    with TestClient(app) as client:
        before = client.get("/v1/indexes").json()["indexes"][0]["loaded_at"]
        manifest = copy / "manifest.json"
        good = manifest.read_bytes()
        manifest.write_text("{ this is not json", encoding="utf-8")
        response = client.post("/v1/admin/reload", headers={"X-API-Key": key}, json={"index": "sample"})
        assert response.status_code == 409, response.text
        assert response.json()["error"] == "ReloadError"
        assert "previous copy keeps serving" in response.json()["detail"]
        assert client.get("/v1/indexes").json()["indexes"][0]["loaded_at"] == before
        search = client.post(
            "/v1/search", json={"query": "a Lyon baker feeds her sourdough starter with rye flour", "k": 1}
        )
        assert search.status_code == 200
        assert search.json()["hits"][0]["id"] == "fr-001"

        manifest.write_bytes(good)
        assert client.post("/v1/admin/reload", headers={"X-API-Key": key}).status_code == 200
        assert client.get("/v1/indexes").json()["indexes"][0]["loaded_at"] > before


def test_reload_needs_a_directory(searcher: Any) -> None:
    from passerelle.service.api.app import create_app
    from passerelle.service.api.settings import ServiceSettings

    key = "yet-another-admin-key-123"
    app = create_app(ServiceSettings(api_key=key), searchers={"given": searcher})
    with TestClient(app) as client:
        response = client.post("/v1/admin/reload", headers={"X-API-Key": key})
        assert response.status_code == 422
        assert "no directory to reload from" in response.json()["detail"]
    assert app.state.passerelle.registry.names() == []  # shut down; the caller's searcher is not closed
    assert searcher.search("bees").hits
