"""Change a published index: add documents (optionally replacing existing ids) or delete by id.

Every change works on a staged copy (Lucene files hard-linked: they are write-once) and is published
atomically, so readers of the old index and a killed update never see a half-changed index.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from passerelle.indexing.augment.apply import describe_augmentation, load_augment, new_mixer
from passerelle.indexing.build import DOCSTORE, count_records
from passerelle.indexing.dense import DenseStore
from passerelle.indexing.docstore import DocStore
from passerelle.indexing.encoders.base import Encoder, check_compatible, latent_spec_of
from passerelle.indexing.encoders.registry import encoder_from_spec
from passerelle.indexing.errors import ConfigError, DocumentNotFoundError
from passerelle.indexing.finalize import append_vectors, describe
from passerelle.indexing.manifest import Manifest, read_manifest, write_manifest
from passerelle.indexing.options import BuildOptions
from passerelle.indexing.pipeline import Ingest
from passerelle.indexing.publish import cleanup_staging, discard, publish, recover, staging_dir
from passerelle.indexing.readers import Record, read_records
from passerelle.indexing.shards.layout import is_sharded
from passerelle.indexing.sparse.lucene import LuceneView
from passerelle.indexing.sparse.lucene import delete_documents as lucene_delete

logger = logging.getLogger(__name__)


def add_documents(
    index_dir: Path | str,
    corpus: Path | str,
    options: BuildOptions | None = None,
    *,
    upsert: bool = False,
    encoder: Encoder | None = None,
) -> Manifest:
    """Add the documents of ``corpus`` to the index at ``index_dir``.

    An id already in the index is an error (``DuplicateDocumentError`` / ``CorpusError`` with file and
    line) unless ``upsert``, which replaces that document in the docstore, every Lucene view and FAISS.
    The encoder is the one the manifest records; FAISS kind and analyzers stay as built. Augmentation
    files apply to the added documents; an index built with augmentation keeps its alpha and aggregation.
    Added documents are validated against the index's metadata fields (``options`` may repeat them, not
    change them).

    Raises:
        ConfigError: ``options`` declare other metadata fields than the index has.
    """
    options = options or BuildOptions()
    index_dir, corpus = Path(index_dir), Path(corpus)
    records = read_records(corpus, options.fmt)
    manifest = _prepare(index_dir)
    options = _with_index_fields(options, manifest)
    alpha, agg, normalize = _mixing(manifest, options)
    augment = load_augment(options.augment_files, alpha, agg)
    if manifest.dense_rows and options.dense:
        encoder = encoder or encoder_from_spec(manifest.encoder)
        check_compatible(manifest.encoder, encoder.spec)
        if manifest.latent_spec is not None and latent_spec_of(encoder) != manifest.latent_spec:
            raise ConfigError(
                f"the index keeps latent terms of {manifest.latent_spec.name!r}, which encoder "
                f"{encoder.spec.name!r} does not give: add with the encoder the index was built with"
            )
        options = dataclasses.replace(options, latent=manifest.latent_spec is not None)
    else:
        encoder = None
    staging = _stage_copy(index_dir)
    try:
        docstore = DocStore(staging / DOCSTORE)
        dense = (
            DenseStore.load(staging / "dense", manifest.faiss, latent=manifest.latent_spec)
            if manifest.dense_rows
            else None
        )
        if upsert:
            ids = [
                r.data.get(options.mapping.id or "id")
                for r in read_records(corpus, options.fmt)
                if isinstance(r, Record)
            ]
            replaced = sorted(docstore.existing_ids([str(i) for i in ids if i is not None]))
            _remove(staging, manifest, docstore, dense, replaced)
        analyzers = dict(manifest.analyzers)
        mixer = new_mixer(augment, encoder if dense is not None else None, alpha, agg, normalize)
        ingest = Ingest(
            staging,
            options,
            docstore,
            encoder,
            analyzers,
            append=True,
            total=count_records(corpus, options),
            augment=augment,
            mixer=mixer,
        )
        result = ingest.run(records)
        if dense is not None and encoder is not None:
            append_vectors(dense, result, encoder.spec.dim)
            dense.save(staging / "dense")
        skipped = dict(manifest.skipped)
        for kind, n in result.skipped.items():
            skipped[kind] = skipped.get(kind, 0) + n
        augmentation = manifest.augmentation
        if augment is not None:
            augment.copy_files(staging)
            augmentation = describe_augmentation(
                augment, alpha, agg, normalize, mixer.mixed if mixer else 0, previous=manifest.augmentation
            )
        return _publish(staging, index_dir, manifest, docstore, dense, analyzers, skipped, augmentation)
    except BaseException:
        discard(staging)
        raise


def delete_documents(index_dir: Path | str, doc_ids: Sequence[str], *, missing_ok: bool = False) -> Manifest:
    """Delete documents by id from every store of the index.

    Raises:
        DocumentNotFoundError: an id is not in the index (unless ``missing_ok``); nothing is changed.
    """
    index_dir = Path(index_dir)
    manifest = _prepare(index_dir)
    staging = _stage_copy(index_dir)
    try:
        docstore = DocStore(staging / DOCSTORE)
        present = docstore.existing_ids(list(doc_ids))
        missing = [d for d in doc_ids if d not in present]
        if missing and not missing_ok:
            shown = ", ".join(repr(m) for m in missing[:5])
            raise DocumentNotFoundError(f"not in the index: {shown}" + (" ..." if len(missing) > 5 else ""))
        dense = (
            DenseStore.load(staging / "dense", manifest.faiss, latent=manifest.latent_spec)
            if manifest.dense_rows
            else None
        )
        _remove(staging, manifest, docstore, dense, sorted(present))
        if dense is not None:
            dense.save(staging / "dense")
        return _publish(
            staging,
            index_dir,
            manifest,
            docstore,
            dense,
            dict(manifest.analyzers),
            dict(manifest.skipped),
            manifest.augmentation,
        )
    except BaseException:
        discard(staging)
        raise


def _with_index_fields(options: BuildOptions, manifest: Manifest) -> BuildOptions:
    """``options`` reading the index's declared metadata fields (refusing a different declaration)."""
    declared = manifest.declared_fields
    asked = options.mapping.meta_fields
    if asked and asked != declared:
        shown = ",".join(f.spec for f in declared) or "none"
        raise ConfigError(
            f"--meta-fields {','.join(f.spec for f in asked)} differs from the index's metadata fields ({shown}); "
            "added documents use the index's fields: omit --meta-fields or rebuild the index"
        )
    return dataclasses.replace(options, mapping=dataclasses.replace(options.mapping, meta_fields=declared))


