"""Response models of the HTTP API and the admin reload's body (pydantic lives at the boundary only); the search
requests are in :mod:`passerelle.service.api.requests`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from passerelle.indexing.documents import Document
from passerelle.service.api.requests import DEFAULT_HIT_FIELDS, HitField
from passerelle.service.api.settings import Mode
from passerelle.service.searcher import Hit, SearchResult


def plain(value: Any) -> Any:
    """Turn mappings, tuples, sets and numpy scalars into JSON-ready dicts, lists and numbers."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return [plain(item) for item in items]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return plain(value.item())
    return value


class SourceResponse(BaseModel):
    """One retriever's view of a hit."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"rank": 2, "score": 0.8421}]})

    rank: int = Field(description="1-based rank in that retriever.")
    score: float = Field(description="That retriever's raw score.")


class HitResponse(BaseModel):
    """One search hit."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "doc-42",
                    "score": 0.0325,
                    "lang": "fr",
                    "title": "Changements climatiques et agriculture",
                    "snippet": "Les effets du réchauffement sur les rendements...",
                    "sources": {"dense": {"rank": 1, "score": 0.83}, "sparse:fr": {"rank": 2, "score": 11.2}},
                    "explanation": None,
                }
            ]
        }
    )

    id: str
    score: float
    lang: str | None = None
    title: str | None = None
    snippet: str | None = Field(None, description="The start of the text (about 240 characters).")
    text: str | None = Field(None, description="The full text (fields=text).")
    views: dict[str, str] | None = Field(None, description="Text in further languages (fields=views).")
    metadata: dict[str, Any] | None = Field(None, description="The document's metadata (fields=metadata).")
    sources: dict[str, SourceResponse] | None = Field(None, description="Rank and raw score per retriever.")
    explanation: dict[str, Any] | None = Field(None, description="Fusion arithmetic (explain=true).")

    @classmethod
    def from_hit(cls, hit: Hit, fields: tuple[HitField, ...]) -> HitResponse:
        """The hit with the asked ``fields`` only (the others are left unset, so the answer omits them)."""
        values: dict[str, Any] = {"id": hit.doc_id, "score": float(hit.score)}
        for name in fields:
            if name == "sources":
                values["sources"] = {
                    source: SourceResponse(rank=int(src.rank), score=float(src.score))
                    for source, src in hit.sources.items()
                }
            elif name in ("views", "metadata"):
                values[name] = plain(getattr(hit, name))
            else:
                values[name] = getattr(hit, name)
        values["explanation"] = plain(hit.explanation) if hit.explanation is not None else None
        return cls(**values)


class SearchResponse(BaseModel):
    """Answer to one query."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "index": "clirudit",
                    "query": "climate change and agriculture",
                    "query_lang": "en",
                    "mode": "hybrid",
                    "hits": [HitResponse.model_config["json_schema_extra"]["examples"][0]],  # type: ignore[index]
                    "timings_ms": {"dense": 4.1, "sparse": 2.7, "fusion": 0.1, "total": 7.3},
                }
            ]
        }
    )

    index: str = Field(description="Name of the index that answered.")
    query: str
    query_lang: str
    mode: Mode
    hits: list[HitResponse]
    offset: int = Field(0, description="Hits skipped before these (paging).")
    has_more: bool = Field(False, description="Whether more hits follow this page among the candidates.")
    filter_matches: int | None = Field(None, description="Documents the filter allows (with a filter only).")
    timings_ms: dict[str, float]
    warnings: list[str] = Field(
        default_factory=list,
        description=(
            "Why the answer is degraded, e.g. hybrid results without BM25 when the Java runtime is unavailable."
        ),
    )

    @classmethod
    def from_result(
        cls, index: str, result: SearchResult, fields: tuple[HitField, ...] = DEFAULT_HIT_FIELDS
    ) -> SearchResponse:
        """Build the response from the searcher's ``SearchResult``, each hit with ``fields``. Every field set
        here is set explicitly, so routes serialize with ``exclude_unset`` and only hit fields not asked
        for are left out."""
        extra: dict[str, Any] = {"offset": result.offset, "has_more": result.has_more}
        if result.filter_matches is not None:
            extra["filter_matches"] = result.filter_matches
        return cls(
            index=index,
            query=result.query,
            query_lang=result.query_lang,
            mode=result.mode,
            hits=[HitResponse.from_hit(hit, fields) for hit in result.hits],
            timings_ms={str(k): float(v) for k, v in result.timings_ms.items()},
            warnings=list(result.warnings),
            **extra,
        )


_SEARCH_RESPONSE_EXAMPLES = SearchResponse.model_config["json_schema_extra"]["examples"]  # type: ignore[index]


class BatchSearchResponse(BaseModel):
    """Answers to a batch, in the order of the queries."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"results": _SEARCH_RESPONSE_EXAMPLES}]})

    results: list[SearchResponse]


