"""Long-lived worker threads for the service's blocking work, shared by every index and every reload.

Native libraries keep per-thread state that a thread's exit does not give back. Measured here, each
short-lived thread that ran one search left 100-150 KiB of resident memory behind (dense search through
NumPy's BLAS and FAISS's OpenMP; BM25 through the JVM, which every calling thread attaches to), so a server
whose threads come and go (anyio retires idle worker threads after 10 s; each reloaded index started its own
micro-batching threads) grew without end. These pools start their threads on demand and keep them. The
routes' own calls run on each app's pool (:mod:`passerelle.service.api.blocking`).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

BATCH_THREADS = 32
"""Micro-batch drains at once, over every batcher of the process (each batcher runs at most its ``workers``)."""


def default_search_threads() -> int:
    """Searches at once for the HTTP routes when not configured: 4 per core available, at least 8."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    return max(8, 4 * cores)


_pools: dict[str, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def shared_pool(name: str, max_workers: int) -> ThreadPoolExecutor:
    """The process-wide pool ``name`` (created on first use with ``max_workers`` threads at most)."""
    pool = _pools.get(name)
    if pool is None:
        with _lock:
            pool = _pools.get(name)
            if pool is None:
                pool = _pools[name] = ThreadPoolExecutor(
                    max_workers=max_workers, thread_name_prefix=f"passerelle-{name}"
                )
    return pool
