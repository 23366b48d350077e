"""Calls from the ingress to store deployments: every call bounded by a deadline, retried on another
replica when the one it reached died, and answered as a 503 (with Retry-After) when the deployment has
no replica that can answer in time. A search never waits on a dead process.

Ray is imported on first use; handles come from :func:`ray.serve.get_deployment_handle`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from passerelle.service.errors import ServiceUnavailableError

logger = logging.getLogger(__name__)

BACKOFF_S = (0.05, 0.2, 0.5, 1.0)


@dataclass(frozen=True)
class Call:
    """One method call on one deployment."""

    deployment: str
    method: str
    args: tuple[Any, ...] = ()


@dataclass
class CallStats:
    """Counts of the calls to store deployments, by deployment name (exported at ``/metrics``)."""

    calls: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, deployment: str, seconds: float, *, retries: int = 0, failed: bool = False) -> None:
        """Count one call (its retries, whether it failed in the end, and its seconds)."""
        with self.lock:
            self.calls[deployment] += 1
            self.retries[deployment] += retries
            self.failures[deployment] += int(failed)
            self.seconds[deployment] += seconds


def _ray_errors() -> tuple[type[BaseException], tuple[type[BaseException], ...], type[BaseException]]:
    """(a replica's own exception, errors worth another replica, a deployment that failed to deploy)."""
    from ray.exceptions import RayActorError, RayTaskError
    from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError, ReplicaUnavailableError

    return RayTaskError, (RayActorError, ReplicaUnavailableError, BackPressureError), DeploymentUnavailableError


class StoreCalls:
    """Calls to the deployments of one store application (``app``), bounded and retried.

    Args:
        timeout_s: deadline of one fan-out (every call and retry in it).
        attempts: tries per call when the replica reached has died or is unavailable.
        retry_after_s: the Retry-After of the 503 when a deployment cannot answer.
        stats: where calls are counted (shared by every store application of a process).
    """

    def __init__(
        self, app: str, *, timeout_s: float, attempts: int, retry_after_s: int, stats: CallStats | None = None
    ) -> None:
        self.app = app
        self._handles: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.retry_after_s = retry_after_s
        self.stats = stats or CallStats()

    def call(self, deployment: str, method: str, *args: Any) -> Any:
        """One call (see :meth:`fan_out`)."""
        return self.fan_out([Call(deployment, method, args)])[0]

    def fan_out(self, calls: Sequence[Call]) -> list[Any]:
        """Send every call at once, then collect the answers in order.

        Raises:
            ServiceUnavailableError: a deployment had no replica answering within the deadline, or none
                left after ``attempts`` tries (HTTP 503 with Retry-After).
            PasserelleError: what a replica raised, as it raised it (e.g. a damaged index).
        """
        task_error, retryable, undeployed = _ray_errors()
        deadline = time.monotonic() + self.timeout_s
        started = time.perf_counter()
        pending = [self._send(call) for call in calls]
        results: list[Any] = []
        for number, call in enumerate(calls):
            tries = 1
            while True:
                try:
                    results.append(pending[number].result(timeout_s=max(0.0, deadline - time.monotonic())))
                    self.stats.record(call.deployment, time.perf_counter() - started, retries=tries - 1)
                    break
                except task_error as exc:  # the replica ran the method and it raised: not a transport failure
                    self._cancel(pending[number + 1 :])
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, Exception):
                        raise cause from None
                    raise
                except TimeoutError:
                    self._fail(call, tries, started, pending[number:])
                    raise self._unavailable(call, f"no answer within {self.timeout_s:g} s") from None
                except undeployed as exc:
                    self._fail(call, tries, started, pending[number + 1 :])
                    raise self._unavailable(call, "the deployment failed to deploy") from exc
                except retryable as exc:
                    pause = BACKOFF_S[min(tries - 1, len(BACKOFF_S) - 1)]
                    if tries >= self.attempts or time.monotonic() + pause >= deadline:
                        self._fail(call, tries, started, pending[number + 1 :])
                        reason = f"{tries} tries failed, the last with {type(exc).__name__}"
                        raise self._unavailable(call, reason) from exc
                    logger.warning("retrying %s.%s on another replica: %s", call.deployment, call.method, exc)
                    time.sleep(pause)  # the router learns of the dead replica meanwhile
                    tries += 1
                    pending[number] = self._send(call)
        return results

    def handle(self, deployment: str) -> Any:
        """The Serve handle of ``deployment`` in this application (made once)."""
        with self._lock:
            handle = self._handles.get(deployment)
            if handle is None:
                from ray import serve

                handle = self._handles[deployment] = serve.get_deployment_handle(deployment, app_name=self.app)
            return handle

    def _send(self, call: Call) -> Any:
        return getattr(self.handle(call.deployment), call.method).remote(*call.args)

    def _fail(self, call: Call, tries: int, started: float, to_cancel: Sequence[Any]) -> None:
        self.stats.record(call.deployment, time.perf_counter() - started, retries=tries - 1, failed=True)
        self._cancel(to_cancel)

    @staticmethod
    def _cancel(responses: Sequence[Any]) -> None:
        for response in responses:
            response.cancel()

    def _unavailable(self, call: Call, reason: str) -> ServiceUnavailableError:
        return ServiceUnavailableError(
            f"{call.deployment} of {self.app} cannot answer ({reason}); Ray is restarting its replicas: "
            f"retry in {self.retry_after_s} s",
            retry_after_s=self.retry_after_s,
        )
