"""An index whose stores live in Ray Serve deployments, searched from the ingress as one process searches
a sharded index: the same :class:`~passerelle.service.searcher.Searcher` over a :class:`LoadedIndex` whose
dense, sparse and document stores forward to the store replicas.

- dense: the query vectors (encoded once, here) go to every shard deployment in parallel; each answers
  its top k; the lists are merged by score then doc id (:func:`~passerelle.indexing.shards.load.merge_top_k`,
  the in-process merge), so the hits and scores are those of ``passerelle serve`` on the same index.
- sparse: the BM25 deployment searches a MultiReader over every shard: global statistics, same scores.
- documents and languages: each id is asked of the deployment holding its shard (one call per
  deployment involved, in parallel).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from passerelle.indexing.dense import DenseStore
from passerelle.indexing.docstore import DocStore
from passerelle.indexing.documents import Document
from passerelle.indexing.encoders.base import check_compatible
from passerelle.indexing.loaded import LoadedIndex, shared_encoder
from passerelle.indexing.manifest import Manifest
from passerelle.indexing.shards.load import merge_top_k
from passerelle.service.cluster.calls import Call, StoreCalls
from passerelle.service.cluster.layout import DIRECTORY_DEPLOYMENT, SPARSE_DEPLOYMENT, StoreLayout

if TYPE_CHECKING:
    from passerelle.indexing.sparse.lucene import LuceneView

Ranking = list[tuple[str, float]]


class _Routed:
    """Calls that split doc ids by the deployment holding their shard and merge the answers in order."""

    def __init__(self, calls: StoreCalls, layout: StoreLayout) -> None:
        self.calls, self.layout = calls, layout
        self.names = layout.deployment_names()

    def ask(self, method: str, doc_ids: Sequence[str]) -> dict[str, Any]:
        by_deployment: dict[int, list[str]] = {}
        for doc_id in doc_ids:
            by_deployment.setdefault(self.layout.deployment_of_doc(doc_id), []).append(doc_id)
        answers = self.calls.fan_out([Call(self.names[n], method, (ids,)) for n, ids in by_deployment.items()])
        found: dict[str, Any] = {}
        for answer in answers:
            found.update(answer)
        return {doc_id: found[doc_id] for doc_id in doc_ids if doc_id in found}


class RemoteDense:
    """The dense side: every shard deployment searched in parallel, the lists merged exactly."""

    def __init__(self, routed: _Routed, manifest: Manifest) -> None:
        self._routed = routed
        self.spec = manifest.faiss
        self.live_count = manifest.dense_rows
        self.latent = manifest.latent_spec  # the shard replicas keep the latent terms of their rows

    def search(
        self, vectors: np.ndarray, k: int, langs: frozenset[str] | None = None, *, allowed: np.ndarray | None = None
    ) -> list[Ranking]:
        """Top-``k`` ``(doc_id, inner product)`` per query vector over every shard (no row filter: a
        :class:`RemoteIndex` is not filterable, so the searcher never passes ``allowed``)."""
        if allowed is not None:
            raise ValueError("a Ray-served index cannot filter rows")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        names = self._routed.names
        per_deployment = self._routed.calls.fan_out([Call(name, "dense", (vectors, k, langs)) for name in names])
        if len(per_deployment) == 1:
            return cast(list[Ranking], per_deployment[0])
        return [merge_top_k([hits[q] for hits in per_deployment], k) for q in range(len(vectors))]

    def search_latent(self, queries: Any, k: int, *, allowed: np.ndarray | None = None) -> list[Ranking]:
        """Top-``k`` latent-terms hits per query over every shard, merged exactly (no row filter)."""
        if allowed is not None:
            raise ValueError("a Ray-served index cannot filter rows")
        names = self._routed.names
        per_deployment = self._routed.calls.fan_out([Call(name, "latent", (queries, k)) for name in names])
        if len(per_deployment) == 1:
            return cast(list[Ranking], per_deployment[0])
        return [merge_top_k([hits[q] for hits in per_deployment], k) for q in range(queries.shape[0])]


class RemoteSparseView:
    """One language view of the BM25 deployment (global statistics over every shard)."""

    def __init__(self, calls: StoreCalls, view: str) -> None:
        self._calls, self.view = calls, view

    def search(self, query: str, k: int) -> Ranking:
        """BM25 top-``k`` ``(doc_id, score)``."""
        return cast(Ranking, self._calls.call(SPARSE_DEPLOYMENT, "search", self.view, query, k))

    def search_many(
        self, queries: Sequence[str], k: int, *, coverage: bool = False, within: Any = None
    ) -> list[tuple[Ranking, float]]:
        """BM25 top-``k`` of every query (and its term coverage when ``coverage``), in one round trip (no
        filter: ``within`` must be None, as for :meth:`RemoteDense.search`)."""
        if within is not None:
            raise ValueError("a Ray-served index cannot filter documents")
        answers = self._calls.call(SPARSE_DEPLOYMENT, "search_many", self.view, list(queries), k, coverage)
        return cast(list[tuple[Ranking, float]], answers)

    def close(self) -> None:
        """Nothing to release here (the replicas hold the readers)."""


class RemoteDocStore:
    """Documents by id, each read from the deployment holding its shard."""

    def __init__(self, routed: _Routed, manifest: Manifest) -> None:
        self._routed, self._manifest = routed, manifest

    def get(self, doc_id: str) -> Document | None:
        """One document, or ``None``."""
        return self.get_many([doc_id]).get(doc_id)

    def get_many(self, doc_ids: Sequence[str]) -> dict[str, Document]:
        """Documents by id (missing ids are absent), in the order asked."""
        return cast(dict[str, Document], self._routed.ask("documents", doc_ids)) if doc_ids else {}

    def __len__(self) -> int:
        return self._manifest.doc_count

    def __iter__(self) -> Iterator[Document]:
        raise NotImplementedError("iterating every document of a Ray-served index is not supported")

    def language_counts(self) -> dict[str, int]:
        """Documents per original language (from the manifest)."""
        return dict(self._manifest.languages)

    def close(self) -> None:
        """Nothing to release here."""


@dataclass
class RemoteIndex(LoadedIndex):
    """A :class:`LoadedIndex` whose stores are the deployments of store application ``app``."""

    app: str = ""
    routed: _Routed | None = None
    on_close: Callable[[RemoteIndex], None] | None = None

    @property
    def filterable(self) -> bool:
        """Filters are not served on Ray yet: the ingress holds no filter table (docs/SCALING.md)."""
        return False

    def doc_langs(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """Original languages, asked of the deployments holding the ids."""
        assert self.routed is not None
        return cast(dict[str, str], self.routed.ask("doc_langs", doc_ids)) if doc_ids else {}

    def close(self) -> None:
        """Stop using the store application (its replicas stay up until it is deleted)."""
        if self.on_close is not None:
            callback, self.on_close = self.on_close, None
            callback(self)


def open_remote_index(
    path: Path,
    calls: StoreCalls,
    *,
    query_threads: int | None = 1,
    on_close: Callable[[RemoteIndex], None] | None = None,
) -> RemoteIndex:
    """The index served by the store application ``calls.app``: its manifest and layout asked of the
    application, the query encoder loaded here (and checked against the manifest), the BM25 views the
    replicas hold.

    Raises:
        EncoderMismatchError: the encoder cannot reproduce the index's vectors.
        ServiceUnavailableError: the store application does not answer.
    """
    manifest, layout = calls.call(DIRECTORY_DEPLOYMENT, "describe")
    routed = _Routed(calls, layout)
    index = RemoteIndex(
        path=path,
        manifest=manifest,
        docstore=cast(DocStore, RemoteDocStore(routed, manifest)),
        dense=None,
        encoder=None,
        app=calls.app,
        routed=routed,
    )
    if manifest.dense_rows:
        spec = manifest.encoder
        encoder = shared_encoder(spec.name, spec.query_prefix, spec.passage_prefix, query_threads)
        check_compatible(spec, encoder.spec)
        index.dense, index.encoder = cast(DenseStore, RemoteDense(routed, manifest)), encoder
    if manifest.analyzers:
        views, error = calls.call(SPARSE_DEPLOYMENT, "views")
        index.sparse = {view: cast("LuceneView", RemoteSparseView(calls, view)) for view in views}
        index.sparse_error = error
    index.on_close = on_close
    return index
