"""The dense store: a FAISS inner-product index over L2-normalized vectors plus its row -> doc id map.

Rows are append-only; deleting or replacing a document tombstones its row (an empty line in
``rows.tsv``) and searches skip tombstones with a FAISS ID selector, so every FAISS kind supports
deletes without a rebuild.

A filtered search (``allowed``: a boolean mask over the rows) passes the mask to FAISS as a bitmap
selector, so the top ``k`` is taken among the allowed rows only:

- ``flat``: exact, whatever the filter (FAISS scores only the allowed rows);
- ``hnsw``: the graph is searched with the selector while the filter allows more than
  :data:`~passerelle.indexing.defaults.FILTER_EXACT_MAX_ROWS` rows; a more selective filter is answered
  exactly instead, by the flat scan of the allowed rows' stored vectors (HNSW keeps them uncompressed).
  Graph search costs about the same whatever the filter but finds fewer of the true neighbours as the
  filter narrows; the scan is exact and costs in proportion to the rows allowed. Measured on the
  100,000-document synthetic corpus of the benchmarks (512-d, one thread, a shared 2-core machine, so
  times are inflated): unfiltered HNSW recall@10 0.96; under a filter allowing 10,118 rows, graph 0.7 ms
  at recall 0.90, scan 7 ms exact; allowing 1,015 rows, graph 0.5 ms at recall 0.40, scan 0.4 ms exact.
  Exactness is worth those milliseconds up to 20,000 rows (about 15 ms here, a few on a quiet core);
  docs/BENCHMARKS.md, "Dense search under a filter", has both ways;
- ``ivf-pq``: ``nprobe`` grows as the filter narrows (``nprobe / share of rows allowed``, at most every
  list), so as many allowed vectors are scored as an unfiltered search scores; a filter allowing under
  ``1/nlist`` of the rows probes every list: every allowed row is scored (with its PQ code).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import sparse

from passerelle.indexing.defaults import FILTER_EXACT_MAX_ROWS, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, IVF_NPROBE
from passerelle.indexing.errors import ConfigError, IndexFormatError
from passerelle.indexing.hugepages import collapse_faiss_vectors
from passerelle.indexing.latent import LatentMatrix, LatentSpec

logger = logging.getLogger(__name__)

FaissKind = Literal["auto", "flat", "hnsw", "ivf-pq"]
INDEX_FILE = "index.faiss"
ROWS_FILE = "rows.tsv"
FLAT_MAX_DOCS = 100_000  # exact search stays under ~10 ms a query on one core up to here (docs/BENCHMARKS.md)
HNSW_MAX_DOCS = 2_000_000


@dataclass(frozen=True)
class FaissSpec:
    """FAISS index kind and parameters (recorded in the manifest).

    ``hnsw_m``/``ef_construction``/``ef_search`` apply to ``hnsw``; ``nlist``/``pq_m``/``nprobe`` to
    ``ivf-pq`` (``nlist = 0`` means ``4 * sqrt(n)``, capped by the training sample).
    """

    kind: FaissKind = "auto"
    hnsw_m: int = HNSW_M
    ef_construction: int = HNSW_EF_CONSTRUCTION
    ef_search: int = HNSW_EF_SEARCH
    nlist: int = 0
    pq_m: int = 0
    nprobe: int = IVF_NPROBE
    extra: dict[str, Any] = field(default_factory=dict)

    def resolved(self, n_docs: int, dim: int) -> FaissSpec:
        """Fix ``auto`` and derived parameters for a corpus of ``n_docs`` vectors of size ``dim``."""
        kind = self.kind
        if kind == "auto":
            kind = "flat" if n_docs <= FLAT_MAX_DOCS else "hnsw" if n_docs <= HNSW_MAX_DOCS else "ivf-pq"
        nlist, pq_m = self.nlist, self.pq_m
        if kind == "ivf-pq":
            nlist = nlist or max(1, min(int(4 * math.sqrt(max(n_docs, 1))), max(1, n_docs // 39)))
            pq_m = pq_m or _largest_divisor_at_most(dim, 64)
            if dim % pq_m:
                raise ConfigError(f"ivf-pq: pq_m={pq_m} must divide the vector dimension {dim}")
        return FaissSpec(
            kind=kind,
            hnsw_m=self.hnsw_m,
            ef_construction=self.ef_construction,
            ef_search=self.ef_search,
            nlist=nlist,
            pq_m=pq_m,
            nprobe=self.nprobe,
            extra=dict(self.extra),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaissSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def _faiss() -> Any:
    """The faiss module, imported on first use (its stubs lack the search-parameter classes we use)."""
    import faiss

    return faiss


def _largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def create_faiss_index(spec: FaissSpec, dim: int, training: np.ndarray | None = None) -> Any:
    """A new, empty (trained when needed) FAISS index for a resolved ``spec``."""
    faiss = _faiss()

    if spec.kind == "flat":
        return faiss.IndexFlatIP(dim)
    if spec.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = spec.ef_construction
        index.hnsw.efSearch = spec.ef_search
        return index
    if spec.kind == "ivf-pq":
        if training is None or len(training) < spec.nlist:
            raise ConfigError(
                f"ivf-pq needs at least nlist={spec.nlist} training vectors, got "
                f"{0 if training is None else len(training)}; use flat or hnsw for small corpora"
            )
        nbits = 8 if len(training) >= 256 * 39 else 4
        index = faiss.index_factory(dim, f"IVF{spec.nlist},PQ{spec.pq_m}x{nbits}", faiss.METRIC_INNER_PRODUCT)
        index.train(np.ascontiguousarray(training, dtype=np.float32))
        index.nprobe = spec.nprobe
        return index
    raise ConfigError(f"unknown FAISS kind {spec.kind!r}: use flat, hnsw, ivf-pq or auto")


class DenseStore:
    """A FAISS index with a row -> (doc id, lang) map and tombstones."""

    def __init__(self, index: Any, spec: FaissSpec, row_ids: list[str], row_langs: list[str]) -> None:
        if index.ntotal != len(row_ids):
            raise IndexFormatError(f"dense index has {index.ntotal} vectors but {len(row_ids)} row ids")
        self.index = index
        self.spec = spec
        self.row_ids = row_ids
        self.row_langs = row_langs
        self._row_of = {doc_id: row for row, doc_id in enumerate(row_ids) if doc_id}
        self._selectors: dict[frozenset[str] | None, Any] = {}
        self._live: np.ndarray | None = None
        self.search_threads: int | None = None  # OpenMP threads per search (None: FAISS's default, every core)
        self.exact_filter_rows = FILTER_EXACT_MAX_ROWS  # hnsw: filters allowing at most this many rows scan
        self.latent: LatentMatrix | None = None  # latent-term vectors of the same rows (indexing/latent.py)

    @property
    def row_index(self) -> Mapping[str, int]:
        """Doc id -> row of its live vector."""
        return self._row_of

    @property
    def live_count(self) -> int:
        """Number of searchable (not deleted) vectors."""
        return len(self._row_of)

    def add(
        self, doc_ids: list[str], langs: list[str], vectors: np.ndarray, latent: sparse.csr_matrix | None = None
    ) -> None:
        """Append vectors (and their latent-term rows when the store keeps them); a doc id already present
        must be removed first."""
        if (self.latent is None) != (latent is None):
            raise IndexFormatError("latent-term rows must be added with the vectors of a store that keeps them")
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        if self.latent is not None and latent is not None:
            self.latent.append(latent)
        for doc_id, lang in zip(doc_ids, langs, strict=True):
            self._row_of[doc_id] = len(self.row_ids)
            self.row_ids.append(doc_id)
            self.row_langs.append(lang)
        self._selectors.clear()
        self._live = None

    def remove(self, doc_ids: list[str]) -> int:
        """Tombstone the rows of ``doc_ids``; returns how many were present."""
        removed = 0
        for doc_id in doc_ids:
            row = self._row_of.pop(doc_id, None)
            if row is not None:
                self.row_ids[row] = ""
                self.row_langs[row] = ""
                removed += 1
        self._selectors.clear()
        self._live = None
        return removed

    def live_rows(self) -> np.ndarray:
        """A boolean mask of the rows that are not deleted."""
        if self._live is None:
            self._live = np.fromiter((bool(d) for d in self.row_ids), dtype=bool, count=len(self.row_ids))
        return self._live

    def _selector(self, langs: frozenset[str] | None) -> Any:
        if langs is None and self.live_count == len(self.row_ids):
            return None
        if langs not in self._selectors:
            faiss = _faiss()

            pairs = zip(self.row_ids, self.row_langs, strict=True)
            allowed = np.fromiter(
                (bool(d) and (langs is None or lang in langs) for d, lang in pairs), dtype=bool, count=len(self.row_ids)
            )
            bitmap = np.packbits(allowed, bitorder="little")
            self._selectors[langs] = (faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap)), bitmap)
        return self._selectors[langs][0]

    def search(
        self, vectors: np.ndarray, k: int, langs: frozenset[str] | None = None, *, allowed: np.ndarray | None = None
    ) -> list[list[tuple[str, float]]]:
        """Top-``k`` ``(doc_id, inner product)`` per query vector, skipping deleted rows and other languages,
        and, with ``allowed`` (a boolean mask over the rows), every row it does not allow (see the module
        docstring)."""
        faiss = _faiss()

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        if self.search_threads is not None:
            faiss.omp_set_num_threads(self.search_threads)  # libgomp: a per-thread setting, so set it each call
        if allowed is not None:
            return self._search_allowed(vectors, k, allowed & self.live_rows())
        k = min(k, self.live_count)
        if k <= 0:
            return [[] for _ in range(len(vectors))]
        selector = self._selector(langs)
        params: Any = None
        if self.spec.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.spec.ef_search, k))
        elif self.spec.kind == "ivf-pq":
            params = faiss.SearchParametersIVF(nprobe=self.spec.nprobe)
        elif selector is not None:
            params = faiss.SearchParameters()
        if params is not None and selector is not None:
            params.sel = selector
        if params is None:
            scores, rows = self.index.search(vectors, k)
        else:
            scores, rows = self.index.search(vectors, k, params=params)
        return self._hits(scores, rows)

    def _hits(self, scores: np.ndarray, rows: np.ndarray) -> list[list[tuple[str, float]]]:
        return [
            [(self.row_ids[r], float(s)) for s, r in zip(srow, rrow, strict=True) if r >= 0 and self.row_ids[r]]
            for srow, rrow in zip(scores, rows, strict=True)
        ]

    def _search_allowed(self, vectors: np.ndarray, k: int, allowed: np.ndarray) -> list[list[tuple[str, float]]]:
        faiss = _faiss()

        count = int(allowed.sum())
        k = min(k, count)
        if k <= 0:
            return [[] for _ in range(len(vectors))]
        bitmap = np.packbits(allowed, bitorder="little")  # referenced until the search returns
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
        index, params = self.index, faiss.SearchParameters()
        if self.spec.kind == "hnsw" and count <= self.exact_filter_rows:
            index = faiss.downcast_index(self.index.storage)  # the stored vectors: an exact scan of the allowed rows
        elif self.spec.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.spec.ef_search, k))
        elif self.spec.kind == "ivf-pq":
            nlist = faiss.extract_index_ivf(self.index).nlist
            share = count / max(len(allowed), 1)
            params = faiss.SearchParametersIVF(nprobe=min(nlist, math.ceil(self.spec.nprobe / share)))
        params.sel = selector
        scores, rows = index.search(vectors, k, params=params)
        del bitmap
        return self._hits(scores, rows)

    def save(self, directory: Path) -> None:
        """Write ``index.faiss`` and ``rows.tsv`` into ``directory``."""
        faiss = _faiss()

        directory.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(directory / INDEX_FILE))
        if self.latent is not None:
            self.latent.save(directory)
        with open(directory / ROWS_FILE, "w", encoding="utf-8") as out:
            for doc_id, lang in zip(self.row_ids, self.row_langs, strict=True):
                out.write(f"{doc_id}\t{lang}\n")

    @classmethod
    def load(
        cls, directory: Path, spec: FaissSpec, *, mmap: bool = False, latent: LatentSpec | None = None
    ) -> DenseStore:
        """Read a store written by :meth:`save` (with its latent-term rows when ``latent`` names their head)."""
        faiss = _faiss()

        index_path, rows_path = directory / INDEX_FILE, directory / ROWS_FILE
        for path in (index_path, rows_path):
            if not path.is_file():
                raise IndexFormatError(f"missing dense file {path}")
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap and spec.kind != "hnsw" else 0
        index = faiss.read_index(str(index_path), flags)
        if not flags:  # vectors in anonymous memory: huge pages make the scan faster and steady
            collapse_faiss_vectors(index)
        row_ids, row_langs = [], []
        with open(rows_path, encoding="utf-8") as rows:
            for line in rows:
                doc_id, _, lang = line.rstrip("\n").partition("\t")
                row_ids.append(doc_id)
                row_langs.append(lang)
        if spec.kind == "ivf-pq":
            faiss.extract_index_ivf(index).nprobe = spec.nprobe
        store = cls(index, spec, row_ids, row_langs)
        if latent is not None:
            store.latent = LatentMatrix.load(directory, latent, len(row_ids))
        return store

    def search_latent(
        self, queries: sparse.csr_matrix, k: int, *, allowed: np.ndarray | None = None
    ) -> list[list[tuple[str, float]]]:
        """Top-``k`` ``(doc_id, latent-terms score)`` per query among the live rows (and ``allowed`` ones).

        Raises:
            IndexFormatError: the store keeps no latent terms.
        """
        if self.latent is None:
            raise IndexFormatError("this index has no latent terms; rebuild it with an encoder that has them")
        mask = self.live_rows() if allowed is None else allowed & self.live_rows()
        return [
            [(self.row_ids[r], float(s)) for r, s in zip(rows, scores, strict=True)]
            for rows, scores in self.latent.top(queries, k, mask)
        ]
