"""`passerelle augment`: generate queries (xQG) or translate documents (DT) into a resumable JSONL file.

The file feeds ``passerelle index build --augment FILE``. Run it where the model is (a GPU machine, a
machine with the hub reachable, or offline with a local model directory).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from passerelle.commands import options
from passerelle.indexing import defaults

app = typer.Typer(
    help="Cross-lingual augmentation: generated queries (xQG) and document translations (DT).", no_args_is_help=True
)


def _documents(source: Path, fmt: str, lang: str | None, limit: int | None) -> tuple[Any, int | None]:
    import itertools

    from passerelle.indexing.augment.runner import iter_documents
    from passerelle.indexing.choices import checked_choice
    from passerelle.indexing.readers import CorpusFormat

    docs = iter_documents(source, fmt=checked_choice(fmt, CorpusFormat, "--format"), lang=lang)
    total = None
    if (source / "manifest.json").is_file():
        from passerelle.indexing.manifest import read_manifest

        total = read_manifest(source).doc_count
    if limit is not None:
        docs = itertools.islice(docs, limit)
        total = min(total, limit) if total is not None else limit
    return docs, total


def _report(out: Path, stats: Any) -> None:
    typer.echo(
        f"{out}: {stats.written} units written ({stats.records} records), {stats.skipped} already done, "
        f"{stats.empty} empty outputs dropped, {stats.documents} documents read"
    )


def _run(out: Path, work: Callable[[], Any]) -> None:
    """Offline environment, logging and clear errors around one augmentation run; then its summary."""
    from passerelle.commands.common import command_run

    with command_run():
        stats = work()
    _report(out, stats)


@app.command("generate")
def generate(
    model: Annotated[
        str,
        typer.Option(
            "--model", help="Seq2seq doc2query model: hub id or local path, e.g. ielabgroup/xor-tydi-docTquery-mt5-base"
        ),
    ],
    source: options.AugmentSource,
    langs: options.TargetLangs,
    out: options.AugmentOut,
    n: Annotated[int, typer.Option("--n", min=1, help="Queries per document and language.")] = defaults.XQG_QUERIES,
    prompt: Annotated[
        str | None,
        typer.Option(
            "--prompt",
            help="Input template with {lang} {title} {passage}; default: "
            "'Generate a {lang} question for this passage: {title} {passage}' (xQG).",
        ),
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Top-k sampling.")] = defaults.XQG_TOP_K,
    device: options.Device = "auto",
    batch_size: options.ModelBatch = defaults.MODEL_BATCH,
    max_input_tokens: options.MaxInputTokens = defaults.MAX_INPUT_TOKENS,
    max_new_tokens: options.MaxNewTokens = defaults.MAX_NEW_TOKENS,
    seed: options.Seed = 0,
    fmt: options.Format = "auto",
    lang: options.DocLang = None,
    limit: options.Limit = None,
) -> None:
    """Generate N queries per document in each target language (xQG), for `index build --augment`."""

    def work() -> Any:
        from passerelle.indexing.augment.runner import generate_file
        from passerelle.indexing.augment.seq2seq import Seq2SeqConfig, Seq2SeqQueryGenerator

        generator = Seq2SeqQueryGenerator(
            Seq2SeqConfig(
                model=model,
                device=device,
                batch_size=batch_size,
                max_input_tokens=max_input_tokens,
                max_new_tokens=max_new_tokens,
                seed=seed,
                top_k=top_k,
                prompt=prompt,
            )
        )
        docs, total = _documents(source, fmt, lang, limit)
        return generate_file(docs, generator, langs.split(","), n, out, batch_size=batch_size, total=total)

    _run(out, work)


@app.command("translate")
def translate(
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="Seq2seq MT model: hub id or local path, e.g. "
            "Helsinki-NLP/opus-mt-fr-en or facebook/nllb-200-distilled-600M",
        ),
    ],
    source: options.AugmentSource,
    langs: options.TargetLangs,
    out: options.AugmentOut,
    num_beams: Annotated[int, typer.Option("--num-beams", min=1, help="Beam width (1: greedy).")] = 1,
    prompt: Annotated[
        str | None,
        typer.Option(
            "--prompt",
            help="Input template with {text} {source} {target}; multi-target Marian models want '>>{target}<< {text}'.",
        ),
    ] = None,
    device: options.Device = "auto",
    batch_size: options.ModelBatch = defaults.MODEL_BATCH,
    max_input_tokens: options.MaxInputTokens = defaults.MAX_INPUT_TOKENS,
    max_new_tokens: options.MaxNewTokens = defaults.MAX_NEW_TOKENS,
    seed: options.Seed = 0,
    fmt: options.Format = "auto",
    lang: options.DocLang = None,
    limit: options.Limit = None,
) -> None:
    """Translate each document into every target language other than its own (DT), for `--augment`."""

    def work() -> Any:
        from passerelle.indexing.augment.runner import translate_file
        from passerelle.indexing.augment.seq2seq import Seq2SeqConfig, Seq2SeqTranslator

        translator = Seq2SeqTranslator(
            Seq2SeqConfig(
                model=model,
                device=device,
                batch_size=batch_size,
                max_input_tokens=max_input_tokens,
                max_new_tokens=max_new_tokens,
                seed=seed,
                num_beams=num_beams,
                prompt=prompt,
            )
        )
        docs, total = _documents(source, fmt, lang, limit)
        return translate_file(docs, translator, langs.split(","), out, batch_size=batch_size, total=total)

    _run(out, work)
