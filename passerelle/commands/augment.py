"""`passerelle augment`: generate queries (xQG) or translate documents (DT) into a resumable JSONL file.

The file feeds ``passerelle index build --augment FILE``. Run it where the model is (a GPU machine, a
machine with the hub reachable, or offline with a local model directory).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="Cross-lingual augmentation: generated queries (xQG) and document translations (DT).",
                  no_args_is_help=True)

_SOURCE_HELP = "An index directory (its documents) or a corpus (.jsonl, .tsv, .parquet, BEIR folder)."


def _common() -> dict[str, Any]:
    return {
        "source": typer.Option(..., "--index-or-corpus", help=_SOURCE_HELP),
        "langs": typer.Option(..., "--langs", help="Comma-separated target languages, e.g. fr,en."),
        "out": typer.Option(..., "--out", help="JSONL to write; an existing one is resumed (finished work skipped)."),
        "device": typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
        "batch_size": typer.Option(8, "--batch-size", min=1, help="Inputs per forward pass."),
        "max_input_tokens": typer.Option(512, "--max-input-tokens", min=1, help="Inputs are truncated to this."),
        "max_new_tokens": typer.Option(64, "--max-new-tokens", min=1, help="Longest output."),
        "seed": typer.Option(0, "--seed", help="Seed (same seed and inputs: same file)."),
        "fmt": typer.Option("auto", "--format", help="Corpus format: auto | jsonl | beir | tsv | parquet"),
        "lang": typer.Option(None, "--lang", help="Language of corpus documents that name none."),
        "limit": typer.Option(None, "--limit", min=1, help="Only the first N documents (a trial run)."),
    }


def _documents(source: Path, fmt: str, lang: str | None, limit: int | None) -> tuple[Any, int | None]:
    import itertools

    from passerelle.indexing.augment.runner import iter_documents

    docs = iter_documents(source, fmt=fmt, lang=lang)
    total = None
    if (source / "manifest.json").is_file():
        from passerelle.indexing.manifest import read_manifest

        total = read_manifest(source).doc_count
    if limit is not None:
        docs = itertools.islice(docs, limit)
        total = min(total, limit) if total is not None else limit
    return docs, total


def _report(out: Path, stats: Any) -> None:
    typer.echo(f"{out}: {stats.written} units written ({stats.records} records), {stats.skipped} already done, "
               f"{stats.empty} empty outputs dropped, {stats.documents} documents read")


def _run(out: Path, work: Callable[[], Any]) -> None:
    """Offline environment, logging and clear errors around one augmentation run; then its summary."""
    from passerelle.commands.common import fail_on_error, offline_environment, setup_logging

    offline_environment()
    setup_logging()
    with fail_on_error():
        stats = work()
    _report(out, stats)


@app.command("generate")
def generate(
    model: str = typer.Option(..., "--model", help="Seq2seq doc2query model: hub id or local path, e.g. "
                              "ielabgroup/xor-tydi-docTquery-mt5-base"),
    n: int = typer.Option(5, "--n", min=1, help="Queries per document and language."),
    prompt: str = typer.Option(None, "--prompt", help="Input template with {lang} {title} {passage}; default: "
                               "'Generate a {lang} question for this passage: {title} {passage}' (xQG)."),
    top_k: int = typer.Option(10, "--top-k", min=1, help="Top-k sampling."),
    source: Path = _common()["source"], langs: str = _common()["langs"], out: Path = _common()["out"],
    device: str = _common()["device"], batch_size: int = _common()["batch_size"],
    max_input_tokens: int = _common()["max_input_tokens"], max_new_tokens: int = _common()["max_new_tokens"],
    seed: int = _common()["seed"], fmt: str = _common()["fmt"], lang: str = _common()["lang"],
    limit: int = _common()["limit"],
) -> None:
    """Generate N queries per document in each target language (xQG), for `index build --augment`."""

    def work() -> Any:
        from passerelle.indexing.augment.runner import generate_file
        from passerelle.indexing.augment.seq2seq import Seq2SeqConfig, Seq2SeqQueryGenerator

        generator = Seq2SeqQueryGenerator(Seq2SeqConfig(
            model=model, device=device, batch_size=batch_size, max_input_tokens=max_input_tokens,
            max_new_tokens=max_new_tokens, seed=seed, top_k=top_k, prompt=prompt))
        docs, total = _documents(source, fmt, lang, limit)
        return generate_file(docs, generator, langs.split(","), n, out, batch_size=batch_size, total=total)

    _run(out, work)


@app.command("translate")
def translate(
    model: str = typer.Option(..., "--model", help="Seq2seq MT model: hub id or local path, e.g. "
                              "Helsinki-NLP/opus-mt-fr-en or facebook/nllb-200-distilled-600M"),
    num_beams: int = typer.Option(1, "--num-beams", min=1, help="Beam width (1: greedy)."),
    prompt: str = typer.Option(None, "--prompt", help="Input template with {text} {source} {target}; "
                               "multi-target Marian models want '>>{target}<< {text}'."),
    source: Path = _common()["source"], langs: str = _common()["langs"], out: Path = _common()["out"],
    device: str = _common()["device"], batch_size: int = _common()["batch_size"],
    max_input_tokens: int = _common()["max_input_tokens"], max_new_tokens: int = _common()["max_new_tokens"],
    seed: int = _common()["seed"], fmt: str = _common()["fmt"], lang: str = _common()["lang"],
    limit: int = _common()["limit"],
) -> None:
    """Translate each document into every target language other than its own (DT), for `--augment`."""

    def work() -> Any:
        from passerelle.indexing.augment.runner import translate_file
        from passerelle.indexing.augment.seq2seq import Seq2SeqConfig, Seq2SeqTranslator

        translator = Seq2SeqTranslator(Seq2SeqConfig(
            model=model, device=device, batch_size=batch_size, max_input_tokens=max_input_tokens,
            max_new_tokens=max_new_tokens, seed=seed, num_beams=num_beams, prompt=prompt))
        docs, total = _documents(source, fmt, lang, limit)
        return translate_file(docs, translator, langs.split(","), out, batch_size=batch_size, total=total)

    _run(out, work)
