"""A loaded index and the loader of one (unsharded) index directory.

Both :mod:`passerelle.indexing.load` (which picks plain or sharded) and
:mod:`passerelle.indexing.shards.load` (which opens every shard with :func:`load_directory`) build on this
module, so neither imports the other.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from passerelle.indexing.dense import DenseStore
from passerelle.indexing.docstore import DocStore
from passerelle.indexing.encoders.base import Encoder, check_compatible
from passerelle.indexing.encoders.registry import create_encoder
from passerelle.indexing.errors import IndexFormatError, JavaUnavailableError, PasserelleError
from passerelle.indexing.filter_table import FilterTable, build_table
from passerelle.indexing.manifest import Manifest, read_manifest, verify_files
from passerelle.indexing.sparse.lucene import LuceneView

logger = logging.getLogger(__name__)

Verify = Literal["full", "size", "none"]
T = TypeVar("T")


@dataclass
class LoadedIndex:
    """An index ready to search. ``sparse_error`` says why BM25 is unavailable when the JVM failed."""

    path: Path
    manifest: Manifest
    docstore: DocStore
    dense: DenseStore | None
    encoder: Encoder | None
    sparse: dict[str, LuceneView] = field(default_factory=dict)
    sparse_error: str | None = None
    _table: FilterTable | None = field(default=None, repr=False)
    _table_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def filter_table(self) -> FilterTable:
        """The rows and typed columns filters are evaluated on (built on first use, then kept: an index
        copy never changes; an update publishes a new copy that is loaded anew)."""
        with self._table_lock:
            if self._table is None:
                self._table = build_table(self.docstore, self.dense, self.manifest.declared_fields)
            return self._table

    @property
    def filterable(self) -> bool:
        """Whether searches can be restricted by filters (every index opened from its files can)."""
        return True

    @property
    def name(self) -> str:
        """The index directory's name (used to address it over HTTP)."""
        return self.path.name

    def doc_langs(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """The original language of each of ``doc_ids`` found (from the dense rows when loaded, else the
        docstore); ids not in the index are absent."""
        if self.dense is not None:
            rows = self.dense.row_index
            return {d: self.dense.row_langs[rows[d]] for d in doc_ids if d in rows}
        return {d: doc.lang for d, doc in self.docstore.get_many(doc_ids).items()}

    def close(self) -> None:
        """Release Lucene readers and the docstore connection of this thread."""
        for view in self.sparse.values():
            view.close()
        self.docstore.close()


@functools.lru_cache(maxsize=8)
def shared_encoder(name: str, query_prefix: str, passage_prefix: str, threads: int | None = None) -> Encoder:
    """One encoder instance per process, spec and thread count: reloading an index does not reload the model."""
    return create_encoder(name, query_prefix=query_prefix, passage_prefix=passage_prefix, threads=threads)


@dataclass(frozen=True)
class LoadOptions:
    """What to open and how (see :func:`passerelle.indexing.load.load_index` for each field).

    ``query_encoder=False`` opens the vectors without the encoder (a process that searches vectors encoded
    elsewhere, e.g. a shard replica).
    """

    encoder: Encoder | None = None
    verify: Verify = "size"
    dense: bool = True
    sparse: bool = True
    query_threads: int | None = None
    query_encoder: bool = True


def load_directory(path: Path, options: LoadOptions) -> LoadedIndex:
    """Open one unsharded index directory (``path`` resolved and recovered by the caller).

    Errors as :func:`passerelle.indexing.load.load_index`.
    """
    encoder, verify, query_threads = options.encoder, options.verify, options.query_threads
    manifest = read_manifest(path)
    if verify != "none":
        verify_files(path, manifest, full=verify == "full")
    docstore = open_store(path, lambda: DocStore(path / "docs.sqlite", readonly=True), [])
    loaded = LoadedIndex(path=path, manifest=manifest, docstore=docstore, dense=None, encoder=None)
    if options.dense and manifest.dense_rows and (path / "dense").is_dir():
        spec = manifest.encoder
        if options.query_encoder:
            if encoder is None:
                encoder = shared_encoder(spec.name, spec.query_prefix, spec.passage_prefix, query_threads)
            check_compatible(spec, encoder.spec)
        loaded.dense = open_store(
            path, lambda: DenseStore.load(path / "dense", manifest.faiss, latent=manifest.latent_spec), [loaded]
        )
        loaded.dense.search_threads = query_threads
        loaded.encoder = encoder if options.query_encoder else None
    if options.sparse:

        def open_view(lang: str, analyzer: str) -> LuceneView | None:
            if not (path / "sparse" / lang).is_dir():
                return None
            view = functools.partial(LuceneView, path / "sparse" / lang, analyzer, keyed=manifest.sparse_keys)
            return open_store(path, view, [loaded])

        open_sparse_views(loaded, open_view)
    return loaded


def open_sparse_views(loaded: LoadedIndex, open_view: Callable[[str, str], Any]) -> None:
    """Open one BM25 view per analyzed language of ``loaded.manifest`` (``open_view(lang, analyzer)``;
    ``None`` where the index has no such view). When Java cannot start, the dense side is served alone and
    ``sparse_error`` says why (/readyz and sparse requests report it)."""
    try:
        for lang, analyzer in loaded.manifest.analyzers.items():
            view = open_view(lang, analyzer)
            if view is not None:
                loaded.sparse[lang] = view
    except JavaUnavailableError as exc:
        for opened in loaded.sparse.values():
            opened.close()
        loaded.sparse = {}
        loaded.sparse_error = str(exc)
        logger.error("sparse search disabled for %s: %s", loaded.path, exc)


def open_store(path: Path, open_one: Callable[[], T], to_close: list[LoadedIndex]) -> T:
    """Open one store; a damaged file (whatever its reader raises) becomes an :class:`IndexFormatError`.

    What was already opened (``to_close``) is closed first, so a refused index holds no file or reader.
    """
    try:
        return open_one()
    except JavaUnavailableError:  # not a damaged index: the caller serves without the sparse side
        raise
    except PasserelleError:
        for loaded in to_close:
            loaded.close()
        raise
    except Exception as exc:  # sqlite3, faiss, Lucene (Java), decoding... each fails its own way
        for loaded in to_close:
            loaded.close()
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:400]
        raise IndexFormatError(
            f"index {path} is damaged or unreadable ({reason}); rebuild it, or load it with "
            "full verification (verify=full) to name the damaged file"
        ) from exc
