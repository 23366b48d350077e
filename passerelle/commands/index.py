"""`passerelle index`: build, inspect, add to and delete from index directories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from passerelle.commands import options
from passerelle.indexing import defaults

app = typer.Typer(
    help="Build and maintain index directories (FAISS + per-language Lucene + SQLite docstore).", no_args_is_help=True
)


def _options(**values: Any) -> Any:
    """BuildOptions from CLI values, falling back to the configured defaults."""
    from passerelle.indexing.augment.mixing import Aggregation
    from passerelle.indexing.choices import checked_choice
    from passerelle.indexing.dense import FaissKind, FaissSpec
    from passerelle.indexing.metadata import parse_meta_fields
    from passerelle.indexing.options import BuildOptions, OnError
    from passerelle.indexing.readers import CorpusFormat, FieldMapping
    from passerelle.indexing.sparse.analyzers import Fallback
    from passerelle.settings import load_settings

    configured = load_settings().index
    mapping = FieldMapping(
        id=values["id_field"],
        title=tuple(f for f in values["title_fields"].split(",") if f),
        text=tuple(f for f in values["text_fields"].split(",") if f),
        lang=values["lang_field"] or None,
        views=FieldMapping.parse_views(values["view"] or []),
        metadata=tuple(f for f in (values["metadata_fields"] or "").split(",") if f),
        meta_fields=parse_meta_fields(values["meta_fields"]),
    )
    faiss = FaissSpec(
        kind=checked_choice(values.get("faiss") or configured.faiss, FaissKind, "--faiss"),
        hnsw_m=values.get("hnsw_m", defaults.HNSW_M),
        ef_search=values.get("ef_search", defaults.HNSW_EF_SEARCH),
        nlist=values.get("nlist", 0),
        pq_m=values.get("pq_m", 0),
        nprobe=values.get("nprobe", defaults.IVF_NPROBE),
    )
    langs = values.get("langs")
    return BuildOptions(
        encoder=values.get("encoder") or configured.encoder,
        query_prefix=values.get("query_prefix"),
        passage_prefix=values.get("passage_prefix"),
        faiss=faiss,
        fmt=checked_choice(values["fmt"], CorpusFormat, "--format"),
        mapping=mapping,
        lang=values["lang"],
        detect=not values["no_detect"],
        sparse_langs=frozenset(langs.split(",")) if langs else None,
        sparse_fallback=checked_choice(
            values.get("sparse_fallback") or configured.sparse_fallback, Fallback, "--sparse-fallback"
        ),
        on_error=checked_choice(values["on_error"] or configured.on_error, OnError, "--on-error"),
        strict_languages=values.get("strict", False),
        batch_size=values["batch_size"] or configured.batch_size,
        dense=not values.get("no_dense", False),
        latent=not values.get("no_latent", False),
        sparse=not values.get("no_sparse", False),
        augment_files=tuple(values.get("augment") or ()),
        augment_alpha=values["augment_alpha"],
        augment_agg=checked_choice(values["augment_agg"], Aggregation, "--augment-agg"),
        augment_normalize=values["augment_normalize"],
    )


@app.command("build")
def build(
    corpus: options.Corpus,
    out: Annotated[Path, typer.Option("--out", help="Index directory to create (replaced atomically if present).")],
    encoder: options.Encoder = None,
    query_prefix: Annotated[
        str | None, typer.Option("--query-prefix", help="Query prefix (sentence-transformers models).")
    ] = None,
    passage_prefix: Annotated[
        str | None, typer.Option("--passage-prefix", help="Passage prefix (sentence-transformers models).")
    ] = None,
    faiss: Annotated[str | None, typer.Option("--faiss", help="auto | flat | hnsw | ivf-pq")] = None,
    hnsw_m: Annotated[int, typer.Option("--hnsw-m", help="HNSW links per node.")] = defaults.HNSW_M,
    ef_search: Annotated[int, typer.Option("--ef-search", help="HNSW search breadth.")] = defaults.HNSW_EF_SEARCH,
    nlist: Annotated[int, typer.Option("--nlist", help="IVF lists (0: 4*sqrt(n)).")] = 0,
    pq_m: Annotated[int, typer.Option("--pq-m", help="PQ sub-quantizers (0: largest divisor of dim <= 64).")] = 0,
    nprobe: Annotated[int, typer.Option("--nprobe", help="IVF lists probed per query.")] = defaults.IVF_NPROBE,
    langs: Annotated[
        str | None, typer.Option("--langs", help="Comma-separated view languages to index with BM25 (default: all).")
    ] = None,
    sparse_fallback: Annotated[
        str | None,
        typer.Option(
            "--sparse-fallback",
            help="error | standard | skip, for languages without a Lucene analyzer "
            f"(default: {defaults.SPARSE_FALLBACK}).",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse documents in languages the encoder does not cover.")
    ] = False,
    no_dense: Annotated[bool, typer.Option("--no-dense", help="Skip the dense side.")] = False,
    no_sparse: Annotated[bool, typer.Option("--no-sparse", help="Skip the sparse side.")] = False,
    no_latent: Annotated[
        bool,
        typer.Option(
            "--no-latent", help="Skip the latent terms (the encoder's sparse head, when it has one; doubles encoding)."
        ),
    ] = False,
    fmt: options.Format = "auto",
    id_field: options.IdField = None,
    title_fields: options.TitleFields = "title",
    text_fields: options.TextFields = "text",
    lang_field: options.LangField = "lang",
    view: options.Views = None,
    metadata_fields: options.MetadataFields = None,
    meta_fields: options.MetaFields = None,
    lang: options.DocLang = None,
    no_detect: options.NoDetect = False,
    on_error: options.OnError = None,
    batch_size: options.BatchSize = None,
    augment: options.Augment = None,
    augment_alpha: options.AugmentAlpha = defaults.AUGMENT_ALPHA,
    augment_agg: options.AugmentAgg = defaults.AUGMENT_AGG,
    augment_normalize: options.AugmentNormalize = False,
    engine: Annotated[
        str, typer.Option("--engine", help="local (this process) | ray (a pool of Ray workers).")
    ] = "local",
    shards: Annotated[
        int | None,
        typer.Option(
            "--shards", min=1, help="Split the index into N shards (default: 1 locally, 2 with --engine ray)."
        ),
    ] = None,
    address: Annotated[
        str,
        typer.Option(
            "--address", help="Ray: local (start Ray here) | auto (join a running cluster) | ray://host:port."
        ),
    ] = "local",
    workers: Annotated[int, typer.Option("--workers", min=1, help="Ray: shard builds running at once.")] = 2,
) -> None:
    """Build an index from a corpus: docstore, one Lucene index per language view, and FAISS.

    With --shards N (or --engine ray) it writes N shards, each a normal index, plus shards.json listing
    them; the service searches them in parallel and merges exactly.

    Example: passerelle index build --corpus data/sample/corpus.jsonl --meta-fields year:int,topic:keyword
    --out indexes/sample
    """
    from passerelle.commands.common import command_run

    if engine not in ("local", "ray"):
        raise typer.BadParameter(f"--engine must be local or ray, got {engine!r}")
    with command_run():
        build_options = _options(**locals())
        n_shards = shards or (2 if engine == "ray" else 1)
        if engine == "ray":
            from passerelle.indexing.shards.ray_build import build_index_ray

            manifest = build_index_ray(corpus, out, build_options, shards=n_shards, address=address, workers=workers)
        elif n_shards > 1:
            from passerelle.indexing.shards.build import build_sharded

            manifest = build_sharded(corpus, out, build_options, shards=n_shards)
        else:
            from passerelle.indexing.build import build_index

            manifest = build_index(corpus, out, build_options)
    _summary(out, manifest)


@app.command("add")
def add(
    index: options.IndexDir,
    corpus: options.Corpus,
    upsert: Annotated[bool, typer.Option("--upsert", help="Replace documents whose id already exists.")] = False,
    fmt: options.Format = "auto",
    id_field: options.IdField = None,
    title_fields: options.TitleFields = "title",
    text_fields: options.TextFields = "text",
    lang_field: options.LangField = "lang",
    view: options.Views = None,
    metadata_fields: options.MetadataFields = None,
    meta_fields: options.MetaFields = None,
    lang: options.DocLang = None,
    no_detect: options.NoDetect = False,
    on_error: options.OnError = None,
    batch_size: options.BatchSize = None,
    augment: options.Augment = None,
    augment_alpha: options.AugmentAlpha = defaults.AUGMENT_ALPHA,
    augment_agg: options.AugmentAgg = defaults.AUGMENT_AGG,
    augment_normalize: options.AugmentNormalize = False,
) -> None:
    """Add documents to an index (same encoder and analyzers); an existing id is an error unless --upsert."""
    from passerelle.commands.common import command_run

    with command_run():
        _refuse_sharded(index)
        from passerelle.indexing.update import add_documents

        manifest = add_documents(index, corpus, _options(**locals()), upsert=upsert)
    _summary(index, manifest)


@app.command("delete")
def delete(
    index: options.IndexDir,
    ids: list[str] = typer.Argument(..., help="Document ids to delete."),
    missing_ok: bool = typer.Option(False, "--missing-ok", help="Ignore ids that are not in the index."),
) -> None:
    """Delete documents by id from the docstore, every Lucene view and FAISS."""
    from passerelle.commands.common import fail_on_error, setup_logging

    setup_logging()
    with fail_on_error():
        _refuse_sharded(index)
        from passerelle.indexing.update import delete_documents

        manifest = delete_documents(index, ids, missing_ok=missing_ok)
    _summary(index, manifest)


@app.command("info")
def info(
    index: Path = typer.Argument(..., help="Index directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole manifest as JSON."),
) -> None:
    """Describe an index: documents, languages, encoder, FAISS kind, analyzers (reads manifest.json only)."""
    import json

    from passerelle.commands.common import fail_on_error

    with fail_on_error():
        from passerelle.indexing.manifest import read_manifest

        manifest = read_manifest(index)
    if as_json:
        typer.echo(json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False))
    else:
        _summary(index, manifest)


def _summary(path: Path, manifest: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"index {path}", show_header=False)
    table.add_row("documents", str(manifest.doc_count))
    table.add_row("languages", ", ".join(f"{k}: {v}" for k, v in manifest.languages.items()))
    table.add_row("encoder", f"{manifest.encoder.name} (dim {manifest.encoder.dim})")
    table.add_row("faiss", f"{manifest.faiss.kind} ({manifest.dense_rows} rows)")
    views = ", ".join(f"{k} [{manifest.analyzers[k]}]: {v}" for k, v in manifest.sparse_docs.items())
    table.add_row("sparse views", escape(views))
    if manifest.augmentation:
        aug = manifest.augmentation
        table.add_row(
            "augmentation",
            f"{len(aug.get('files', []))} file(s), {aug.get('docs_augmented', 0)} docs, "
            f"alpha {aug.get('alpha')} {aug.get('agg')}, {aug.get('unmatched_doc_ids', 0)} unmatched ids",
        )
    sharded = manifest.source.get("sharded") if isinstance(manifest.source, dict) else None
    if sharded:
        engine = sharded.get("engine", {})
        table.add_row(
            "shards",
            f"{sharded.get('shards')} (built by {engine.get('name', '?')}"
            + (f", {engine['workers']} workers" if "workers" in engine else "")
            + "); see shards.json",
        )
    table.add_row("metadata fields", ", ".join(f.spec for f in manifest.declared_fields) or "none")
    table.add_row("skipped records", ", ".join(f"{k}: {v}" for k, v in manifest.skipped.items()) or "none")
    table.add_row("updated", manifest.updated_at)
    Console(stderr=False).print(table)


def _refuse_sharded(index: Path) -> None:
    """Adding to or deleting from a sharded index is not supported yet: say so before touching anything."""
    from passerelle.indexing.errors import ConfigError
    from passerelle.indexing.shards.layout import is_sharded

    if is_sharded(index):
        raise ConfigError(
            f"{index} is a sharded index (shards.json): adding and deleting documents is not "
            "supported for it yet; rebuild it with `passerelle index build --shards N`"
        )
