"""Synthetic corpora for the scale benchmark: real documents repeated with perturbation, and their vectors.

Encoding a million documents is out of reach on a CPU (the bundled encoders do ~70-170 documents/s), so
the base documents are encoded once, for real, and each synthetic copy gets

- a perturbed text: each word dropped with probability ``drop``, adjacent words swapped with probability
  ``swap`` (so BM25 sees realistic, non-identical postings and document lengths), and a new id
  ``<id>~<copy>``;
- a perturbed vector: the base document's vector plus gaussian noise ``N(0, sigma^2)`` per dimension,
  L2-normalized again (so FAISS sees a realistic, clustered cloud rather than exact duplicates).

Copy 0 is the base set itself, unchanged. The vectors do not come from encoding the perturbed texts:
latency and memory are realistic, retrieval quality on such a corpus is not.

Every document also gets a ``year`` drawn uniformly from :data:`YEARS` (100 values, its own random
stream), declared as :data:`META_FIELDS`, so the filtered benchmark can pick a filter's share of the
corpus: ``year >= 2015`` allows 10%, ``year == 2024`` 1%.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from passerelle.bench.timing import BenchmarkError
from passerelle.indexing.documents import Document
from passerelle.indexing.encoders.base import Encoder, EncoderSpec, l2_normalize

YEARS: tuple[int, ...] = tuple(range(1925, 2025))
META_FIELDS = "year:int"


@dataclass(frozen=True)
class BaseSet:
    """Real documents and their real vectors, aligned (row i is document i)."""

    docs: list[Document]
    vectors: np.ndarray


@dataclass(frozen=True)
class Perturbation:
    """How synthetic copies differ from their base document."""

    drop: float = 0.1
    swap: float = 0.1
    sigma: float = 0.02
    seed: int = 0


def base_from_index(index_dir: Path) -> BaseSet:
    """The documents of an index (docstore) with their vectors read back from its flat FAISS index.

    Raises:
        BenchmarkError: the index has no dense side, or its FAISS kind cannot give vectors back exactly.
    """
    import faiss

    from passerelle.indexing.docstore import DocStore

    dense = Path(index_dir) / "dense"
    if not (dense / "index.faiss").is_file():
        raise BenchmarkError(f"{index_dir} has no dense side: the scale benchmark needs real vectors")
    index = faiss.read_index(str(dense / "index.faiss"))
    if not isinstance(index, faiss.IndexFlat):
        raise BenchmarkError(
            f"{index_dir} has a {type(index).__name__} index; build the base index with "
            "--faiss flat so its vectors can be read back exactly"
        )
    row_ids = [line.split("\t", 1)[0] for line in (dense / "rows.tsv").read_text(encoding="utf-8").splitlines()]
    vectors = index.reconstruct_n(0, index.ntotal)
    store = DocStore(Path(index_dir) / "docs.sqlite", readonly=True)
    try:
        docs = store.get_many([d for d in row_ids if d])
    finally:
        store.close()
    keep = [row for row, doc_id in enumerate(row_ids) if doc_id in docs]
    return BaseSet(docs=[docs[row_ids[row]] for row in keep], vectors=np.ascontiguousarray(vectors[keep]))


def perturb_text(text: str, rng: np.random.Generator, drop: float, swap: float) -> str:
    """``text`` with words dropped (probability ``drop``; one word always stays) and adjacent words swapped
    (probability ``swap`` per position). Line breaks are kept."""
    lines = []
    for line in text.split("\n"):
        words = line.split()
        if not words:
            lines.append("")
            continue
        kept = [w for w, r in zip(words, rng.random(len(words)), strict=True) if r >= drop] or [words[0]]
        for i in np.flatnonzero(rng.random(max(len(kept) - 1, 0)) < swap):
            kept[i], kept[i + 1] = kept[i + 1], kept[i]
        lines.append(" ".join(kept))
    return "\n".join(lines)


def perturb_vectors(vectors: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """``vectors`` plus ``N(0, sigma^2)`` noise per dimension, rows L2-normalized again (float32)."""
    noise = rng.standard_normal(vectors.shape, dtype=np.float32) * np.float32(sigma)
    return l2_normalize(np.asarray(vectors, dtype=np.float32) + noise)


def write_synthetic(
    base: BaseSet, n: int, corpus_out: Path, vectors_out: Path, perturbation: Perturbation | None = None
) -> int:
    """Write ``n`` documents (JSONL, Passerelle's corpus fields) and their float32 vectors (raw, row-major).

    Documents cycle over the base set: copy 0 is the base itself, copy ``c`` has ids ``<id>~<c>``.
    Returns the number written.

    Raises:
        BenchmarkError: an empty base set or ``n < 1``.
    """
    if not base.docs or n < 1:
        raise BenchmarkError(f"cannot grow {len(base.docs)} base documents to {n}")
    p = perturbation or Perturbation()
    rng = np.random.default_rng(p.seed)
    years = np.random.default_rng(p.seed + 1)  # apart, so the texts and vectors do not depend on it
    size = len(base.docs)
    corpus_out.parent.mkdir(parents=True, exist_ok=True)
    with open(corpus_out, "w", encoding="utf-8") as docs_file, open(vectors_out, "wb") as vectors_file:
        for start in range(0, n, size):
            copy = start // size
            count = min(size, n - start)
            vectors = base.vectors[:count] if copy == 0 else perturb_vectors(base.vectors[:count], rng, p.sigma)
            vectors_file.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
            drawn = years.integers(YEARS[0], YEARS[-1] + 1, count)
            for doc, year in zip(base.docs[:count], drawn, strict=True):
                record = {**_perturbed(doc, copy, rng, p).to_record(), "year": int(year)}
                docs_file.write(json.dumps(record, ensure_ascii=False) + "\n")
    return n


def _perturbed(doc: Document, copy: int, rng: np.random.Generator, p: Perturbation) -> Document:
    if copy == 0:
        return doc
    return Document(
        id=f"{doc.id}~{copy}",
        lang=doc.lang,
        title=perturb_text(doc.title, rng, p.drop, p.swap),
        text=perturb_text(doc.text, rng, p.drop, p.swap),
        views={lang: perturb_text(text, rng, p.drop, p.swap) for lang, text in doc.views.items()},
    )


class PrecomputedEncoder:
    """An encoder whose document vectors are read, in order, from a raw float32 file; queries go to the
    real ``encoder``. Its spec is the real encoder's, so the index it builds searches with the real one.

    The build pipeline encodes documents in corpus order, exactly once each, which this relies on; the
    build checks that the vector count matches the document count.
    """

    def __init__(self, encoder: Encoder, vectors_path: Path) -> None:
        self.encoder = encoder
        self.vectors = np.memmap(vectors_path, dtype=np.float32, mode="r").reshape(-1, encoder.spec.dim)
        self.position = 0

    @property
    def spec(self) -> EncoderSpec:
        """The real encoder's spec."""
        return self.encoder.spec

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries with the real encoder."""
        return self.encoder.encode_queries(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """The next ``len(texts)`` precomputed vectors.

        Raises:
            BenchmarkError: more documents than vectors.
        """
        stop = self.position + len(texts)
        if stop > len(self.vectors):
            raise BenchmarkError(f"asked for vector {stop} of {len(self.vectors)} precomputed")
        rows = np.array(self.vectors[self.position : stop])
        self.position = stop
        return rows
