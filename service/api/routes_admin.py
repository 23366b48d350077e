"""Admin routes, protected by the ``X-API-Key`` header (absent, as 404, without a configured key)."""

from __future__ import annotations

import logging
import time

import anyio
from fastapi import APIRouter

from passerelle.indexing.errors import PasserelleError
from passerelle.service.api.deps import AdminKey, StateDep
from passerelle.service.api.routes_meta import index_info
from passerelle.service.api.schemas import ErrorResponse, ReloadRequest, ReloadResponse
from passerelle.service.api.state import ServedIndex
from passerelle.service.errors import InvalidRequestError, ReloadError

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post(
    "/reload",
    response_model=ReloadResponse,
    responses={s: {"model": ErrorResponse} for s in (400, 403, 404, 409, 413, 422)},
    summary="Reload indexes from disk and swap them in without dropping requests",
)
async def reload_indexes(state: StateDep, _key: AdminKey, body: ReloadRequest | None = None) -> ReloadResponse:
    """Open a fresh copy of each index (all, or ``index``) and swap it in atomically.

    Requests already running finish on the copy they started with; the old copy is closed when the last
    of them ends. If a copy cannot be opened, nothing is swapped for it and the old one keeps serving.
    """
    start = time.perf_counter()
    async with state.reload_lock:  # one reload at a time
        names = [body.index] if body is not None and body.index is not None else state.registry.names()
        targets = []
        for name in names:
            state.registry.get(name)  # IndexNotFoundError (404) for an unknown name
            path = state.paths.get(name)
            if path is None:
                raise InvalidRequestError(
                    f"index {name!r} was handed to the app already loaded; it has no "
                    "directory to reload from (start the service with --index DIR)"
                )
            targets.append((name, path))
        reloaded = []
        for name, path in targets:
            try:
                searcher = await anyio.to_thread.run_sync(state.open, path)
            except Exception as exc:  # whatever the failure, the copy in service stays in service
                state.metrics.reloads.labels(name, "failed").inc()
                if not isinstance(exc, PasserelleError):
                    logger.exception("reloading index %r from %s failed", name, path)
                reason = str(exc) if isinstance(exc, PasserelleError) else f"{type(exc).__name__}: {exc}"
                raise ReloadError(
                    f"reloading index {name!r} from {path} failed; the previous copy keeps serving: {reason}"
                ) from exc
            fresh = ServedIndex(name=name, path=path, searcher=searcher)
            state.registry.swap(fresh)
            state.metrics.reloads.labels(name, "ok").inc()
            logger.info("index %r reloaded from %s", name, path)
            reloaded.append(index_info(state, fresh))
    if state.cluster is not None:  # the other processes answering for this app swap to the same copies
        await state.cluster.after_reload([name for name, _ in targets])
    return ReloadResponse(reloaded=reloaded, took_ms=round((time.perf_counter() - start) * 1000, 3))
