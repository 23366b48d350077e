"""What the replicas of an index's store deployments hold and answer (plain classes: Ray Serve makes them
deployments, :mod:`passerelle.service.cluster.apps`).

- :class:`ShardReplica`: the FAISS vectors and the SQLite documents of one shard (or a group of shards).
  Queries arrive already encoded: the ingress encodes each query once.
- :class:`SparseReplica`: BM25 over *every* shard through one Lucene ``MultiReader`` per language view
  (:class:`~passerelle.indexing.sparse.multi.MultiLuceneView`), so idf and average document length are
  the whole collection's and scores equal one index's. The Lucene files are memory-mapped, not loaded:
  what it needs is the index files on storage its node sees and page cache for the hot postings.
- :class:`StoreDirectory`: the store application's entry point; says what the version holds.

Each replica opens its files only if the index is still the version its deployment was made for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from passerelle.indexing.documents import Document
from passerelle.indexing.loaded import LoadedIndex, LoadOptions, Verify, load_directory
from passerelle.indexing.manifest import Manifest, read_manifest
from passerelle.indexing.shards.load import merge_top_k
from passerelle.service.cluster.layout import StoreLayout, check_version

Ranking = list[tuple[str, float]]


@dataclass(frozen=True)
class ReplicaInfo:
    """Who answered: the replica's process, the index version and the shards it holds."""

    pid: int
    version: str
    shards: tuple[int, ...]


class ShardReplica:
    """Vectors and documents of the shards ``shards`` of the index at ``root`` (version ``version``)."""

    def __init__(
        self, root: str, shards: Sequence[int], version: str, verify: Verify = "size", threads: int | None = 1
    ) -> None:
        path = Path(root)
        check_version(path, version)
        self.layout = StoreLayout.read(path)
        self.version = version
        self._shards: dict[int, LoadedIndex] = {}
        try:
            for shard in shards:
                self._shards[shard] = load_directory(
                    (path / self.layout.shard_dirs[shard]).resolve(),
                    LoadOptions(verify=verify, sparse=False, query_threads=threads, query_encoder=False),
                )
        except BaseException:
            self.close()
            raise

    def dense(self, vectors: np.ndarray, k: int, langs: frozenset[str] | None = None) -> list[Ranking]:
        """Top-``k`` ``(doc_id, inner product)`` per query vector over this replica's shards."""
        lists = [shard.dense.search(vectors, k, langs) for shard in self._shards.values() if shard.dense is not None]
        if len(lists) == 1:
            return lists[0]
        return [merge_top_k([hits[q] for hits in lists], k) for q in range(len(vectors))]

    def latent(self, queries: Any, k: int) -> list[Ranking]:
        """Top-``k`` ``(doc_id, latent-terms score)`` per query (a CSR matrix) over this replica's shards."""
        lists = [shard.dense.search_latent(queries, k) for shard in self._shards.values() if shard.dense is not None]
        if len(lists) == 1:
            return lists[0]
        return [merge_top_k([hits[q] for hits in lists], k) for q in range(queries.shape[0])]

    def _by_shard(self, doc_ids: Sequence[str]) -> dict[int, list[str]]:
        by_shard: dict[int, list[str]] = {}
        for doc_id in doc_ids:
            shard = self.layout.shard_of_doc(doc_id)
            if shard in self._shards:
                by_shard.setdefault(shard, []).append(doc_id)
        return by_shard

    def documents(self, doc_ids: Sequence[str]) -> dict[str, Document]:
        """The documents of ``doc_ids`` this replica's shards hold (others are absent)."""
        found: dict[str, Document] = {}
        for shard, ids in self._by_shard(doc_ids).items():
            found.update(self._shards[shard].docstore.get_many(ids))
        return found

    def doc_langs(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """The original language of each of ``doc_ids`` held here."""
        langs: dict[str, str] = {}
        for shard, ids in self._by_shard(doc_ids).items():
            langs.update(self._shards[shard].doc_langs(ids))
        return langs

    def info(self) -> ReplicaInfo:
        """This replica's process id, version and shards (tests and benchmarks find replicas by it)."""
        return ReplicaInfo(pid=os.getpid(), version=self.version, shards=tuple(self._shards))

    def ping(self) -> None:
        """Answer nothing: the cost of one call to this deployment (the benchmark's hop)."""

    def close(self) -> None:
        """Release every shard."""
        for shard in self._shards.values():
            shard.close()


class SparseReplica:
    """BM25 over every shard of the index at ``root`` with global statistics (one MultiReader per view)."""

    def __init__(self, root: str, version: str, verify: Verify = "size") -> None:
        from passerelle.indexing.load import load_index

        path = Path(root)
        check_version(path, version)
        self.version = version
        self.index = load_index(path, verify=verify, dense=False, sparse=True)

    def views(self) -> tuple[list[str], str | None]:
        """The language views BM25 searches, and why there are none when Java could not start."""
        return list(self.index.sparse), self.index.sparse_error

    def search(self, view: str, text: str, k: int) -> Ranking:
        """BM25 top-``k`` of ``text`` in language view ``view``."""
        return self.index.sparse[view].search(text, k)

    def search_many(self, view: str, texts: Sequence[str], k: int, coverage: bool) -> list[tuple[Ranking, float]]:
        """BM25 top-``k`` of each text in view ``view``, with its term coverage when ``coverage``."""
        return self.index.sparse[view].search_many(texts, k, coverage=coverage)

    def info(self) -> ReplicaInfo:
        """This replica's process id and version (it spans every shard)."""
        return ReplicaInfo(pid=os.getpid(), version=self.version, shards=())

    def ping(self) -> None:
        """Answer nothing (the benchmark's hop)."""

    def close(self) -> None:
        """Release the Lucene readers and docstores."""
        self.index.close()


class StoreDirectory:
    """The entry point of one index version's store application: its manifest and layout."""

    def __init__(self, root: str, version: str, group: int, *stores: Any) -> None:
        path = Path(root)
        check_version(path, version)
        self.manifest = read_manifest(path)
        self.layout = StoreLayout.read(path, group)
        del stores  # bound only so that Serve deploys them with this application

    def describe(self) -> tuple[Manifest, StoreLayout]:
        """The manifest of the index these stores hold, and which deployment holds which shard."""
        return self.manifest, self.layout
