"""``GET /`` and its assets, without a browser: served from the package, self-contained, same-origin only."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
from support import REPO

from passerelle.service.api.routes_ui import CONTENT_SECURITY_POLICY, STATIC_DIR

ASSET = re.compile(r'(?:href|src)="(/ui/[^"]+)"')
EXTERNAL = re.compile(r"https?:|//[a-z0-9.-]+\.[a-z]", re.IGNORECASE)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An in-process client; the page needs no loaded index, so the lifespan (which loads them) is not run."""
    from fastapi.testclient import TestClient

    from passerelle.service.api.app import create_app
    from passerelle.service.api.settings import ServiceSettings

    settings = ServiceSettings(indexes=[tmp_path_factory.mktemp("indexes") / "sample"])
    yield TestClient(create_app(settings))


def test_root_serves_the_search_page(client: Any) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY and "connect-src 'self'" in CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    page = response.text
    assert page.startswith("<!doctype html>")
    assert "<title>Passerelle search</title>" in page
    assert response.content == (STATIC_DIR / "index.html").read_bytes()
    assert "/" not in client.get("/openapi.json").json()["paths"]  # the page is not part of the API


def test_page_and_assets_reference_nothing_outside_the_service(client: Any) -> None:
    page = client.get("/").text
    assets = ASSET.findall(page)
    assert sorted(assets) == ["/ui/app.css", "/ui/app.js"]
    assert EXTERNAL.findall(page) == []
    for path, media_type in zip(sorted(assets), ["text/css", "text/javascript"], strict=True):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert EXTERNAL.findall(response.text) == [], path
        assert "@import" not in response.text and "url(" not in response.text


def test_every_control_has_a_label(client: Any) -> None:
    page = client.get("/").text
    ids = re.findall(r'<(?:input|select)\b[^>]*\bid="([^"]+)"', page)
    assert ids
    for control in ids:
        assert f'for="{control}"' in page, control
    assert '<html lang="en">' in page and 'name="viewport"' in page


@pytest.mark.parametrize("name", ["index.html", "nope.js", "..%2Froutes_ui.py", "routes_ui.py", "%2e%2e"])
def test_only_page_assets_are_served(client: Any, name: str) -> None:
    response = client.get(f"/ui/{name}")
    assert response.status_code == 404
    assert response.json()["error"] == "HTTPException"


def test_static_files_are_package_data() -> None:
    """Every file of service/api/static/ matches the package-data globs, so a wheel installs it."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert "passerelle.service.api.static" in config["packages"]
    globs = config["package-data"]["passerelle.service.api.static"]
    static_dir = REPO / config["package-dir"]["passerelle.service"] / "api" / "static"
    files = [path.relative_to(static_dir).as_posix() for path in STATIC_DIR.rglob("*") if path.is_file()]
    assert static_dir.resolve() == STATIC_DIR
    assert sorted(files) == ["app.css", "app.js", "index.html"]
    for name in files:
        assert any(fnmatch.fnmatch(name, glob) for glob in globs), name
