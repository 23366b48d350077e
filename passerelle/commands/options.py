"""Options that several commands share, as typed ``Annotated`` aliases: one definition (flag, help) each.

A command writes ``corpus: options.Corpus`` (required) or ``fmt: options.Format = "auto"`` (the default
stays in the signature, from :mod:`passerelle.indexing.defaults` where the library has one). Importing
this module imports only typer and the defaults, so ``--help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from passerelle.indexing import defaults

CORPUS_HELP = "Corpus: a .jsonl, .tsv (with header) or .parquet file, or a BEIR folder (corpus.jsonl)."

# --- corpus reading and field mapping (index build/add, augment) ----------------------------------------
Corpus = Annotated[Path, typer.Option("--corpus", help=CORPUS_HELP)]
Format = Annotated[str, typer.Option("--format", help="Corpus format: auto | jsonl | beir | tsv | parquet")]
IdField = Annotated[str | None, typer.Option("--id-field", help="Id field (default: id, _id, docid or doc_id).")]
TitleFields = Annotated[str, typer.Option("--title-fields", help="Comma-separated fields joined as title.")]
TextFields = Annotated[str, typer.Option("--text-fields", help="Comma-separated fields joined as text.")]
LangField = Annotated[str, typer.Option("--lang-field", help="Field holding the document language.")]
Views = Annotated[list[str] | None, typer.Option("--view", help="Translation view, LANG=field[,field] (repeatable).")]
MetadataFields = Annotated[
    str | None,
    typer.Option(
        "--metadata-fields", help="Comma-separated fields kept as they are, for display only (not filterable)."
    ),
]
MetaFields = Annotated[
    str | None,
    typer.Option(
        "--meta-fields",
        help=(
            "Typed, filterable metadata fields, NAME:TYPE comma-separated, TYPE one of int, float, keyword, "
            "date (YYYY-MM-DD), bool, with [] for several values, e.g. year:int,journal:keyword,authors:keyword[]. "
            "A bad value stops the build naming file, line and field (--on-error skip counts it)."
        ),
    ),
]
DocLang = Annotated[str | None, typer.Option("--lang", help="Language of documents that name none.")]
NoDetect = Annotated[bool, typer.Option("--no-detect", help="Do not detect missing languages.")]
OnError = Annotated[
    str | None,
    typer.Option(
        "--on-error", help=f"raise (stop at the first bad record) | skip (count it). Default: {defaults.ON_ERROR}."
    ),
]
BatchSize = Annotated[
    int | None,
    typer.Option("--batch-size", min=1, help=f"Documents per pipeline batch (default: {defaults.BATCH_SIZE})."),
]
Encoder = Annotated[
    str | None, typer.Option("--encoder", help=f"{defaults.ENCODER_NAMES_HELP} (default: {defaults.DEFAULT_ENCODER}).")
]

# --- augmentation applied to a build (index build/add) -------------------------------------------------
Augment = Annotated[
    list[Path] | None,
    typer.Option(
        "--augment",
        help=(
            "Augmentation JSONL (doc_id, kind=query|translation, lang, text), e.g. from `passerelle augment`; "
            "repeatable. Translations become views; generated queries expand views and are mixed into vectors."
        ),
    ),
]
AugmentAlpha = Annotated[
    float,
    typer.Option(
        "--augment-alpha", min=0.0, max=1.0, help="xQG mix: e = (1-alpha)*e_p + alpha*agg(e_q) (paper: 0.01)."
    ),
]
AugmentAgg = Annotated[str, typer.Option("--augment-agg", help="sum (paper) | mean of the query vectors.")]
AugmentNormalize = Annotated[
    bool, typer.Option("--augment-normalize", help="L2-renormalize mixed vectors (default: keep the paper's mix).")
]

# --- augmentation runs (augment generate/translate) -----------------------------------------------------
AugmentSource = Annotated[
    Path,
    typer.Option(
        "--index-or-corpus",
        help="An index directory (its documents) or a corpus (.jsonl, .tsv, .parquet, BEIR folder).",
    ),
]
TargetLangs = Annotated[str, typer.Option("--langs", help="Comma-separated target languages, e.g. fr,en.")]
AugmentOut = Annotated[
    Path, typer.Option("--out", help="JSONL to write; an existing one is resumed (finished work skipped).")
]
Device = Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N")]
ModelBatch = Annotated[int, typer.Option("--batch-size", min=1, help="Inputs per forward pass.")]
MaxInputTokens = Annotated[int, typer.Option("--max-input-tokens", min=1, help="Inputs are truncated to this.")]
MaxNewTokens = Annotated[int, typer.Option("--max-new-tokens", min=1, help="Longest output.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed (same seed and inputs: same file).")]
Limit = Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N documents (a trial run).")]

# --- existing indexes and reports ---------------------------------------------------------------------
IndexDir = Annotated[Path, typer.Option("--index", help="Existing index directory.")]
JsonOut = Annotated[Path | None, typer.Option("--out", help="Also write the JSON report here.")]
Workdir = Annotated[Path | None, typer.Option("--workdir", help="Scratch folder (default: a temporary folder).")]
Metrics = Annotated[str, typer.Option("--metrics", help="Comma-separated metric names, e.g. ndcg@10,recall@100.")]
Resamples = Annotated[int, typer.Option("--resamples", min=1, help="Randomization test resamples.")]

# --- benchmarks -----------------------------------------------------------------------------------------
Concurrency = Annotated[str, typer.Option("--concurrency", help="Comma-separated worker counts.")]
Rounds = Annotated[int, typer.Option("--rounds", min=1, help="Passes per system, interleaved; rows show the median.")]
MaxLoad = Annotated[
    float, typer.Option("--max-load", help="Wait until the 1-min load average is below this (0: do not wait).")
]
WaitSeconds = Annotated[float, typer.Option("--wait-s", help="Longest wait for --max-load, in seconds.")]
Plot = Annotated[Path, typer.Option("--plot", help="Latency-vs-size plot (PNG).")]
MarkdownOut = Annotated[Path, typer.Option("--out", help="Markdown report.")]
MarkdownTables = Annotated[Path | None, typer.Option("--markdown", help="Also write the tables as Markdown here.")]
BenchCollection = Annotated[
    Path, typer.Option("--collection", help="Collection folder (corpus.jsonl, queries.dev.tsv).")
]
BenchDocs = Annotated[int, typer.Option("--docs", help="Documents taken from the start of the corpus.")]
