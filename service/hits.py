"""The page of fused hits as the caller sees them: stored fields, a snippet, each retriever's rank, and the
explanation of the fused score when asked for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from passerelle.indexing.documents import Document
from passerelle.service.fusion import FusedHit
from passerelle.service.search_types import Hit, SearchParams, SourceHit

SNIPPET_CHARS = 240


def build_hits(
    page: list[FusedHit], params: SearchParams, explain_extra: dict[str, Any], docs: Mapping[str, Document]
) -> list[Hit]:
    """The hits of ``page`` whose documents are in ``docs`` (a document deleted meanwhile is left out), with
    their explanation when ``params.explain``; ``explain_extra`` is what the fusion adds to it."""
    hits = []
    for item in page:
        doc = docs.get(item.doc_id)
        if doc is None:
            continue  # deleted since the ranked lists were computed
        hits.append(
            Hit(
                doc_id=item.doc_id,
                score=item.score,
                lang=doc.lang,
                title=doc.title,
                snippet=_snippet(doc),
                sources={name: SourceHit(c.rank, c.raw_score) for name, c in item.contributions.items()},
                explanation=_explain(item, params, explain_extra) if params.explain else None,
                text=doc.text,
                views=doc.views,
                metadata=doc.metadata,
            )
        )
    return hits


def _explain(hit: FusedHit, params: SearchParams, extra: dict[str, Any]) -> dict[str, Any]:
    if "single" in extra:  # one retriever ran: its own score, nothing was fused
        ((name, c),) = hit.contributions.items()
        return {
            "method": "none",
            "rrf_k": None,
            "normalization": None,
            "formula": f"the {name} retriever's own score (nothing to fuse)",
            "contributions": {
                name: {"rank": c.rank, "raw_score": c.raw_score, "normalized": None, "weight": 1.0, "value": c.value}
            },
            "fused_score": hit.score,
        }
    return {
        "method": params.fusion,
        "rrf_k": params.rrf_k if params.fusion == "rrf" else None,
        "normalization": extra.get("normalization", params.normalization) if params.fusion != "rrf" else None,
        "formula": "sum(weight / (rrf_k + rank))" if params.fusion == "rrf" else "sum(weight * normalized)",
        **{key: value for key, value in extra.items() if key != "normalization"},
        "contributions": {
            name: {
                "rank": c.rank,
                "raw_score": c.raw_score,
                "normalized": c.normalized,
                "weight": c.weight,
                "value": c.value,
            }
            for name, c in hit.contributions.items()
        },
        "fused_score": hit.score,
    }


def _snippet(doc: Document) -> str:
    text = " ".join(doc.text.split())
    if len(text) <= SNIPPET_CHARS:
        return text
    cut = text.rfind(" ", 0, SNIPPET_CHARS)
    return text[: cut if cut > 0 else SNIPPET_CHARS] + "…"
