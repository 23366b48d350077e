"""BM25 over several Lucene indexes at once with *global* statistics: one IndexSearcher over a MultiReader.

Searching each shard alone and merging would not reproduce a single index: BM25's idf and average
document length are per-index statistics, so the same document scores differently in a shard. A Lucene
``MultiReader`` presents the shards as one index (document frequencies and field lengths summed over
them) and the searcher scores its leaves with those global statistics, so the scores and the ranking
are those of one index holding every document.

Queries are built and scored as for a single view (:class:`~passerelle.indexing.sparse.lucene.ReaderView`,
the same code): only the reader differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from passerelle.indexing.sparse import jvm
from passerelle.indexing.sparse.lucene import ReaderView, open_reader


class MultiLuceneView(ReaderView):
    """Searches one language view split over several Lucene indexes as if it were one. Thread-safe."""

    def __init__(self, paths: Sequence[Path], analyzer: str, *, keyed: bool = False) -> None:
        if not paths:
            raise ValueError("MultiLuceneView needs at least one Lucene index")
        self.paths = [Path(p) for p in paths]
        readers: list[Any] = []
        try:
            for path in self.paths:
                readers.append(open_reader(path))
            # closeSubReaders=True: closing the MultiReader closes every shard's reader
            reader = jvm.autoclass("org.apache.lucene.index.MultiReader")(readers, True)
        except BaseException:
            for opened in readers:
                opened.close()
            raise
        super().__init__(reader, self.paths[0], analyzer, f"over {self.paths[0].parent}", keyed=keyed)
