"""The search core over one loaded index: dense, sparse and hybrid retrieval with fusion and explanations.

Importable without FastAPI; the HTTP layer and the evaluation runners both use it.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from functools import cached_property
from pathlib import Path
from typing import Any

from passerelle.indexing.encoders.base import LatentEncoder, latent_spec_of
from passerelle.indexing.errors import JavaUnavailableError
from passerelle.indexing.language import Detection, LanguageDetector
from passerelle.indexing.load import LoadedIndex, Verify, load_index
from passerelle.service.batching import QueryBatcher
from passerelle.service.errors import FilterError, InvalidRequestError, QueryTranslationUnavailableError
from passerelle.service.filter_eval import AllowedRows, FilterCache, bind
from passerelle.service.filters import Condition, all_of
from passerelle.service.fusion import Contribution, FusedHit, Ranking, fuse
from passerelle.service.hits import build_hits
from passerelle.service.language_fusion import (
    DEFAULT_PROFILE,
    FusionProfile,
    ViewSignals,
    fuse_language_aware,
    load_profile,
    top_gap,
)
from passerelle.service.query_translation import CachedQueryTranslator, translated_views
from passerelle.service.search_types import MODES, Hit, Mode, Retrieval, SearchParams, SearchResult, SourceHit

SparseLists = tuple[dict[str, Ranking], dict[str, ViewSignals]]
"""One query's BM25 ranked lists (by retriever name) and their query-time signals."""


logger = logging.getLogger(__name__)


