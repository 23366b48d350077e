"""Turn the vectors an ingest wrote into a FAISS store, and describe a staged index in a manifest."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from passerelle.indexing.dense import DenseStore, FaissSpec, create_faiss_index
from passerelle.indexing.docstore import DocStore
from passerelle.indexing.encoders.base import Encoder, EncoderSpec
from passerelle.indexing.latent import LatentMatrix, stack
from passerelle.indexing.manifest import Manifest, now
from passerelle.indexing.metadata import MetaField, fields_to_dicts
from passerelle.indexing.pipeline import Ingest, IngestResult

logger = logging.getLogger(__name__)

ADD_CHUNK = 65_536
TRAIN_SAMPLE = 131_072


def read_vectors(path: Path, dim: int) -> np.ndarray:
    """Memory-map the raw float32 vectors file an ingest wrote (shape ``(n, dim)``)."""
    if not path.exists() or path.stat().st_size == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return np.memmap(path, dtype=np.float32, mode="r").reshape(-1, dim)


def new_dense_store(result: IngestResult, spec: FaissSpec, dim: int, seed: int = 0) -> DenseStore:
    """A FAISS store over every vector of a fresh build (training IVF-PQ on a sample first)."""
    vectors = read_vectors(result.vectors_path, dim) if result.vectors_path else np.zeros((0, dim), np.float32)
    resolved = spec.resolved(len(vectors), dim)
    training = None
    if resolved.kind == "ivf-pq":
        rng = np.random.default_rng(seed)
        take = np.sort(rng.choice(len(vectors), size=min(len(vectors), TRAIN_SAMPLE), replace=False))
        training = np.asarray(vectors[take])
    store = DenseStore(create_faiss_index(resolved, dim, training), resolved, [], [])
    if result.latent_spec is not None:
        store.latent = LatentMatrix(stack([], result.latent_spec.dim))
    append_vectors(store, result, dim)
    return store


def append_vectors(store: DenseStore, result: IngestResult, dim: int) -> None:
    """Add an ingest's vectors to ``store`` in chunks, then delete the raw file."""
    if result.vectors_path is None:
        return
    vectors = read_vectors(result.vectors_path, dim)
    if len(vectors) != len(result.row_ids):
        raise RuntimeError(f"encoder produced {len(vectors)} vectors for {len(result.row_ids)} documents")
    latent = stack(result.latent, result.latent_spec.dim) if result.latent_spec is not None else None
    for start in range(0, len(vectors), ADD_CHUNK):
        stop = start + ADD_CHUNK
        rows = latent[start:stop] if latent is not None else None
        store.add(result.row_ids[start:stop], result.row_langs[start:stop], np.asarray(vectors[start:stop]), rows)
    del vectors
    result.latent = []
    result.vectors_path.unlink()


NO_ENCODER = EncoderSpec(name="none", dim=0)
"""The encoder spec of an index built without a dense side."""


def save_dense(
    root: Path, result: IngestResult, spec: FaissSpec, encoder: Encoder | None, *, empty: FaissSpec
) -> tuple[FaissSpec, int]:
    """Build the FAISS store of a fresh ingest and save it under ``root/dense``.

    Returns the store's resolved spec and its row count, or ``(empty, 0)`` when nothing was encoded.
    """
    if encoder is None or not result.added:
        return empty, 0
    store = new_dense_store(result, spec, encoder.spec.dim)
    store.save(root / "dense")
    return store.spec, len(store.row_ids)


def describe_ingest(
    root: Path,
    docstore: DocStore,
    encoder: Encoder | None,
    dense: tuple[FaissSpec, int],
    ingest: Ingest,
    result: IngestResult,
    source: dict[str, object],
    augmentation: dict[str, object] | None,
) -> Manifest:
    """The manifest of a freshly ingested index (a build, or one shard of a sharded build)."""
    faiss, dense_rows = dense
    spec = encoder.spec if encoder else NO_ENCODER
    manifest = describe(
        root,
        docstore,
        spec,
        faiss,
        ingest.analyzers,
        dict(result.sparse_added),
        dense_rows,
        dict(result.skipped),
        source,
        augmentation=augmentation,
        meta_fields=ingest.options.mapping.meta_fields,
    )
    if dense_rows and result.latent_spec is not None:
        manifest.latent = result.latent_spec.to_dict()
    return manifest


def describe(
    root: Path,
    docstore: DocStore,
    encoder: EncoderSpec,
    faiss: FaissSpec,
    analyzers: dict[str, str],
    sparse_docs: dict[str, int],
    dense_rows: int,
    skipped: dict[str, int],
    source: dict[str, object],
    created_at: str | None = None,
    augmentation: dict[str, object] | None = None,
    meta_fields: tuple[MetaField, ...] = (),
    sparse_keys: bool = True,
) -> Manifest:
    """The manifest of a staged index (checksums are added when it is written)."""
    timestamp = now()
    return Manifest(
        doc_count=len(docstore),
        languages=docstore.language_counts(),
        encoder=encoder,
        faiss=faiss,
        analyzers=dict(sorted(analyzers.items())),
        sparse_docs=dict(sorted(sparse_docs.items())),
        dense_rows=dense_rows,
        skipped=dict(sorted(skipped.items())),
        augmentation=augmentation,
        meta_fields=fields_to_dicts(meta_fields),
        sparse_keys=sparse_keys,
        source=source,
        created_at=created_at or timestamp,
        updated_at=timestamp,
    )