class DocumentResponse(BaseModel):
    """A stored document."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "index": "clirudit",
                    "id": "doc-42",
                    "lang": "fr",
                    "title": "Changements climatiques et agriculture",
                    "text": "Les effets du réchauffement...",
                    "views": {"en": "The effects of warming..."},
                    "metadata": {"year": 2019},
                }
            ]
        }
    )

    index: str
    id: str
    lang: str
    title: str
    text: str
    views: dict[str, str] = Field(default_factory=dict, description="Text in further languages.")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_document(cls, index: str, doc: Document) -> DocumentResponse:
        """Build the response from an ``indexing.documents.Document``."""
        return cls(
            index=index,
            id=doc.id,
            lang=doc.lang,
            title=doc.title,
            text=doc.text,
            views=dict(doc.views),
            metadata=plain(doc.metadata),
        )


class IndexInfo(BaseModel):
    """One loaded index."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "clirudit",
                    "default": True,
                    "path": "/srv/indexes/clirudit",
                    "loaded_at": "2025-01-01T12:00:00+00:00",
                    "manifest": {"format_version": 1, "doc_count": 1234},
                }
            ]
        }
    )

    name: str
    default: bool = Field(description="Whether requests without 'index' use this one.")
    path: str
    loaded_at: str = Field(description="When this copy was loaded (ISO 8601, UTC).")
    manifest: dict[str, Any] = Field(description="The index's manifest.json.")


_INDEX_INFO_EXAMPLES = IndexInfo.model_config["json_schema_extra"]["examples"]  # type: ignore[index]


class IndexesResponse(BaseModel):
    """Every loaded index."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"indexes": _INDEX_INFO_EXAMPLES}]})

    indexes: list[IndexInfo]


class HealthResponse(BaseModel):
    """Liveness: the process answers."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    """Readiness: every configured index is loaded (``degraded``: loaded, but a side cannot search)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ready", "indexes": ["clirudit"]},
                {
                    "status": "degraded",
                    "indexes": ["clirudit"],
                    "degraded": {"clirudit": "sparse search unavailable: the Java runtime failed to start"},
                },
            ]
        }
    )

    status: Literal["ready", "degraded", "loading", "unavailable"]
    indexes: list[str]
    degraded: dict[str, str] | None = Field(
        None,
        description=(
            "Index name -> what does not work and why (e.g. BM25 without a Java runtime); absent when all is well."
        ),
    )
    unavailable: dict[str, str] | None = Field(
        None,
        description=(
            "Index name -> why it cannot answer now (served on Ray: a shard with no live replica); absent when "
            "every index can."
        ),
    )


class ReloadRequest(BaseModel):
    """Body of ``POST /v1/admin/reload``."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{"index": "clirudit"}]})

    index: str | None = Field(None, description="Index to reload from its directory; default: all.")


class ReloadResponse(BaseModel):
    """What was reloaded."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "reloaded": [IndexInfo.model_config["json_schema_extra"]["examples"][0]],  # type: ignore[index]
                    "took_ms": 812.5,
                }
            ]
        }
    )

    reloaded: list[IndexInfo]
    took_ms: float


class ErrorResponse(BaseModel):
    """Body of every error response."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"error": "DocumentNotFoundError", "detail": "no document 'doc-9' in index 'clirudit'"}]
        }
    )

    error: str = Field(description="Error type.")
    detail: str | list[dict[str, Any]] = Field(description="Message, or one entry per invalid field.")
