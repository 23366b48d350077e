"""The search page for people: ``GET /`` and its assets under ``/ui/``.

The page is plain HTML, CSS and JavaScript from ``service/api/static/`` (installed as package data), with no
build step and nothing fetched from elsewhere: it talks to this service's own API (``/v1/indexes``,
``/v1/search``, ``/v1/documents/{id}``). A Content-Security-Policy header holds it to that.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.exceptions import HTTPException

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGE = "index.html"

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}

# Same-origin only: the page, its assets and the API it calls all come from this service.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate: a new release shows at once
}

router = APIRouter(include_in_schema=False)


@cache
def asset_names() -> frozenset[str]:
    """Names of the files the page may load from ``/ui/`` (the static folder's files of known types)."""
    return frozenset(
        path.name
        for path in STATIC_DIR.iterdir()
        if path.is_file() and path.suffix in MEDIA_TYPES and path.name != PAGE
    )


def _serve(name: str) -> Response:
    path = STATIC_DIR / name
    return Response(content=path.read_bytes(), media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)


@router.get("/")
async def page() -> Response:
    """The search page."""
    return _serve(PAGE)


@router.get("/ui/{name}")
async def asset(name: str) -> Response:
    """One stylesheet or script of the page; only files of the static folder are served."""
    if name not in asset_names():
        raise HTTPException(status_code=404, detail=f"no page asset named {name!r}")
    return _serve(name)
