"""Blocking calls of the routes, on the service's long-lived search threads (not anyio's, which retire when
idle: see :mod:`passerelle.service.threads`)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio

from passerelle.service.threads import SEARCH_THREADS, shared_pool

P = ParamSpec("P")
T = TypeVar("T")


async def run_blocking(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``func(*args, **kwargs)`` on a search thread. Like ``anyio.to_thread.run_sync``, a cancelled request
    still waits for the call to end (a lease on an index must outlive the search that uses it)."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(shared_pool("search", SEARCH_THREADS), functools.partial(func, *args, **kwargs))
    with anyio.CancelScope(shield=True):
        result = await future
    return result
