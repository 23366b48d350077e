"""Read-only routes: documents, index manifests, health, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from passerelle.indexing.errors import DocumentNotFoundError
from passerelle.service.api.blocking import run_blocking
from passerelle.service.api.deps import Admitted, StateDep
from passerelle.service.api.schemas import (
    DocumentResponse,
    ErrorResponse,
    HealthResponse,
    IndexesResponse,
    IndexInfo,
    ReadyResponse,
    plain,
)
from passerelle.service.api.state import AppState, ServedIndex

router = APIRouter()

IndexParam = Annotated[str | None, Query(description="Index name; default: the first loaded.")]


def index_info(state: AppState, served: ServedIndex) -> IndexInfo:
    """Describe one served index copy."""
    names = state.registry.names()
    return IndexInfo(
        name=served.name,
        default=bool(names) and names[0] == served.name,
        path=str(served.path) if served.path is not None else "",
        loaded_at=served.loaded_at.isoformat(),
        manifest=plain(served.searcher.index.manifest.to_dict()),
    )


@router.get(
    "/v1/documents/{doc_id:path}",
    response_model=DocumentResponse,
    tags=["documents"],
    responses={404: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
    summary="Fetch a stored document by id",
)
async def get_document(doc_id: str, state: StateDep, _slot: Admitted, index: IndexParam = None) -> DocumentResponse:
    with state.registry.lease(index) as served:
        doc = await run_blocking(state, served.searcher.index.docstore.get, doc_id)
    if doc is None:
        raise DocumentNotFoundError(f"no document {doc_id!r} in index {served.name!r}")
    return DocumentResponse.from_document(served.name, doc)


@router.get(
    "/v1/indexes",
    response_model=IndexesResponse,
    tags=["indexes"],
    summary="List the loaded indexes with their manifests",
)
async def list_indexes(state: StateDep) -> IndexesResponse:
    return IndexesResponse(indexes=[index_info(state, served) for served in state.registry.entries()])


@router.get("/healthz", response_model=HealthResponse, tags=["operations"], summary="Liveness")
async def healthz() -> HealthResponse:
    return HealthResponse()


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    response_model_exclude_none=True,
    tags=["operations"],
    responses={503: {"model": ReadyResponse}},
    summary="Readiness: every configured index loaded",
)
async def readyz(state: StateDep) -> ReadyResponse | JSONResponse:
    """200 ``ready``; 200 ``degraded`` when an index is loaded but one side cannot search (it still answers
    the other); 503 ``loading`` until every configured index is loaded; 503 ``unavailable`` when a process
    an index needs has no live copy (served on Ray: a shard without a live replica)."""
    loaded = state.registry.names()
    expected = state.expected_names()
    retry = {"Retry-After": str(state.settings.retry_after_s)}
    if expected and set(expected) <= set(loaded):
        down = await state.cluster.unavailable(state.registry.entries()) if state.cluster is not None else {}
        if down:
            answer = ReadyResponse(status="unavailable", indexes=loaded, unavailable=down)
            return JSONResponse(answer.model_dump(exclude_none=True), status_code=503, headers=retry)
        degraded = {
            served.name: f"sparse search unavailable: {served.searcher.index.sparse_error}"
            for served in state.registry.entries()
            if served.searcher.index.sparse_error
        }
        if degraded:
            return ReadyResponse(status="degraded", indexes=loaded, degraded=degraded)
        return ReadyResponse(status="ready", indexes=loaded)
    body = ReadyResponse(status="loading", indexes=loaded).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=503, headers=retry)


@router.get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(state: StateDep) -> Response:
    """This process's metrics; served by several processes (Ray Serve), every process's, merged."""
    body, content_type = state.metrics.render()
    if state.cluster is not None:
        body = await state.cluster.metrics(body)
    return Response(content=body, media_type=content_type)