def _mixing(manifest: Manifest, options: BuildOptions) -> tuple[float, Any, bool]:
    """Alpha, aggregation and renormalization for added documents: the index's own when it has them, so
    old and new vectors are mixed alike."""
    previous = manifest.augmentation or {}
    if "alpha" not in previous:
        return options.augment_alpha, options.augment_agg, options.augment_normalize
    chosen = (float(previous["alpha"]), previous["agg"], bool(previous.get("renormalized", False)))
    if options.augment_files and chosen != (options.augment_alpha, options.augment_agg, options.augment_normalize):
        logger.info("augmentation of added documents uses the index's alpha=%s agg=%s renormalized=%s", *chosen)
    return chosen


def _prepare(index_dir: Path) -> Manifest:
    recover(index_dir)
    cleanup_staging(index_dir)
    if is_sharded(index_dir):  # its documents live in the shards: a flat write beside them would be ignored
        raise ConfigError(
            f"{index_dir} is a sharded index: adding or deleting documents in place is not "
            "supported; rebuild it (index build --shards N) with the changed corpus"
        )
    return read_manifest(index_dir)


def _stage_copy(index_dir: Path) -> Path:
    staging = staging_dir(index_dir)
    shutil.rmtree(staging)
    shutil.copytree(index_dir, staging, copy_function=_link_or_copy)
    (staging / "manifest.json").unlink()
    return staging


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link Lucene files (never modified after being written); copy everything else."""
    if f"{os.sep}sparse{os.sep}" in src and not src.endswith("write.lock"):
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)


def _remove(
    staging: Path, manifest: Manifest, docstore: DocStore, dense: DenseStore | None, doc_ids: list[str]
) -> None:
    if not doc_ids:
        return
    for lang in manifest.analyzers:
        if (staging / "sparse" / lang).is_dir():
            lucene_delete(staging / "sparse" / lang, doc_ids)
    if dense is not None:
        dense.remove(doc_ids)
    docstore.delete(doc_ids)


def _publish(
    staging: Path,
    index_dir: Path,
    old: Manifest,
    docstore: DocStore,
    dense: DenseStore | None,
    analyzers: dict[str, str],
    skipped: dict[str, int],
    augmentation: dict[str, Any] | None,
) -> Manifest:
    sparse_docs = {}
    for lang, analyzer in analyzers.items():
        if (staging / "sparse" / lang).is_dir():
            view = LuceneView(staging / "sparse" / lang, analyzer)  # to count its documents
            sparse_docs[lang] = view.num_docs
            view.close()
    manifest = describe(
        staging,
        docstore,
        old.encoder,
        old.faiss,
        analyzers,
        sparse_docs,
        len(dense.row_ids) if dense is not None else 0,
        skipped,
        old.source,
        created_at=old.created_at,
        augmentation=augmentation,
        meta_fields=old.declared_fields,
        sparse_keys=old.sparse_keys,  # added documents get keys, but older ones may lack them
    )
    manifest.latent = old.latent
    docstore.close()
    write_manifest(staging, manifest)
    publish(staging, index_dir)
    return manifest
