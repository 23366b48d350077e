"""The app factory: ``create_app(settings)`` builds one FastAPI app; there is no module-level app.

The lifespan owns the loaded indexes: it opens every configured directory (in a worker thread) before
the server accepts requests, and closes them at shutdown. Run it with uvicorn's factory mode, or through
``passerelle serve``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from passerelle import __version__
from passerelle.indexing.errors import ConfigError
from passerelle.service.api import routes_admin, routes_meta, routes_ui
from passerelle.service.api.http_errors import install_error_handlers
from passerelle.service.api.limits import BodySizeLimitMiddleware
from passerelle.service.api.metrics import Metrics, MetricsMiddleware
from passerelle.service.api.requests import request_models
from passerelle.service.api.routes_search import search_router
from passerelle.service.api.settings import ServiceSettings, index_name
from passerelle.service.api.state import Admission, AppState, ClusterHooks, IndexRegistry, ServedIndex
from passerelle.service.threads import default_search_threads

if TYPE_CHECKING:
    from passerelle.service.searcher import Searcher

logger = logging.getLogger(__name__)

_DESCRIPTION = """Cross-lingual search over one or more Passerelle indexes: dense (multilingual
embeddings), sparse (BM25 per language) or hybrid (fused). Every error answers
`{"error": type, "detail": ...}`; invalid fields give 422 naming the field."""


def create_app(
    settings: ServiceSettings, searchers: Mapping[str, Searcher] | None = None, *, cluster: ClusterHooks | None = None
) -> FastAPI:
    """Build the HTTP app.

    Args:
        settings: limits, defaults, network and admin settings, and the index directories to serve
            (each under its directory name; the first is the default).
        searchers: already-open searchers by name, served as given (the caller keeps ownership); when
            ``None`` the lifespan opens every directory in ``settings.indexes``. A name that also
            matches a configured directory can be reloaded from it.
        cluster: how indexes are opened, reloads shared, readiness and metrics gathered when the app is
            one of several processes answering together (Ray Serve); ``None``: one process.

    Raises:
        ConfigError: nothing to serve.
    """
    if not settings.indexes and not searchers:
        raise ConfigError("nothing to serve: configure at least one index directory (--index DIR)")
    metrics = Metrics()
    state = AppState(
        settings=settings,
        registry=IndexRegistry(),
        admission=Admission(
            settings.max_concurrency, settings.retry_after_s, metrics, max_wait_s=settings.max_queue_wait_ms / 1000
        ),
        metrics=metrics,
        models=request_models(settings),
        paths={index_name(path): path for path in settings.indexes},
        cluster=cluster,
        search_pool=None if cluster is not None else search_pool(settings),
    )

    def serve_given() -> None:  # the caller's searchers: served as they are, never closed by the app
        for name, searcher in (searchers or {}).items():
            if name not in state.registry.names():
                state.registry.swap(ServedIndex(name=name, path=state.paths.get(name), searcher=searcher, owned=False))

    serve_given()  # usable at once, even by a client that does not run the lifespan
    if settings.query_translator:
        from passerelle.service.query_translation import routes_key, shared_query_translator

        key = routes_key(settings.query_translator)
        metrics.watch_query_translation(lambda: shared_query_translator(key).stats())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.reload_lock = asyncio.Lock()
        serve_given()
        if not searchers:
            for name, path in state.paths.items():
                logger.info("loading index %r from %s", name, path)
                searcher = await anyio.to_thread.run_sync(state.open, path)
                state.registry.swap(ServedIndex(name=name, path=path, searcher=searcher))
        logger.info("serving %s", ", ".join(state.registry.names()))
        watcher = asyncio.create_task(state.admission.watch_loop())
        try:
            yield
        finally:
            watcher.cancel()
            state.registry.retire_all()
            if state.search_pool is not None:  # a fresh one (no thread until used) if the app is started again
                finished, state.search_pool = state.search_pool, search_pool(settings)
                finished.shutdown(wait=False)

    app = FastAPI(
        title="Passerelle",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.passerelle = state
    install_error_handlers(app)
    app.include_router(search_router(state.models))
    app.include_router(routes_meta.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_ui.router)
    app.add_middleware(BodySizeLimitMiddleware, limit=settings.max_body_bytes, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
        )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def search_pool(settings: ServiceSettings) -> ThreadPoolExecutor:
    """The threads of one in-process app's searches and document fetches (see :mod:`.blocking`)."""
    threads = settings.search_threads or default_search_threads()
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="passerelle-search")
