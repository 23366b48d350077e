"""``passerelle serve --engine ray``: deploy the service on Ray Serve and answer until interrupted.

The driver starts a local Ray (``--address local``: a head and its workers on this machine) or joins a
cluster (``auto``, ``host:port``), starts Serve's HTTP proxy on ``host:port`` (on every node), deploys one
store application per index (waiting until every shard has its replicas), then the ingress
application, and waits for SIGINT or SIGTERM; it then deletes what it deployed.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from passerelle.indexing.shards.ray_build import Address, ray_session
from passerelle.service.api.settings import ServiceSettings, index_name

logger = logging.getLogger(__name__)


def cpus_needed(settings: ServiceSettings) -> int:
    """CPUs Ray must offer for every replica at its largest count (a local Ray is started with at least
    this many, so that every replica can start on one machine)."""
    from passerelle.service.cluster.layout import StoreLayout

    ray = settings.ray
    total = ray.ingress.cpus * (ray.ingress.max_replicas or ray.ingress.replicas)
    for path in settings.indexes:
        deployments = StoreLayout.read(path, ray.shards_per_deployment).deployment_count
        total += deployments * ray.shards.cpus * (ray.shards.max_replicas or ray.shards.replicas)
        total += ray.sparse.cpus * (ray.sparse.max_replicas or ray.sparse.replicas)
    return max(1, math.ceil(total))


def deploy_service(settings: ServiceSettings) -> list[str]:
    """Deploy every index's store application, then the ingress, on the Ray this process is connected to;
    Serve's HTTP proxy listens on ``settings.host:settings.port``. Returns the applications deployed.

    Raises:
        StoreDeployError: an application did not come up within ``settings.ray.deploy_timeout_s``.
    """
    from ray import serve
    from ray.serve.api import RunTarget

    from passerelle.service.api.ray_ingress import INGRESS_APP, ingress_application, store_plan
    from passerelle.service.cluster import apps

    serve.start(http_options={"host": settings.host, "port": settings.port}, proxy_location=settings.ray.proxy_location)
    deployed = []
    try:
        for path in settings.indexes:
            plan = store_plan(settings, path)
            apps.deploy(plan, settings.ray.deploy_timeout_s)
            deployed.append(plan.app)
        serve.run_many(
            [RunTarget(target=ingress_application(settings), name=INGRESS_APP, route_prefix="/")],
            wait_for_ingress_deployment_creation=False,
            wait_for_applications_running=False,
        )
        deployed.append(INGRESS_APP)
        apps.wait_running(INGRESS_APP, settings.ray.deploy_timeout_s)
    except BaseException:
        undeploy(settings, deployed)
        raise
    return deployed


def undeploy(settings: ServiceSettings, deployed: list[str]) -> None:
    """Delete the ingress and every store application of the configured indexes (each version)."""
    from ray import serve

    from passerelle.service.cluster import apps

    names = {app for app in deployed}
    for path in settings.indexes:
        names.update(apps.store_apps(index_name(path)))
    for app in sorted(names, key=lambda name: name.startswith(apps.APP_PREFIX)):  # the ingress first
        try:
            serve.delete(app)
        except Exception:  # leave the others a chance to go
            logger.exception("could not delete the Serve application %s", app)


@contextmanager
def serving(settings: ServiceSettings, address: Address = "local") -> Iterator[Any]:
    """Ray (started here or joined), the service deployed on it; deleted (and a local Ray shut down) after."""
    with ray_session(address, workers=max(os.cpu_count() or 1, cpus_needed(settings))) as ray:
        deployed = deploy_service(settings)
        try:
            yield ray
        finally:
            undeploy(settings, deployed)


def serve_on_ray(settings: ServiceSettings, address: Address = "local") -> None:
    """Serve ``settings.indexes`` on Ray Serve until SIGINT or SIGTERM."""
    with serving(settings, address):
        stop = threading.Event()  # handlers set after Ray's own (ray.init installs a SIGTERM handler)
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            names = ", ".join(settings.index_names())
            logger.info("serving %s on Ray Serve at http://%s:%d", names, settings.host, settings.port)
            while not stop.wait(1.0):
                pass
            logger.info("stopping: deleting the Serve applications")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