class Searcher:
    """Answers searches over one :class:`LoadedIndex`. Thread-safe.

    ``micro_batch`` > 1 answers concurrent :meth:`search` calls together, in batches of up to that many
    queries, on ``search_workers`` threads (see :mod:`passerelle.service.batching`); 1 answers each call
    in its caller's thread.
    """

    def __init__(
        self,
        index: LoadedIndex,
        *,
        default_query_lang: str = "en",
        fusion_profile: str = DEFAULT_PROFILE,
        micro_batch: int = 1,
        search_workers: int = 1,
        query_translator: CachedQueryTranslator | None = None,
    ) -> None:
        self.index = index
        self.query_translator = query_translator  # for translate_query (service/query_translation.py)
        self.default_query_lang = default_query_lang
        self.fusion_profile = load_profile(fusion_profile)  # fail at load, not at the first query
        self._filters = FilterCache()
        candidates = set(index.manifest.analyzers) | set(index.manifest.languages) | {default_query_lang}
        self._detector = LanguageDetector(candidates)
        self.batcher: QueryBatcher[SearchParams, SearchResult] | None = None
        if micro_batch > 1:
            self.batcher = QueryBatcher(self.search_batch, max_batch=micro_batch, workers=search_workers)

    @classmethod
    def open(
        cls, index_dir: str | Path, *, verify: Verify = "size", query_threads: int | None = None, **kwargs: Any
    ) -> Searcher:
        """Load the index at ``index_dir`` (files checked per ``verify``: full, size or none), wrap it, and
        warm it up so first queries pay no load cost. Nothing stays open when this fails.

        ``query_threads`` caps the threads one search uses in the encoder and FAISS (``None``: every core,
        right for batch evaluation; a server answering concurrent requests wants 1).

        Raises:
            IndexFormatError: the index is missing, incomplete or damaged.
        """
        return cls.over(load_index(index_dir, verify=verify, query_threads=query_threads), **kwargs)

    @classmethod
    def over(cls, index: LoadedIndex, **kwargs: Any) -> Searcher:
        """Wrap an opened ``index`` (closed if this fails) and warm it up (``kwargs`` as the constructor's)."""
        try:
            searcher = cls(index, **kwargs)
            searcher.warm_up()
        except BaseException:
            index.close()
            raise
        return searcher

    def warm_up(self) -> None:
        """Load the language model and the encoder, and touch each sparse view."""
        if self.stale_latent:
            logger.warning("index %s: %s", self.name, self.stale_latent)
        self.detect_language("warm up")
        if self.index.encoder is not None:
            self.index.encoder.encode_queries(["warm up"])
        if self.has_latent and isinstance(self.index.encoder, LatentEncoder):
            self.index.encoder.encode_latent_queries(["warm up"])
        for view in self.index.sparse.values():
            view.search("warm up", 1)
        if self.index.manifest.declared_fields and self.index.filterable:  # filters are expected: build the table
            self.index.filter_table()

    @property
    def name(self) -> str:
        """Name of the index (its directory name)."""
        return self.index.name

    def search(self, query: str, params: SearchParams | None = None) -> SearchResult:
        """Search one query (batched with concurrent calls when micro-batching is on)."""
        if self.batcher is not None:
            return self.batcher.submit(query, params or SearchParams())
        return self.search_batch([query], params)[0]

    def close(self) -> None:
        """Answer the queued queries, then release the index."""
        if self.batcher is not None:
            self.batcher.close()
        self.index.close()

    def search_batch(self, queries: Sequence[str], params: SearchParams | None = None) -> list[SearchResult]:
        """Search many queries; dense queries are encoded in one batch."""
        params = params or SearchParams()
        warnings: tuple[str, ...] = ()
        if params.mode == "hybrid" and self.index.sparse_error:
            warnings = (f"BM25 is unavailable, these are dense results only: {self.index.sparse_error}",)
        if params.mode == "hybrid" and self.stale_latent:
            warnings = (*warnings, self.stale_latent)
        retrievals = self.retrieve(queries, params)
        end = params.offset + params.k
        fused_all = []
        for retrieval in retrievals:
            start = time.perf_counter()
            fused, explain_extra = self._fuse(retrieval, params)
            fused_all.append((fused, explain_extra, time.perf_counter() - start))
        start = time.perf_counter()  # the documents of every query's page in one read (one round trip if remote)
        wanted = dict.fromkeys(hit.doc_id for fused, _, _ in fused_all for hit in fused[params.offset : end])
        docs = self.index.docstore.get_many(list(wanted))
        fetch_s = (time.perf_counter() - start) / len(retrievals) if retrievals else 0.0
        results = []
        for retrieval, (fused, explain_extra, fuse_s) in zip(retrievals, fused_all, strict=True):
            start = time.perf_counter()
            hits = build_hits(fused[params.offset : end], params, explain_extra, docs)
            timings = dict(retrieval.timings_ms)
            timings["fuse_and_fetch"] = round((fuse_s + fetch_s + time.perf_counter() - start) * 1000, 3)
            results.append(
                SearchResult(
                    query=retrieval.query,
                    query_lang=retrieval.query_lang,
                    mode=params.mode,
                    hits=hits,
                    timings_ms=timings,
                    warnings=warnings,
                    offset=params.offset,
                    has_more=len(fused) > end,
                    filter_matches=retrieval.filter_matches,
                )
            )
        return results

    def retrieve(self, queries: Sequence[str], params: SearchParams | None = None) -> list[Retrieval]:
        """Run the retrievers a mode needs, without fusing: the ranked lists and the query-time signals."""
        params = params or SearchParams()
        self._check(params)
        queries = [unicodedata.normalize("NFC", q) for q in queries]  # "e\u0301" must match "é" in BM25
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        allowed = self.allowed(params)
        if allowed is not None:
            timings["filter"] = _ms(clock)
        clock = time.perf_counter()
        detections = [self.query_language(q, params.query_lang) for q in queries]
        timings["detect"] = _ms(clock)
        dense_wanted = (
            params.mode in ("dense", "hybrid") and self.index.dense is not None and self.index.encoder is not None
        )
        sparse_wanted = params.mode in ("sparse", "hybrid")
        latent_wanted = self.has_latent and (
            params.mode == "latent" or (params.mode == "hybrid" and self._fuses_latent(params))
        )
        dense_lists = self._dense_all(queries, params, timings, allowed) if dense_wanted else None
        latent_lists = self._latent_all(queries, params, timings, allowed) if latent_wanted else None
        sparse: list[SparseLists] = [({}, {}) for _ in queries]
        if sparse_wanted:
            sparse = self._sparse_all(queries, detections, params, timings, allowed)
        return [
            Retrieval(
                query=q,
                query_lang=detection.lang,
                dense=dense_lists[i] if dense_lists is not None else None,
                sparse=sparse[i][0],
                signals=sparse[i][1],
                timings_ms=timings,
                filter_matches=allowed.count if allowed is not None else None,
                latent=latent_lists[i] if latent_lists is not None else None,
            )
            for i, (q, detection) in enumerate(zip(queries, detections, strict=True))
        ]

    def _fuses_latent(self, params: SearchParams) -> bool:
        """Whether a hybrid query fuses the latent-terms list: only the language-aware fusion does, and only
        when its profile gives that list a weight (the fixed fusions combine dense and BM25 alone)."""
        return params.fusion == "auto" and self.profile_for(params).uses_latent

    def profile_for(self, params: SearchParams) -> FusionProfile:
        """The language-aware fusion profile a query uses: its own ``profile``, else the searcher's."""
        return load_profile(params.profile) if params.profile else self.fusion_profile

    @property
    def has_latent(self) -> bool:
        """Whether this index can be searched by latent terms: its rows keep them, and the query encoder
        gives them from the same head."""
        dense, spec = self.index.dense, self.index.manifest.latent_spec
        return (
            dense is not None
            and dense.latent is not None
            and spec is not None
            and latent_spec_of(self.index.encoder) == spec
        )

    @cached_property
    def stale_latent(self) -> str | None:
        """Why this index's latent terms go unused (they were made by another head or version than the query
        encoder's, e.g. an index built before an upgrade), or ``None``. Fixed for the searcher's life (a changed
        index is a new searcher), so worked out once rather than on every hybrid search."""
        spec, available = self.index.manifest.latent_spec, latent_spec_of(self.index.encoder)
        if spec is None or self.index.dense is None or spec == available:
            return None
        have = f"{available.name} {available.version}" if available is not None else "none"
        return (
            f"this index's latent terms were made by {spec.name} {spec.version} and this Passerelle encodes with "
            f"{have}: hybrid runs without them (lower quality); rebuild the index to use them again"
        )

    def _latent_all(
        self, queries: list[str], params: SearchParams, timings: dict[str, float], allowed: AllowedRows | None
    ) -> Sequence[Ranking]:
        encoder, dense = self.index.encoder, self.index.dense
        if not isinstance(encoder, LatentEncoder) or dense is None:
            raise InvalidRequestError(f"index {self.name!r} has no latent terms")
        clock = time.perf_counter()
        vectors = encoder.encode_latent_queries(queries)
        timings["encode_latent"] = _ms(clock)
        clock = time.perf_counter()
        lists = dense.search_latent(vectors, _depth(params), allowed=allowed.mask if allowed is not None else None)
        timings["latent"] = _ms(clock)
        return lists

    def allowed(self, params: SearchParams) -> AllowedRows | None:
        """The documents ``params`` restrict the search to (its filter and ``doc_langs``), evaluated once and
        kept for repeated filters; ``None`` when nothing restricts it.

        Raises:
            FilterError: the filter names a field the index lacks, or a value of the wrong type.
        """
        langs = Condition("lang", "in", tuple(sorted(params.doc_langs)), "doc_langs") if params.doc_langs else None
        node = all_of(params.filter, langs)
        if node is None:
            return None
        if not self.index.filterable:
            raise FilterError(
                "this index is served on Ray (passerelle serve --engine ray), which does not filter yet; "
                "search without filter or doc_langs, or serve the index with one process to filter it"
            )
        table = self.index.filter_table()
        return self._filters.get(bind(node, table.fields, lenient=params.lenient_filter), table)

    def _dense_all(
        self, queries: list[str], params: SearchParams, timings: dict[str, float], allowed: AllowedRows | None
    ) -> Sequence[Ranking]:
        assert self.index.encoder is not None and self.index.dense is not None
        clock = time.perf_counter()
        vectors = self.index.encoder.encode_queries(queries)
        timings["encode"] = _ms(clock)
        clock = time.perf_counter()
        mask = allowed.mask if allowed is not None else None
        lists = self.index.dense.search(vectors, _depth(params), allowed=mask)
        timings["dense"] = _ms(clock)
        return lists

    def _sparse_all(
        self,
        queries: list[str],
        detections: list[Detection],
        params: SearchParams,
        timings: dict[str, float],
        allowed: AllowedRows | None,
    ) -> list[SparseLists]:
        clock = time.perf_counter()
        with_signals = params.mode == "hybrid" and params.fusion == "auto"
        texts = [self._sparse_texts(q, d.lang, params) for q, d in zip(queries, detections, strict=True)]
        # each view searches the texts of every query in one call (one round trip when the view is remote)
        rows: dict[str, list[int]] = {}
        for number, views in enumerate(texts):
            for view in views:
                rows.setdefault(view, []).append(number)
        within = allowed.sparse if allowed is not None else None
        found: dict[tuple[int, str], tuple[Ranking, float]] = {}
        for view, numbers in rows.items():
            answers = self.index.sparse[view].search_many(
                [texts[n][view] for n in numbers], _depth(params), coverage=with_signals, within=within
            )
            found.update({(n, view): answer for n, answer in zip(numbers, answers, strict=True)})
        lists = [
            self._sparse_lists({view: found[(n, view)] for view in texts[n]}, detections[n], params, with_signals)
            for n in range(len(queries))
        ]
        timings["sparse"] = _ms(clock)
        return lists

    def detect_language(self, query: str) -> str:
        """The query's language among the index's languages and the default; the default when unsure."""
        return self.query_language(query).lang

    def query_language(self, query: str, given: str | None = None) -> Detection:
        """The query's language and how far to trust it: certain when the caller ``given`` it, else detected
        among the index's languages and the default (the default, with low confidence, when unsure)."""
        if given:
            return Detection(given, 1.0, 1.0)
        return self._detector.detect(query, fallback=self.default_query_lang)

    def _check(self, params: SearchParams) -> None:
        if params.mode not in MODES:
            raise InvalidRequestError(f"mode must be one of {', '.join(MODES)}, got {params.mode!r}")
        if params.k < 1 or params.depth < 1:
            raise InvalidRequestError("k and depth must be at least 1")
        if params.offset < 0:
            raise InvalidRequestError(f"offset must be at least 0, got {params.offset}")
        if params.translate_query and self.query_translator is None:
            raise QueryTranslationUnavailableError(
                "translate_query=true needs a query translation model, and this service has none: set "
                "service.query_translator (a Hugging Face id or local path, e.g. Helsinki-NLP/opus-mt-en-fr)"
            )
        if params.mode == "dense" and self.index.dense is None:
            raise InvalidRequestError(f"index {self.name!r} has no dense side; use mode=sparse")
        if params.mode == "latent" and self.stale_latent:
            raise InvalidRequestError(f"index {self.name!r} cannot be searched by latent terms: {self.stale_latent}")
        if params.mode == "latent" and not self.has_latent:
            raise InvalidRequestError(
                f"index {self.name!r} has no latent terms its query encoder can search (build it with an encoder "
                "that has them, e.g. the default); use mode=dense, sparse or hybrid"
            )
        if params.mode == "sparse" and not self.index.sparse:
            if self.index.sparse_error:
                raise JavaUnavailableError(f"sparse search is unavailable: {self.index.sparse_error}")
            raise InvalidRequestError(f"index {self.name!r} has no sparse side; use mode=dense")

    def sparse_views(self, query_lang: str) -> list[str]:
        """Views BM25 searches for a query: the view in the query's language when there is one (original
        text, translation or generated queries), else every view in a document language."""
        if query_lang in self.index.sparse:
            return [query_lang]
        return [lang for lang in self.index.manifest.languages if lang in self.index.sparse]

    def _sparse_texts(self, query: str, lang: str, params: SearchParams) -> dict[str, str]:
        """The text BM25 searches in each view for one query (translated into each view with QT)."""
        if params.translate_query and self.query_translator is not None:
            return translated_views(
                self.query_translator, query, lang, self.index.manifest.languages, self.index.sparse
            )
        return {view: query for view in self.sparse_views(lang)}

    def _sparse_lists(
        self, found: Mapping[str, tuple[Ranking, float]], detection: Detection, params: SearchParams, with_signals: bool
    ) -> SparseLists:
        """One query's ranked lists by retriever name and their signals."""
        rankings: dict[str, Ranking] = {}
        signals: dict[str, ViewSignals] = {}
        for view, (hits, coverage) in found.items():
            name = f"sparse:{view}"
            rankings[name] = hits
            if with_signals:
                signals[name] = ViewSignals(
                    lang=view,
                    # how sure we are that this view is in the query's language (a translated query is)
                    match=1.0 if params.translate_query else detection.confidence if view == detection.lang else 0.0,
                    coverage=coverage,
                    gap=top_gap(hits),
                )
        return rankings, signals

    def _fuse(self, retrieval: Retrieval, params: SearchParams) -> tuple[list[FusedHit], dict[str, Any]]:
        """The fused hits up to the end of the page, and one more (to tell whether more follow)."""
        limit = params.offset + params.k + 1
        rankings: dict[str, Ranking] = dict(retrieval.sparse)
        if retrieval.dense is not None:
            rankings["dense"] = retrieval.dense
        if retrieval.latent is not None:
            rankings["latent"] = retrieval.latent
        if len(rankings) == 1:  # one retriever: keep its own scores (score desc, doc id asc), nothing to fuse
            ((name, ranking),) = rankings.items()
            ordered = sorted(enumerate(ranking, start=1), key=lambda item: (-item[1][1], item[1][0]))
            return [
                FusedHit(doc_id, score, {name: Contribution(rank, score, None, 1.0, score)})
                for rank, (doc_id, score) in ordered[:limit]
            ], {"single": name}
        if params.fusion == "auto":
            profile = self.profile_for(params)
            fused, weights = fuse_language_aware(rankings, retrieval.signals, profile, limit=limit)
            if not params.explain:  # the explanation's extras cost ~0.1 ms (asdict deep-copies): skip unasked
                return fused, {}
            return fused, {
                "profile": profile.name,
                "weights": weights,
                "normalization": {"dense": profile.dense_normalization, "sparse": profile.sparse_normalization},
                "signals": {name: asdict(sig) for name, sig in retrieval.signals.items()},
            }
        weights = {name: _weight(name, params.weights) for name in rankings}
        return fuse(
            rankings,
            params.fusion,
            weights=weights,
            rrf_k=params.rrf_k,
            normalization=params.normalization,
            limit=limit,
        ), {}


def _depth(params: SearchParams) -> int:
    """Candidates per retriever: ``depth``, or enough to fill the page."""
    return max(params.depth, params.offset + params.k)


def _weight(name: str, weights: Mapping[str, float] | None) -> float:
    if not weights:
        return 1.0
    if name in weights:
        return float(weights[name])
    family = name.split(":", 1)[0]
    return float(weights.get(family, 1.0))


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


__all__ = ["Hit", "Mode", "SearchParams", "SearchResult", "Searcher", "SourceHit"]
