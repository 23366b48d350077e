"""Search routes: ``POST /v1/search``, ``GET /v1/search`` and ``POST /v1/search/batch``.

This module does not use ``from __future__ import annotations`` on purpose: the endpoints are declared
inside :func:`search_router` with request models built for one app's limits, and FastAPI must see those
annotations as the model classes themselves, not as strings to resolve in this module's globals.
"""

import time
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query

from passerelle.service.api.blocking import run_blocking
from passerelle.service.api.deps import Admitted, StateDep
from passerelle.service.api.requests import RequestModels, SearchOptions
from passerelle.service.api.schemas import BatchSearchResponse, ErrorResponse, SearchResponse
from passerelle.service.api.state import AppState

ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorResponse} for status in (404, 422, 503)}
# POST bodies can also be unreadable (400: not UTF-8) or too large (413: over max_body_bytes).
BODY_ERRORS: dict[int | str, dict[str, Any]] = {**ERRORS, 400: {"model": ErrorResponse}, 413: {"model": ErrorResponse}}


async def run_search(state: AppState, options: SearchOptions, queries: Sequence[str]) -> list[SearchResponse]:
    """Search ``queries`` with ``options`` on the requested index, in a worker thread.

    The index copy is leased before the search starts, so a reload meanwhile does not affect it.
    """
    params = options.to_params()
    with state.registry.lease(options.index) as served:
        start = time.perf_counter()
        if len(queries) == 1:  # joins concurrent single queries in a micro-batch when the searcher batches
            results = [await run_blocking(state, served.searcher.search, queries[0], params)]
        else:
            results = await run_blocking(state, served.searcher.search_batch, list(queries), params)
        elapsed = time.perf_counter() - start
    state.metrics.search_seconds.labels(options.mode, served.name).observe(elapsed)
    fields = options.hit_fields()
    return [SearchResponse.from_result(served.name, result, fields) for result in results]


def search_router(models: RequestModels) -> APIRouter:
    """The search routes, validating requests with ``models`` (built from the app's settings)."""
    router = APIRouter(prefix="/v1", tags=["search"])

    # exclude_unset: a hit carries only the stored fields asked for (``fields``); see SearchResponse.from_result
    @router.post(
        "/search",
        response_model=SearchResponse,
        response_model_exclude_unset=True,
        responses=BODY_ERRORS,
        summary="Search one query (all options)",
    )
    # The request models are derived per app (subclasses of SearchRequest etc. with its limits), which
    # FastAPI needs as the annotations themselves; mypy cannot take a variable as a type.
    async def search_post(
        body: models.search,  # type: ignore[name-defined]
        state: StateDep,
        _slot: Admitted,
    ) -> SearchResponse:
        (response,) = await run_search(state, body, [body.query])
        return response

    @router.get(
        "/search",
        response_model=SearchResponse,
        response_model_exclude_unset=True,
        responses=ERRORS,
        summary="Search one query (query-string options; no weights)",
    )
    async def search_get(
        params: Annotated[models.query_params, Query()],  # type: ignore[name-defined]
        state: StateDep,
        _slot: Admitted,
    ) -> SearchResponse:
        (response,) = await run_search(state, params, [params.q])
        return response

    @router.post(
        "/search/batch",
        response_model=BatchSearchResponse,
        response_model_exclude_unset=True,
        responses=BODY_ERRORS,
        summary="Search several queries with the same options",
    )
    async def search_batch(
        body: models.batch,  # type: ignore[name-defined]
        state: StateDep,
        _slot: Admitted,
    ) -> BatchSearchResponse:
        return BatchSearchResponse(results=await run_search(state, body, body.queries))

    return router
