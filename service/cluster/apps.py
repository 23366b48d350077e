"""Store applications on Ray Serve: one application per index *version*, holding a deployment per shard
(or group of shards), the BM25 deployment and a small directory deployment (the application's entry).

A new version is a new application beside the old one (blue/green): the old keeps answering the
requests that started on it until it is deleted, so a reload never fails a request and a request never
mixes two versions. Ray is imported inside the functions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from passerelle.indexing.errors import PasserelleError
from passerelle.indexing.loaded import Verify
from passerelle.indexing.manifest import read_manifest
from passerelle.service.cluster.layout import (
    DIRECTORY_DEPLOYMENT,
    SPARSE_DEPLOYMENT,
    VERSION_CHARS,
    StoreLayout,
    index_version,
)
from passerelle.service.cluster.replicas import ShardReplica, SparseReplica, StoreDirectory

logger = logging.getLogger(__name__)

APP_PREFIX = "passerelle-store-"
RUNNING = "RUNNING"
FAILED = ("DEPLOY_FAILED", "UNHEALTHY")


class StoreDeployError(PasserelleError):
    """A store application did not come up (a replica could not open its shard, or it took too long)."""


@dataclass(frozen=True)
class StorePlan:
    """What to deploy for one index: its root and version, the layout, and each deployment kind's Serve
    options (``num_replicas`` or ``autoscaling_config``, ``ray_actor_options``, ``max_ongoing_requests``...)."""

    root: Path
    name: str
    version: str
    layout: StoreLayout
    shard_options: Mapping[str, Any] = field(default_factory=dict)
    sparse_options: Mapping[str, Any] = field(default_factory=dict)
    verify: Verify = "size"
    has_sparse: bool = True  # the index has BM25 views (a BM25 deployment)

    @property
    def app(self) -> str:
        """The application's name: index name and version."""
        return app_name(self.name, self.version)


def app_name(index: str, version: str) -> str:
    """``passerelle-store-<index>-<version>``."""
    return f"{APP_PREFIX}{index}-{version}"


def plan_for(
    root: Path,
    name: str,
    *,
    group: int = 1,
    shard_options: Mapping[str, Any] | None = None,
    sparse_options: Mapping[str, Any] | None = None,
    verify: Verify = "size",
) -> StorePlan:
    """The plan for the version of the index now published at ``root``."""
    root = Path(root).resolve()
    return StorePlan(
        root=root,
        name=name,
        version=index_version(root),
        layout=StoreLayout.read(root, group),
        shard_options=dict(shard_options or {}),
        sparse_options=dict(sparse_options or {}),
        verify=verify,
        has_sparse=bool(read_manifest(root).analyzers),
    )


def build_application(plan: StorePlan) -> Any:
    """The Serve application of ``plan`` (not deployed)."""
    from ray import serve

    deployment: Any = serve.deployment  # typed by Ray as a decorator factory only
    root = str(plan.root)
    stores = [
        deployment(ShardReplica, name=plan.layout.deployment_name(n))
        .options(**plan.shard_options)
        .bind(root, plan.layout.shards_of(n), plan.version, plan.verify)
        for n in range(plan.layout.deployment_count)
    ]
    if plan.has_sparse:
        sparse = deployment(SparseReplica, name=SPARSE_DEPLOYMENT).options(**plan.sparse_options)
        stores.append(sparse.bind(root, plan.version, plan.verify))
    directory = deployment(StoreDirectory, name=DIRECTORY_DEPLOYMENT).options(
        num_replicas=1, ray_actor_options={"num_cpus": 0}, max_constructor_retry_count=3
    )
    return directory.bind(root, plan.version, plan.layout.group, *stores)


def app_statuses() -> dict[str, Any]:
    """Serve's status of every application, by name."""
    from ray import serve

    return dict(serve.status().applications)


def deploy(plan: StorePlan, timeout_s: float) -> None:
    """Deploy ``plan``'s application unless it runs already, and wait until every deployment has its
    replicas running.

    Raises:
        StoreDeployError: it failed to deploy or did not run within ``timeout_s`` (it is deleted again,
            unless it was running before this call).
    """
    from ray import serve
    from ray.serve.api import RunTarget

    status = app_statuses().get(plan.app)
    if status is not None and _state(status.status) in (RUNNING, "DEPLOYING"):
        wait_running(plan.app, timeout_s)
        return
    logger.info("deploying %s (%d shard deployments)", plan.app, plan.layout.deployment_count)
    serve.run_many(
        [RunTarget(target=build_application(plan), name=plan.app, route_prefix=None)],
        wait_for_ingress_deployment_creation=False,
        wait_for_applications_running=False,
    )
    try:
        wait_running(plan.app, timeout_s)
    except BaseException:
        delete(plan.app)
        raise


def wait_running(app: str, timeout_s: float, poll_s: float = 0.25) -> None:
    """Wait until application ``app`` is RUNNING.

    Raises:
        StoreDeployError: it failed, vanished, or was not running within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        status = app_statuses().get(app)
        state = _state(status.status) if status is not None else "absent"
        if state == RUNNING:
            return
        if state in FAILED or state == "absent":
            detail = status.message if status is not None else "it is not deployed"
            raise StoreDeployError(f"{app} failed to deploy ({state}): {' '.join(detail.split())[:600]}")
        if time.monotonic() > deadline:
            raise StoreDeployError(f"{app} was not running within {timeout_s:g} s (still {state})")
        time.sleep(poll_s)


def _state(value: Any) -> str:
    """The name of a Serve status (an enum or, in some answers, already its string)."""
    return str(getattr(value, "value", value))


def unavailable(app: str) -> str | None:
    """Why application ``app`` cannot answer every query now (a deployment without a running replica), or
    ``None`` when it can."""
    status = app_statuses().get(app)
    if status is None:
        return f"store application {app} is not deployed"
    down = sorted(
        name
        for name, deployment in status.deployments.items()
        if not any(_state(state) == RUNNING and count > 0 for state, count in deployment.replica_states.items())
    )
    if down:
        return f"no live replica for {', '.join(down)} (Ray is starting them)"
    return None


def store_apps(index: str) -> list[str]:
    """Names of the store applications deployed for index ``index`` (every version)."""
    prefix = app_name(index, "")
    return sorted(name for name in app_statuses() if _is_version(name.removeprefix(prefix)) and name.startswith(prefix))


def older_than(index: str, keep: str) -> list[str]:
    """The store applications of index ``index`` deployed before ``keep`` (never one deployed after it,
    e.g. by a newer reload under way)."""
    statuses = app_statuses()
    if keep not in statuses:
        return []
    since = statuses[keep].last_deployed_time_s
    return [app for app in store_apps(index) if app != keep and statuses[app].last_deployed_time_s < since]


def _is_version(text: str) -> bool:
    return len(text) == VERSION_CHARS and all(c in "0123456789abcdef" for c in text)


def delete(app: str) -> None:
    """Delete application ``app`` (Serve drains its replicas: requests already in them finish)."""
    from ray import serve

    logger.info("deleting %s", app)
    serve.delete(app, _blocking=False)
