"""What a search takes and gives: per-call parameters, the retrievers' lists before fusion, and the hits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from passerelle.service.filters import Filter
from passerelle.service.fusion import FusionMethod, Normalization, Ranking
from passerelle.service.language_fusion import ViewSignals

__all__ = ["MODES", "Hit", "Mode", "Retrieval", "SearchParams", "SearchResult", "SourceHit"]

Mode = Literal["dense", "sparse", "latent", "hybrid"]
MODES: tuple[str, ...] = ("dense", "sparse", "latent", "hybrid")


@dataclass(frozen=True)
class SearchParams:
    """Per-call search settings (nothing is set on shared objects).

    ``filter`` restricts both retrievers to the documents it matches (with ``doc_langs``, a shorthand for
    ``lang in doc_langs``); its values are checked against the index's fields, strictly (JSON types)
    unless ``lenient_filter`` (values written as text, read with each field's type). ``offset`` skips the
    first hits: hits are ordered by score, then doc id, and every retriever takes at least ``offset + k``
    candidates, so pages concatenate to the unpaged list.
    """

    mode: Mode = "hybrid"
    k: int = 10
    offset: int = 0
    query_lang: str | None = None
    doc_langs: frozenset[str] | None = None
    filter: Filter | None = None
    lenient_filter: bool = False
    fusion: FusionMethod = "auto"
    normalization: Normalization = "minmax"
    weights: Mapping[str, float] | None = None
    profile: str | None = None
    rrf_k: int = 60
    depth: int = 100
    explain: bool = False
    translate_query: bool = False  # BM25 searches the query translated into the document languages (QT)


@dataclass(frozen=True)
class Retrieval:
    """The retrievers' ranked lists for one query, before fusion (``dense`` is None when not run)."""

    query: str
    query_lang: str
    dense: Ranking | None
    sparse: Mapping[str, Ranking]
    signals: Mapping[str, ViewSignals]
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    filter_matches: int | None = None  # documents the filter allows (None without a filter)
    latent: Ranking | None = None  # the latent-terms list (None when not run)


@dataclass(frozen=True)
class SourceHit:
    """One retriever's view of a hit: 1-based rank and raw score."""

    rank: int
    score: float


@dataclass(frozen=True)
class Hit:
    """A search result, with its stored fields (the API returns those asked for)."""

    doc_id: str
    score: float
    lang: str
    title: str
    snippet: str
    sources: Mapping[str, SourceHit]
    explanation: Mapping[str, Any] | None = None
    text: str = ""
    views: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    """Hits for one query (the page from ``offset``), the language used for it, and the time spent per stage.

    ``has_more``: the candidates hold hits after this page. ``filter_matches``: how many documents the
    filter allows (``None`` without a filter).
    """

    query: str
    query_lang: str
    mode: Mode
    hits: list[Hit]
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    offset: int = 0
    has_more: bool = False
    filter_matches: int | None = None
