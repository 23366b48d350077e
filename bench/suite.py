"""``passerelle bench all``: every benchmark in one run, results saved per stage, then the report.

Stages (each saves ``<workdir>/results/<stage>.json`` as soon as it ends, so a later failure loses
nothing and ``passerelle bench report`` can render what exists):

- ``search``: :func:`~passerelle.bench.search.benchmark_search` on each real collection;
- ``profile``: where one hybrid query's time goes (cProfile) on the first collection, with the shipped
  threads per query but no micro-batching (batching would move the work to threads cProfile does not see);
- ``indexing``: the build vs the raw encoder, and BM25 build time vs Pyserini's indexer and bm25s;
- ``scale``: synthetic corpora (:mod:`~passerelle.bench.scale`); the one of ``scale_search_size``
  documents is kept;
- ``scale-search``: the search comparison again, on that kept synthetic corpus, and Passerelle's hybrid
  search on it with metadata filters allowing 10% and 1% of the documents
  (:mod:`~passerelle.bench.filtered`);
- ``capacity`` (only when asked for in ``--stages``): the highest request rate one ``passerelle serve``
  process sustains over the first collection's index (:mod:`~passerelle.bench.capacity`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from passerelle.bench.scale import ScaleOptions
from passerelle.bench.search import SearchBenchOptions
from passerelle.bench.timing import BenchmarkError
from passerelle.indexing.atomic_files import write_text_atomic

logger = logging.getLogger(__name__)

STAGES = ("search", "profile", "indexing", "scale", "scale-search", "capacity")


@dataclass(frozen=True)
class BenchPlan:
    """What ``bench all`` runs. Collections are folder names under ``data_dir`` (queries + qrels)."""

    data_dir: Path
    workdir: Path
    collections: tuple[str, ...] = ("biomed-en-fr", "xquad-en-de")
    encoders: tuple[str, ...] = ("usem3",)
    stages: tuple[str, ...] = STAGES[:-1]  # capacity only when asked for
    search: SearchBenchOptions = field(default_factory=SearchBenchOptions)
    scale: ScaleOptions = field(default_factory=ScaleOptions)
    scale_search_size: int | None = 100_000
    scale_search_queries: int = 200
    profile_queries: int = 200
    encoder_docs: int = 1000
    reuse: bool = False

    @property
    def encoder(self) -> str:
        """The encoder of every stage but search (which runs with each of ``encoders``)."""
        return self.encoders[0]


def ensure_index(collection: Path, workdir: Path, encoder: str) -> Path:
    """The benchmark index of ``collection`` (flat FAISS, so vectors can be read back), built once."""
    from passerelle.indexing.build import build_index
    from passerelle.indexing.dense import FaissSpec
    from passerelle.indexing.options import BuildOptions

    out = Path(workdir) / "indexes" / f"{collection.name}-{encoder}"
    if not (out / "manifest.json").is_file():
        logger.info("building %s", out)
        build_index(
            collection / "corpus.jsonl",
            out,
            BuildOptions(encoder=encoder, faiss=FaissSpec(kind="flat"), progress=False),
        )
    return out


def run_all(plan: BenchPlan, command: str) -> dict[str, Any]:
    """Run the plan's stages; returns every result (also saved per stage under ``workdir/results``).

    Raises:
        BenchmarkError: unknown stage, missing collection, or a benchmark that failed.
    """
    from passerelle.bench.env import load_average, machine_info

    unknown = [s for s in plan.stages if s not in STAGES]
    if unknown:
        raise BenchmarkError(f"unknown stages {unknown}; choose from {', '.join(STAGES)}")
    results_dir = Path(plan.workdir) / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "command": command,
        "started_at": _now(),
        "machine": machine_info(),
        "stages": _previous_stages(results_dir),
    }
    _save(results_dir, "meta", meta)
    for stage in plan.stages:
        if plan.reuse and (results_dir / f"{stage}.json").is_file():
            logger.info("stage %s: reusing %s", stage, results_dir / f"{stage}.json")
            continue
        logger.info("stage %s", stage)
        started, started_at, load = time.monotonic(), _now(), load_average()
        data = _STAGE_RUNNERS[stage](plan)
        if stage == "search" and (results_dir / "search.json").is_file():  # keep collections not run again
            data = {**json.loads((results_dir / "search.json").read_text(encoding="utf-8")), **data}
        _save(results_dir, stage, data)
        meta["stages"][stage] = {
            "seconds": round(time.monotonic() - started, 1),
            "load_start": load,
            "load_end": load_average(),
            "started_at": started_at,
            "command": command,
        }
        _save(results_dir, "meta", meta)
    _save(results_dir, "meta", {**meta, "finished_at": _now(), "load_end": load_average()})
    return load_results(results_dir)


def load_results(results_dir: Path) -> dict[str, Any]:
    """The saved stages merged into one results dict (what the report renders).

    Raises:
        BenchmarkError: no saved result in ``results_dir``.
    """
    results_dir = Path(results_dir)
    if not (results_dir / "meta.json").is_file():
        raise BenchmarkError(f"no benchmark results in {results_dir}; run `passerelle bench all` first")
    results: dict[str, Any] = json.loads((results_dir / "meta.json").read_text(encoding="utf-8"))
    results["search"] = {}
    for stage in STAGES:
        path = results_dir / f"{stage}.json"
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        if stage in ("search", "scale-search"):  # name -> report
            results["search"].update(data)
            continue
        if stage == "scale":  # results of older runs held their synthetic search here
            results["search"].update(data.pop("search", {}))
        results[stage] = data
    # real collections first, then the synthetic ones
    results["search"] = dict(sorted(results["search"].items(), key=lambda item: item[0].startswith("synthetic")))
    return results


def write_report(results: dict[str, Any], markdown: Path, plot: Path) -> None:
    """Write the Markdown report and, when there is a scale study, the latency plot beside it."""
    from passerelle.bench.plot import plot_latency
    from passerelle.bench.report import render_markdown

    plot_name = None
    if results.get("scale", {}).get("sizes"):
        plot_latency(results["scale"], plot)
        plot_name = plot.name if plot.parent == markdown.parent else str(plot)
    markdown.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(markdown, render_markdown(results, plot_name=plot_name))


def _collection(plan: BenchPlan, name: str) -> Any:
    from passerelle.eval.collections import load_collection

    directory = Path(plan.data_dir) / name
    if not directory.is_dir():
        raise BenchmarkError(f"collection {name!r} not found in {plan.data_dir}")
    return load_collection(directory)


def _search(plan: BenchPlan) -> dict[str, Any]:
    from passerelle.bench.search import benchmark_search

    out = {}
    for encoder in plan.encoders:
        for name in plan.collections:
            collection = _collection(plan, name)
            index = ensure_index(Path(plan.data_dir) / name, plan.workdir, encoder)
            key = name if len(plan.encoders) == 1 else f"{name} · {encoder}"
            out[key] = benchmark_search(
                index,
                collection.queries,
                Path(plan.workdir) / f"search-{name}-{encoder}",
                qrels=collection.qrels,
                options=plan.search,
            )
    return out


def _profile(plan: BenchPlan) -> dict[str, Any]:
    import numpy as np

    from passerelle.bench.profile import profile_queries
    from passerelle.bench.systems import open_passerelle, passerelle_params, serving_settings, settings_facts

    name = plan.collections[0]
    queries = list(_collection(plan, name).queries.values())[: plan.profile_queries]
    searcher = open_passerelle(ensure_index(Path(plan.data_dir) / name, plan.workdir, plan.encoder), "unbatched")
    params = passerelle_params("hybrid", k=plan.search.k, depth=plan.search.depth)
    try:
        stages: dict[str, list[float]] = {}
        for query in queries:
            for stage, ms in searcher.search(query, params).timings_ms.items():
                stages.setdefault(stage, []).append(ms)
        report = profile_queries(lambda q: searcher.search(q, params), queries)
    finally:
        searcher.close()
    return {
        "index": name,
        "settings": settings_facts(serving_settings("unbatched")),
        **report,
        "stages_p50_ms": {s: round(float(np.median(v)), 3) for s, v in stages.items()},
    }


def _indexing(plan: BenchPlan) -> dict[str, Any]:
    from passerelle.bench.bm25_build import benchmark_bm25_build
    from passerelle.bench.index_build import benchmark_index

    name = plan.collections[0]
    corpus = Path(plan.data_dir) / name / "corpus.jsonl"
    lang = _collection_lang(Path(plan.data_dir) / name)
    return {
        "encoder": benchmark_index(corpus, encoder=plan.encoder, limit=plan.encoder_docs),
        "bm25": benchmark_bm25_build(corpus, plan.workdir, lang=lang),
    }


def _scale(plan: BenchPlan) -> dict[str, Any]:
    from passerelle.bench.scale import benchmark_scale
    from passerelle.bench.synthetic import base_from_index
    from passerelle.indexing.load import shared_encoder

    name = plan.collections[0]
    collection = _collection(plan, name)
    index = ensure_index(Path(plan.data_dir) / name, plan.workdir, plan.encoder)
    encoder = shared_encoder(plan.encoder, "", "")
    keep = (plan.scale_search_size,) if plan.scale_search_size in plan.scale.sizes else ()
    return benchmark_scale(
        base_from_index(index),
        encoder,
        list(collection.queries.values()),
        plan.workdir,
        replace(plan.scale, keep_sizes=keep),
    )


def _scale_search(plan: BenchPlan) -> dict[str, Any]:
    """The search comparison on each synthetic index the scale stage kept (``index_dir`` in scale.json), with
    the filtered hybrid rows."""
    from passerelle.bench.filtered import benchmark_filtered
    from passerelle.bench.search import benchmark_search

    path = Path(plan.workdir) / "results" / "scale.json"
    if not path.is_file():
        raise BenchmarkError("run the scale stage first: scale-search uses the synthetic index it keeps")
    collection = _collection(plan, plan.collections[0])
    out = {}
    for entry in json.loads(path.read_text(encoding="utf-8"))["sizes"]:
        index_dir = Path(entry.get("index_dir", ""))
        if entry.get("index_dir") and (index_dir / "manifest.json").is_file():
            size = entry["documents"]
            search = replace(plan.search, max_queries=plan.scale_search_queries)
            report = benchmark_search(
                index_dir, collection.queries, Path(plan.workdir) / f"search-synthetic-{size}", options=search
            )
            queries = list(collection.queries.values())[: plan.scale_search_queries]
            report["filtered"] = benchmark_filtered(index_dir, queries, k=search.k, depth=search.depth)
            out[f"synthetic-{size // 1000}k"] = report
    if not out:
        raise BenchmarkError(
            f"no kept synthetic index in {path}; run the scale stage with a size in --sizes "
            f"equal to {plan.scale_search_size}"
        )
    return out


def _collection_lang(directory: Path) -> str:
    with open(directory / "corpus.jsonl", encoding="utf-8") as corpus:
        lang = json.loads(corpus.readline()).get("lang")
    if not lang:
        raise BenchmarkError(f"{directory}/corpus.jsonl names no document language (field 'lang')")
    return str(lang)


def _previous_stages(results_dir: Path) -> dict[str, Any]:
    """Timing and load of the stages an earlier run saved here (kept when only some stages run again)."""
    path = results_dir / "meta.json"
    if not path.is_file():
        return {}
    previous = json.loads(path.read_text(encoding="utf-8"))
    run = {"command": previous.get("command"), "started_at": previous.get("started_at")}  # older files lack them
    return {
        name: {**run, **stage}
        for name, stage in previous.get("stages", {}).items()
        if (results_dir / f"{name}.json").is_file()
    }


def _save(results_dir: Path, stage: str, data: dict[str, Any]) -> None:
    write_text_atomic(results_dir / f"{stage}.json", json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")


def _capacity(plan: BenchPlan) -> dict[str, Any]:
    """The capacity of one server over the first collection's benchmark index."""
    from passerelle.bench.capacity import CapacityOptions, benchmark_capacity

    name = plan.collections[0]
    index = ensure_index(Path(plan.data_dir) / name, plan.workdir, plan.encoder)
    return benchmark_capacity([index], _collection(plan, name).queries, plan.workdir, CapacityOptions())


_STAGE_RUNNERS = {
    "search": _search,
    "profile": _profile,
    "indexing": _indexing,
    "scale": _scale,
    "scale-search": _scale_search,
    "capacity": _capacity,
}
