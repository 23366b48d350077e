"""Load a sharded index as one :class:`LoadedIndex`: stores that search every shard and merge exactly.

- dense: every shard's FAISS index is searched in parallel (threads: FAISS releases the GIL) for the top
  ``k`` of each, and the lists are merged by score (ties by doc id). With ``flat`` shards this is exactly
  the top ``k`` of one flat index over all documents; ``hnsw``/``ivf-pq`` shards are approximate, as
  one such index would be.
- sparse: one Lucene searcher over all shards with global BM25 statistics
  (:class:`~passerelle.indexing.sparse.multi.MultiLuceneView`).
- docstore: each id is looked up in the one shard its hash names.
"""

from __future__ import annotations

import bisect
import concurrent.futures
import dataclasses
import functools
import heapq
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from passerelle.indexing.dense import DenseStore
from passerelle.indexing.docstore import DocStore
from passerelle.indexing.documents import Document
from passerelle.indexing.errors import IndexFormatError, PasserelleError
from passerelle.indexing.loaded import LoadedIndex, LoadOptions, load_directory, open_sparse_views
from passerelle.indexing.manifest import read_manifest, verify_files
from passerelle.indexing.shards.layout import read_shards, shard_of, verify_shard_manifests

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _shard_pool() -> concurrent.futures.ThreadPoolExecutor:
    """One pool per process for shard searches (shared by every sharded index: reloads leak no threads)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="passerelle-shard"
            )
        return _pool


def merge_top_k(lists: Sequence[Sequence[tuple[str, float]]], k: int) -> list[tuple[str, float]]:
    """The ``k`` best ``(doc_id, score)`` of several ranked lists: score descending, then doc id ascending."""
    return heapq.nsmallest(k, itertools.chain.from_iterable(lists), key=lambda hit: (-hit[1], hit[0]))


class _GlobalRows(Mapping[str, int]):
    """Doc id -> global row: the row in its shard plus the rows of the shards before it."""

    def __init__(self, stores: Sequence[DenseStore | None], offsets: Sequence[int]) -> None:
        self._stores, self._offsets = stores, offsets

    def __getitem__(self, doc_id: str) -> int:
        shard = shard_of(doc_id, len(self._stores))
        store = self._stores[shard]
        if store is None:
            raise KeyError(doc_id)
        return store.row_index[doc_id] + self._offsets[shard]

    def __contains__(self, doc_id: object) -> bool:
        if not isinstance(doc_id, str):
            return False
        store = self._stores[shard_of(doc_id, len(self._stores))]
        return store is not None and doc_id in store.row_index

    def __iter__(self) -> Iterator[str]:
        return itertools.chain.from_iterable(s.row_index for s in self._stores if s is not None)

    def __len__(self) -> int:
        return sum(len(s.row_index) for s in self._stores if s is not None)


class _GlobalColumn(Sequence[str]):
    """A per-row column (``row_ids`` / ``row_langs``) of every shard, addressed by global row."""

    def __init__(self, columns: Sequence[Sequence[str]], offsets: Sequence[int]) -> None:
        self._columns, self._offsets = columns, offsets

    def __getitem__(self, row: Any) -> Any:
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        if row < 0:
            row += len(self)
        shard = bisect.bisect_right(self._offsets, row) - 1
        if not 0 <= row < len(self) or shard < 0:
            raise IndexError(row)
        return self._columns[shard][row - self._offsets[shard]]

    def __len__(self) -> int:
        return self._offsets[-1] + len(self._columns[-1]) if self._columns else 0


class ShardedDenseStore:
    """The dense side of a sharded index, with the part of :class:`DenseStore`'s interface searches use."""

    def __init__(self, stores: Sequence[DenseStore | None]) -> None:
        self.stores = list(stores)
        live = [s for s in self.stores if s is not None]
        if not live:
            raise IndexFormatError("a sharded dense store needs at least one shard with vectors")
        self.spec = live[0].spec
        columns = [s.row_ids if s is not None else [] for s in self.stores]
        self.offsets = list(itertools.accumulate((len(c) for c in columns[:-1]), initial=0))
        self._rows = _GlobalRows(self.stores, self.offsets)
        self.row_ids = _GlobalColumn(columns, self.offsets)
        self.row_langs = _GlobalColumn([s.row_langs if s is not None else [] for s in self.stores], self.offsets)

    @property
    def row_index(self) -> Mapping[str, int]:
        """Doc id -> global row of its live vector."""
        return self._rows

    @property
    def live_count(self) -> int:
        """Searchable vectors over every shard."""
        return sum(s.live_count for s in self.stores if s is not None)

    @property
    def latent(self) -> object | None:
        """Whether the shards keep latent terms (every shard does, or none)."""
        live = [s for s in self.stores if s is not None]
        return live[0].latent if all(s.latent is not None for s in live) else None

    def search(
        self, vectors: np.ndarray, k: int, langs: frozenset[str] | None = None, *, allowed: np.ndarray | None = None
    ) -> list[list[tuple[str, float]]]:
        """Top-``k`` ``(doc_id, inner product)`` per query over every shard (searched in parallel), merged.
        ``allowed`` is a mask over the global rows: each shard searches inside its own slice of it."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        return self._fan_out(
            lambda store, mask: store.search(vectors, k, langs, allowed=mask), allowed, len(vectors), k
        )

    def search_latent(
        self, queries: Any, k: int, *, allowed: np.ndarray | None = None
    ) -> list[list[tuple[str, float]]]:
        """Top-``k`` latent-terms hits per query over every shard, merged (scores are per-row dot products:
        the merge is exact)."""
        return self._fan_out(
            lambda store, mask: store.search_latent(queries, k, allowed=mask), allowed, queries.shape[0], k
        )

    def _fan_out(
        self,
        search: Callable[[DenseStore, np.ndarray | None], list[list[tuple[str, float]]]],
        allowed: np.ndarray | None,
        queries: int,
        k: int,
    ) -> list[list[tuple[str, float]]]:
        """``search`` every shard (its slice of the global ``allowed`` mask) in parallel; merge per query."""
        calls = [
            functools.partial(search, store, None if allowed is None else allowed[offset : offset + len(store.row_ids)])
            for store, offset in zip(self.stores, self.offsets, strict=True)
            if store is not None
        ]
        if len(calls) == 1:
            return calls[0]()
        futures = [_shard_pool().submit(call) for call in calls[1:]]
        per_shard = [calls[0]()]  # the calling thread takes the first shard
        per_shard += [future.result() for future in futures]
        return [merge_top_k([hits[q] for hits in per_shard], k) for q in range(queries)]


def _opened_view(path: Path, views: list[Path], analyzer: str, keyed: bool) -> Any:
    """A MultiLuceneView; a damaged Lucene index (a Java exception) becomes an :class:`IndexFormatError`."""
    from passerelle.indexing.sparse.multi import MultiLuceneView

    try:
        return MultiLuceneView(views, analyzer, keyed=keyed)
    except PasserelleError:
        raise
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:400]
        raise IndexFormatError(
            f"sharded index {path}: a Lucene view is damaged or unreadable ({reason}); "
            "rebuild it, or load it with full verification (verify=full)"
        ) from exc


class ShardedDocStore:
    """Read-only documents by id over every shard; each id is read from the shard its hash names."""

    def __init__(self, stores: Sequence[DocStore]) -> None:
        self.stores = list(stores)

    def _shard(self, doc_id: str) -> DocStore:
        return self.stores[shard_of(doc_id, len(self.stores))]

    def get(self, doc_id: str) -> Document | None:
        """One document, or ``None``."""
        return self._shard(doc_id).get(doc_id)

    def get_many(self, doc_ids: Sequence[str]) -> dict[str, Document]:
        """Documents by id (missing ids are absent), one query per shard involved, in the order asked."""
        by_shard: dict[int, list[str]] = {}
        for doc_id in doc_ids:
            by_shard.setdefault(shard_of(doc_id, len(self.stores)), []).append(doc_id)
        found: dict[str, Document] = {}
        for shard, ids in by_shard.items():
            found.update(self.stores[shard].get_many(ids))
        return {doc_id: found[doc_id] for doc_id in doc_ids if doc_id in found}

    def existing_ids(self, doc_ids: Sequence[str]) -> set[str]:
        """The subset of ``doc_ids`` stored in some shard."""
        return set(self.get_many(doc_ids)) if doc_ids else set()

    def __iter__(self) -> Iterator[Document]:
        for store in self.stores:
            yield from store

    def metadata_rows(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every document's id, language and metadata, shard by shard."""
        for store in self.stores:
            yield from store.metadata_rows()

    def __len__(self) -> int:
        return sum(len(store) for store in self.stores)

    def language_counts(self) -> dict[str, int]:
        """Documents per original language over every shard."""
        counts: dict[str, int] = {}
        for store in self.stores:
            for lang, n in store.language_counts().items():
                counts[lang] = counts.get(lang, 0) + n
        return dict(sorted(counts.items()))

    def close(self) -> None:
        """Close this thread's connection to every shard."""
        for store in self.stores:
            store.close()


