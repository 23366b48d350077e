"""FastAPI dependencies shared by the routes (``Annotated[..., Depends(...)]`` aliases)."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request

from passerelle.service.api.state import AppState
from passerelle.service.errors import AdminDisabledError, AuthenticationError


async def get_state(request: Request) -> AppState:
    """The state of the app serving ``request`` (``async``: FastAPI would run a plain function in a thread)."""
    state: AppState = request.app.state.passerelle
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def _admitted(state: StateDep) -> AsyncIterator[None]:
    with state.admission.slot():
        yield


Admitted = Annotated[None, Depends(_admitted)]
"""Holds one of the ``max_concurrency`` slots for the request, or refuses it with 503."""


async def _require_api_key(
    state: StateDep, x_api_key: Annotated[str | None, Header(description="The service's admin key.")] = None
) -> None:
    configured = state.settings.api_key
    if configured is None:
        raise AdminDisabledError("admin routes are disabled: the service was started without an API key")
    given = (x_api_key or "").encode("utf-8")
    if not hmac.compare_digest(given, configured.get_secret_value().encode("utf-8")):
        raise AuthenticationError("missing or wrong X-API-Key header")


AdminKey = Annotated[None, Depends(_require_api_key)]
"""Refuses the request unless it carries the configured ``X-API-Key`` (404 when none is configured)."""
