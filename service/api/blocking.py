"""The routes' blocking calls (searches, document fetches), on threads that live as long as the app.

In one process these calls run native code (ONNX Runtime, BLAS/OpenMP in FAISS, the JVM for BM25, SQLite)
that keeps per-thread state a thread's exit does not give back: each short-lived thread that searched left
100-150 KiB behind, and anyio retires its idle worker threads after 10 s, so a server under light load kept
making new ones (the 30-min soak grew 129 MiB). The app's own pool keeps ``search_threads`` threads; it also
bounds the searches at once (more runnable threads only take the GIL from the event loop that answers and
refuses requests). The Ray ingress, whose calls wait on replicas in other processes, stays on anyio's
threads (``AppState.search_pool`` is None there): a pool of 8 made it answer 503s during a reload.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import anyio

if TYPE_CHECKING:
    from passerelle.service.api.state import AppState

T = TypeVar("T")


async def run_blocking(state: AppState, func: Callable[..., T], *args: object) -> T:
    """``func(*args)`` on the app's search threads (anyio's where it has none). Like anyio's, a cancelled
    request still waits for the call to end: a lease on an index must outlive the search that uses it."""
    if state.search_pool is None:
        return await anyio.to_thread.run_sync(functools.partial(func, *args))
    future = asyncio.get_running_loop().run_in_executor(state.search_pool, functools.partial(func, *args))
    with anyio.CancelScope(shield=True):
        result = await future
    return result
