"""The Ray Serve ingress: the same FastAPI app (:func:`~passerelle.service.api.app.create_app`) in every
ingress replica, searching indexes whose stores run as Serve deployments.

Each index version is a store application (:mod:`passerelle.service.cluster.apps`); the ingress encodes a
query once, fans it out to the shard deployments and the BM25 deployment, merges and fuses with the
search core, exactly as ``passerelle serve`` does in one process. :class:`RayCluster` is the app's
:class:`~passerelle.service.api.state.ClusterHooks`:

- open: deploy the store application of the index version on disk (unless it runs), wait until every
  deployment has its replicas, and wrap it in a :class:`~passerelle.service.searcher.Searcher`;
- after a reload: every other ingress replica swaps to the same store application (Serve's broadcast),
  then the old version's application is deleted once no ingress replica holds a copy on it;
- readiness: every shard deployment (and BM25) has a live replica;
- metrics: every ingress replica's, merged.

Imported only on the Ray path (``passerelle serve --engine ray``): it imports Ray.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from ray import serve

from passerelle.service.api.app import create_app
from passerelle.service.api.metrics import merge_expositions, watch_store_calls
from passerelle.service.api.settings import ServiceSettings, index_name
from passerelle.service.api.state import AppState, ServedIndex, searcher_options
from passerelle.service.cluster import apps
from passerelle.service.cluster.calls import CallStats, StoreCalls
from passerelle.service.cluster.remote import RemoteIndex, open_remote_index

if TYPE_CHECKING:
    from fastapi import FastAPI

    from passerelle.service.searcher import Searcher

logger = logging.getLogger(__name__)

INGRESS_APP = "passerelle"
INGRESS_DEPLOYMENT = "ingress"
BROADCAST_TIMEOUT_S = 10.0
RETIRE_POLL_S = 1.0


def store_plan(settings: ServiceSettings, path: Path) -> apps.StorePlan:
    """The store application for the index version now at ``path``, laid out as ``settings.ray`` says."""
    ray = settings.ray
    health = {"max_constructor_retry_count": 3, "health_check_period_s": ray.health_check_period_s}
    return apps.plan_for(
        path,
        index_name(path),
        group=ray.shards_per_deployment,
        shard_options={**ray.shards.serve_options(), **health},
        sparse_options={**ray.sparse.serve_options(), **health},
        verify=settings.verify,
    )


class RayCluster:
    """How one ingress replica opens indexes and works with its peers (the app's cluster hooks)."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.stats = CallStats()
        self.state: AppState | None = None  # set once the app is built
        self._in_use: Counter[str] = Counter()  # store application -> open index copies on it here
        self._lock = threading.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    # -- opening ----------------------------------------------------------------------------------------

    def open(self, path: Path, settings: ServiceSettings) -> Searcher:
        """Deploy (or find running) the store application of the version at ``path``; search it."""
        plan = store_plan(settings, path)
        apps.deploy(plan, settings.ray.deploy_timeout_s)
        return self.searcher(path, plan.app)

    def searcher(self, path: Path, app: str) -> Searcher:
        """A searcher over the running store application ``app`` (serving the index at ``path``)."""
        from passerelle.service.searcher import Searcher

        ray = self.settings.ray
        calls = StoreCalls(
            app,
            timeout_s=ray.call_timeout_s,
            attempts=ray.call_attempts,
            retry_after_s=self.settings.retry_after_s,
            stats=self.stats,
        )
        index = open_remote_index(path, calls, query_threads=self.settings.query_threads, on_close=self._released)
        with self._lock:
            self._in_use[app] += 1
        return Searcher.over(index, **searcher_options(self.settings))

    def _released(self, index: RemoteIndex) -> None:
        with self._lock:
            self._in_use[index.app] -= 1
            if self._in_use[index.app] <= 0:
                del self._in_use[index.app]

    def apps_in_use(self) -> list[str]:
        """Store applications some index copy of this replica still searches (current or draining)."""
        with self._lock:
            return sorted(self._in_use)

    # -- peers --------------------------------------------------------------------------------------------

    async def after_reload(self, names: Sequence[str]) -> None:
        """Swap every peer to the copies just loaded here, then retire the versions no longer served."""
        assert self.state is not None
        targets = {name: _app_of(self.state.registry.get(name)) for name in names}
        await _peers().broadcast("sync_indexes", targets).results_async(timeout_s=self.settings.ray.deploy_timeout_s)
        for name, app in targets.items():
            task = asyncio.create_task(self._retire_others(name, app))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def sync_indexes(self, targets: dict[str, str]) -> list[str]:
        """Serve ``targets`` (index name -> store application) unless already served; the names swapped."""
        assert self.state is not None
        state, swapped = self.state, []
        async with state.reload_lock:
            for name, app in targets.items():
                served = state.registry.get(name)
                if _app_of(served) == app or served.path is None:
                    continue
                searcher = await anyio.to_thread.run_sync(self.searcher, served.path, app)
                state.registry.swap(ServedIndex(name=name, path=served.path, searcher=searcher))
                logger.info("index %r now served by %s (reloaded by a peer)", name, app)
                swapped.append(name)
        return swapped

    async def _retire_others(self, name: str, keep: str) -> None:
        """Delete the older store applications of index ``name`` once no ingress replica searches them."""
        patience_s = 4 * self.settings.ray.deploy_timeout_s
        deadline = time.monotonic() + patience_s
        while time.monotonic() < deadline:
            old = await anyio.to_thread.run_sync(apps.older_than, name, keep)
            if not old:
                return
            in_use: set[str] = set()
            for answer in await _peers().broadcast("apps_in_use").results_async(timeout_s=BROADCAST_TIMEOUT_S):
                in_use.update(answer)
            for app in old:
                if app not in in_use:
                    await anyio.to_thread.run_sync(apps.delete, app)
            await asyncio.sleep(RETIRE_POLL_S)
        logger.warning("old store applications of %r still in use after %.0f s; left running", name, patience_s)

    # -- readiness and metrics ----------------------------------------------------------------------------

    async def unavailable(self, served: Sequence[ServedIndex]) -> dict[str, str]:
        """Index name -> which of its deployments has no live replica."""
        down = {}
        for entry in served:
            reason = await anyio.to_thread.run_sync(apps.unavailable, _app_of(entry))
            if reason is not None:
                down[entry.name] = reason
        return down

    async def metrics(self, local: bytes) -> bytes:
        """Every ingress replica's metrics, merged (this replica's alone if a peer does not answer)."""
        try:
            texts = await _peers().broadcast("metrics_text").results_async(timeout_s=BROADCAST_TIMEOUT_S)
        except Exception:
            logger.exception("could not gather the metrics of every ingress replica; serving this one's")
            return local
        return merge_expositions(texts)


def _app_of(served: ServedIndex) -> str:
    index = served.searcher.index
    return index.app if isinstance(index, RemoteIndex) else ""


def _peers() -> Any:
    """A handle to every replica of the ingress deployment (this one included)."""
    return serve.get_deployment_handle(INGRESS_DEPLOYMENT, app_name=INGRESS_APP)


class Ingress:
    """One ingress replica: the HTTP app, and the calls its peers make on it (Serve's broadcast)."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.cluster = RayCluster(settings)
        self.settings = settings

    def __serve_build_asgi_app__(self) -> FastAPI:
        app = create_app(self.settings, cluster=self.cluster)
        self.cluster.state = app.state.passerelle
        watch_store_calls(self.cluster.state.metrics, self.cluster.stats)
        return app

    async def sync_indexes(self, targets: dict[str, str]) -> list[str]:
        """Serve these store applications (after a peer's reload)."""
        return await self.cluster.sync_indexes(targets)

    def apps_in_use(self) -> list[str]:
        """Store applications this replica still searches."""
        return self.cluster.apps_in_use()

    def metrics_text(self) -> bytes:
        """This replica's Prometheus exposition."""
        assert self.cluster.state is not None
        return self.cluster.state.metrics.render()[0]


def ingress_application(settings: ServiceSettings) -> Any:
    """The ingress Serve application (not deployed): ``settings.ray.ingress`` replicas of the app."""
    options = settings.ray.ingress.serve_options(min_ongoing=settings.max_concurrency + 8)
    make_deployment: Any = serve.deployment  # typed by Ray as a decorator factory only
    deployment = make_deployment(serve.ingress()(Ingress), name=INGRESS_DEPLOYMENT)
    return deployment.options(**options, max_constructor_retry_count=3).bind(settings)