def load_sharded(path: Path, options: LoadOptions) -> LoadedIndex:
    """Open the sharded index at ``path`` (see :func:`passerelle.indexing.load.load_index`, which calls this;
    ``path`` resolved and recovered there).

    Raises:
        IndexFormatError: missing, incomplete, damaged or incompatible index or shard.
    """
    encoder, verify = options.encoder, options.verify
    manifest = read_manifest(path)  # present only once the whole sharded build was published
    info = read_shards(path)
    if verify != "none":
        verify_files(path, manifest, full=verify == "full")
    if verify == "full":
        verify_shard_manifests(path, info)
    shards: list[LoadedIndex] = []
    loaded: LoadedIndex | None = None
    try:
        for entry in info.shards:
            shard = load_directory(path / entry.path, dataclasses.replace(options, encoder=encoder, sparse=False))
            encoder = encoder or shard.encoder
            shards.append(shard)
        docstore = ShardedDocStore([s.docstore for s in shards])
        dense_store = None
        if any(s.dense is not None for s in shards):
            dense_store = ShardedDenseStore([s.dense for s in shards])
        loaded = LoadedIndex(
            path=path,
            manifest=manifest,
            docstore=cast(DocStore, docstore),
            dense=cast(DenseStore, dense_store),
            encoder=encoder if dense_store else None,
        )
        if options.sparse:

            def open_view(lang: str, analyzer: str) -> Any:
                views = [
                    path / e.path / "sparse" / lang for e in info.shards if (path / e.path / "sparse" / lang).is_dir()
                ]
                return _opened_view(path, views, analyzer, manifest.sparse_keys) if views else None

            open_sparse_views(loaded, open_view)
    except BaseException:
        if loaded is not None:
            for view in loaded.sparse.values():
                view.close()
        for shard in shards:
            shard.close()
        raise
    return loaded
