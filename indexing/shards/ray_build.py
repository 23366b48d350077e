"""Sharded index builds on Ray: the same shards as :func:`~passerelle.indexing.shards.build.build_sharded`,
built by a pool of Ray workers, on this machine (``address="local"``) or on a cluster (``"auto"``).

The driver reads the corpus once with Passerelle's readers (formats, field mappings, file:line errors) and
partitions it by doc id; each shard is then one Ray task running the ordinary build pipeline on its
partition, with at most ``workers`` tasks at a time and each limited to its share of CPU threads. On a
cluster the output directory must be on storage every node sees (the shards are written in place).

Ray is imported only when a build runs; ``pip install 'passerelle[ray]'`` provides it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from passerelle.indexing.errors import ConfigError, PasserelleError
from passerelle.indexing.manifest import Manifest
from passerelle.indexing.options import BuildOptions
from passerelle.indexing.shards.build import ShardTask, build_shard, build_sharded
from passerelle.indexing.sparse import jvm

logger = logging.getLogger(__name__)

Address = Literal["local", "auto"] | str
# Environment every worker process starts with: no model hub at run time, and thread pools sized per worker.
_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class RayUnavailableError(PasserelleError):
    """Ray is not installed, or no Ray cluster answers at the given address."""


class ShardBuildError(PasserelleError):
    """A Ray worker died or lost a shard build (not a corpus problem: those raise CorpusError)."""


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailableError("the Ray engine needs Ray: pip install 'passerelle[ray]'") from exc
    return ray


@contextlib.contextmanager
def ray_session(address: Address = "local", workers: int = 2) -> Iterator[Any]:
    """A Ray session for one build: reuse the one this process already has, else start or join one.

    ``local`` starts a Ray head on this machine with ``num_cpus = workers`` (no dashboard, its temporary
    files under the system temp directory, removed afterwards); ``auto`` (or ``ray://host:port``, or a
    ``host:port``) joins a running cluster. A session this function started is shut down on exit.

    Raises:
        RayUnavailableError: Ray is not installed or the cluster cannot be reached.
    """
    ray = _ray()
    if ray.is_initialized():
        yield ray
        return
    temp_dir = None
    try:
        with jvm.signal_handlers_kept():  # Ray installs its own crash handlers: a JVM here needs its own back
            if address == "local":
                temp_dir = tempfile.mkdtemp(prefix="passerelle-ray-", dir=tempfile.gettempdir())
                ray.init(
                    num_cpus=workers,
                    include_dashboard=False,
                    _temp_dir=temp_dir,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                    object_store_memory=128 * 1024 * 1024,
                )
            else:
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except Exception as exc:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
        raise RayUnavailableError(
            f"could not start or join Ray at {address!r}: {' '.join(str(exc).split())}; "
            "use --address local, or start a cluster (ray start --head)"
        ) from exc
    try:
        yield ray
    finally:
        with jvm.signal_handlers_kept():
            ray.shutdown()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


def _build_shard_task(task: ShardTask) -> dict[str, Any]:
    """What one Ray worker runs: build one shard, return a small summary (the shard is on disk)."""
    threads = task.threads or 1
    try:  # FAISS (training, adding) uses OpenMP; the environment sized BLAS before numpy loaded
        import faiss

        faiss.omp_set_num_threads(threads)
    except ImportError:
        pass
    manifest = build_shard(task)
    return {"shard": task.index, "doc_count": manifest.doc_count, "pid": os.getpid()}


def run_on_ray(tasks: Sequence[ShardTask], *, workers: int, threads: int) -> None:
    """Run the shard builds as Ray tasks, at most ``workers`` at a time, each with ``threads`` CPU threads.

    The first failure cancels the other tasks and is re-raised as its original exception (a
    :class:`~passerelle.indexing.errors.CorpusError` keeps its file and line).
    """
    ray = _ray()
    env = {**_OFFLINE, **{name: str(threads) for name in _THREAD_VARS}}
    remote = ray.remote(_build_shard_task).options(num_cpus=1, max_retries=0, runtime_env={"env_vars": env})
    pending = list(tasks)
    running: dict[Any, ShardTask] = {}
    show = bool(tasks) and tasks[0].options.progress
    with tqdm(total=len(tasks), unit="shard", desc=f"building shards ({workers} workers)", disable=not show) as bar:
        try:
            while pending or running:
                while pending and len(running) < workers:
                    task = pending.pop(0)
                    running[remote.remote(task)] = task
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    task = running.pop(ref)
                    summary = _get(ray, ref, task.index)
                    logger.info(
                        "shard %d built: %d documents (worker pid %s)", task.index, summary["doc_count"], summary["pid"]
                    )
                    bar.update(1)
        except BaseException:
            _cancel_and_wait(ray, list(running))
            raise


def _cancel_and_wait(ray: Any, refs: list[Any], timeout_s: float = 60.0) -> None:
    """Kill the still-running shard builds and wait until they have ended.

    ``ray.cancel`` only asks; a worker still writing its shard would race the caller's removal of the
    staging directory (and could recreate files in it) if the caller went on at once.
    """
    for ref in refs:
        ray.cancel(ref, force=True)
    if refs:
        _, unfinished = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
        if unfinished:
            logger.warning("%d cancelled shard builds did not end within %.0f s", len(unfinished), timeout_s)


def _get(ray: Any, ref: Any, shard: int) -> Any:
    """``ray.get``, unwrapping a task's exception into the one the worker raised.

    Raises:
        ShardBuildError: the worker died (killed, out of memory) or Ray lost the task.
    """
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BaseException):
            raise cause from None
        raise
    except ray.exceptions.RayError as exc:
        reason = " ".join(str(exc).split())[:400]
        raise ShardBuildError(
            f"shard {shard} failed on Ray ({type(exc).__name__}: {reason}); the previous "
            "index is untouched: check the workers' memory and rerun the build"
        ) from exc


def build_index_ray(
    corpus: Path | str,
    out: Path | str,
    options: BuildOptions | None = None,
    *,
    shards: int = 2,
    address: Address = "local",
    workers: int = 2,
    threads: int | None = None,
) -> Manifest:
    """Build a sharded index of ``corpus`` at ``out`` on Ray (replacing any index there only on success).

    Args:
        shards: number of shards (documents assigned by a stable hash of their id).
        address: ``local`` (start Ray on this machine with ``workers`` CPUs) or ``auto`` (a running cluster).
        workers: shard builds running at once.
        threads: CPU threads per worker (``None``: this machine's cores divided among the workers).

    Raises:
        CorpusError: a bad record (file and line) when ``on_error`` is ``raise``; nothing is published.
        RayUnavailableError: Ray missing or unreachable.
        ConfigError: invalid worker or thread counts, or options that cannot work.
    """
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    if threads < 1:
        raise ConfigError(f"threads per worker must be at least 1, got {threads}")
    engine = {
        "name": "ray",
        "address": address if address in ("local", "auto") else "cluster",
        "workers": workers,
        "threads_per_worker": threads,
    }
    with ray_session(address, workers) as ray:
        engine["ray"] = ray.__version__

        def runner(tasks: Sequence[ShardTask]) -> None:
            run_on_ray(tasks, workers=workers, threads=threads)

        return build_sharded(corpus, out, options, shards=shards, runner=runner, engine=engine, threads=threads)
