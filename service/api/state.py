"""What one running app holds: the served indexes (swappable atomically) and its admission limit.

Everything here is touched from the event loop thread only (routes enter and leave leases there), so
plain counters need no lock; the blocking search itself runs in a worker thread on a searcher reference
taken before it starts.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from passerelle.service.api.admission import Admission
from passerelle.service.errors import IndexNotFoundError, ServiceUnavailableError
from passerelle.service.heap import give_back_free_memory

if TYPE_CHECKING:
    from passerelle.service.api.metrics import Metrics
    from passerelle.service.api.requests import RequestModels
    from passerelle.service.api.settings import ServiceSettings
    from passerelle.service.searcher import Searcher

__all__ = ["Admission", "AppState", "ClusterHooks", "IndexRegistry", "ServedIndex", "open_searcher"]

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class ServedIndex:
    """One loaded copy of an index; ``leases`` counts the requests using it right now."""

    name: str
    path: Path | None
    searcher: Searcher
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    owned: bool = True  # opened by the app (closed by it), not handed in by the caller
    leases: int = 0
    retired: bool = False
    closed: bool = False

    def release_if_idle(self) -> bool:
        """Close the index if this copy was retired and no request uses it any more; True if closed."""
        if self.closed or not (self.retired and self.leases == 0):
            return False
        self.closed = True
        if self.owned:
            try:
                self.searcher.close()
            except Exception:  # closing an old copy must never fail a request
                logger.exception("closing the replaced copy of index %r failed", self.name)
            give_back_free_memory()  # the closed copy's holes in the C heap (service/heap.py)
        return True


def open_searcher(path: Path, settings: ServiceSettings) -> Searcher:
    """Load the index directory at ``path`` as ``settings`` say (file checks, fusion profile, query threads,
    micro-batching) and warm it up (blocking: call it in a worker thread).

    Raises:
        IndexFormatError: the index is missing, incomplete or damaged.
    """
    from passerelle.service.searcher import Searcher

    return Searcher.open(
        path, verify=settings.verify, query_threads=settings.query_threads, **searcher_options(settings)
    )


def searcher_options(settings: ServiceSettings) -> dict[str, Any]:
    """The :class:`Searcher` arguments ``settings`` ask for (fusion profile, micro-batching, the query
    translator, loaded and warmed up here)."""
    from passerelle.service.query_translation import routes_key, shared_query_translator

    setting = settings.query_translator
    translator = shared_query_translator(routes_key(setting)) if setting else None
    if translator is not None:
        translator.warm_up()
    return {
        "fusion_profile": settings.fusion_profile,
        "micro_batch": settings.micro_batch,
        "search_workers": settings.search_workers,
        "query_translator": translator,
    }


class ClusterHooks(Protocol):
    """What an app answering from several processes does differently from one process (the Ray Serve
    ingress, :mod:`passerelle.service.api.ray_ingress`). An app without hooks serves in its own process."""

    def open(self, path: Path, settings: ServiceSettings) -> Searcher:
        """Open the index at ``path`` for this app (blocking: called in a worker thread)."""
        ...

    async def after_reload(self, names: Sequence[str]) -> None:
        """Bring the app's peers to the copies this app has just reloaded."""
        ...

    async def unavailable(self, served: Sequence[ServedIndex]) -> dict[str, str]:
        """Index name -> why it cannot answer now (empty: every index can)."""
        ...

    async def metrics(self, local: bytes) -> bytes:
        """The exposition text of every peer merged, given this app's own (``local``)."""
        ...


class IndexRegistry:
    """The indexes an app serves, by name; the first is the default."""

    def __init__(self, served: Sequence[ServedIndex] = ()) -> None:
        self._served: Mapping[str, ServedIndex] = MappingProxyType({s.name: s for s in served})

    def names(self) -> list[str]:
        """Served index names, the default first."""
        return list(self._served)

    def entries(self) -> list[ServedIndex]:
        """The current copy of every served index."""
        return list(self._served.values())

    def get(self, name: str | None = None) -> ServedIndex:
        """The current copy of ``name`` (the default index when ``None``).

        Raises:
            IndexNotFoundError: no index of that name.
            ServiceUnavailableError: no index loaded at all.
        """
        served = self._served
        if name is None:
            if not served:
                raise ServiceUnavailableError("no index is loaded yet", retry_after_s=5)
            return next(iter(served.values()))
        if name not in served:
            known = ", ".join(served) or "none"
            raise IndexNotFoundError(f"no index named {name!r}; loaded indexes: {known}")
        return served[name]

    @contextlib.contextmanager
    def lease(self, name: str | None = None) -> Iterator[ServedIndex]:
        """Use the current copy of ``name`` for one request; a swap meanwhile does not affect it."""
        entry = self.get(name)
        entry.leases += 1
        try:
            yield entry
        finally:
            entry.leases -= 1
            entry.release_if_idle()

    def swap(self, new: ServedIndex) -> ServedIndex | None:
        """Serve ``new`` under its name (atomically: one reference assignment); return the old copy.

        The old copy keeps answering the requests that hold it and is closed when the last one ends.
        """
        old = self._served.get(new.name)
        updated = dict(self._served)
        updated[new.name] = new
        self._served = MappingProxyType(updated)
        if old is not None and old is not new:
            old.retired = True
            old.release_if_idle()
        return old

    def retire_all(self) -> None:
        """Stop serving every index; each copy is closed once its last request ends (app shutdown)."""
        served, self._served = self._served, MappingProxyType({})
        for entry in served.values():
            entry.retired = True
            entry.release_if_idle()


@dataclass
class AppState:
    """Everything the routes of one app need, stored on ``app.state.passerelle``."""

    settings: ServiceSettings
    registry: IndexRegistry
    admission: Admission
    metrics: Metrics
    models: RequestModels
    paths: dict[str, Path] = field(default_factory=dict)  # name -> directory, for loading and reloads
    reload_lock: Any = None  # an asyncio.Lock, created inside the running loop
    cluster: ClusterHooks | None = None  # None: the indexes are searched in this process
    search_pool: ThreadPoolExecutor | None = None  # the routes' blocking calls (api/blocking.py); None: anyio's

    def open(self, path: Path) -> Searcher:
        """Open the index at ``path`` as this app serves it (blocking: call it in a worker thread)."""
        if self.cluster is not None:
            return self.cluster.open(path, self.settings)
        return open_searcher(path, self.settings)

    def expected_names(self) -> list[str]:
        """Names the app must serve to be ready: its configured directories and the searchers handed in."""
        names = list(self.paths)
        names += [name for name in self.registry.names() if name not in self.paths]
        return names
