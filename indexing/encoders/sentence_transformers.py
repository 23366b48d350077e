"""Any sentence-transformers model, by Hugging Face id or local path, with configurable prefixes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib.metadata import version as package_version

import numpy as np

from passerelle.indexing.encoders.base import EncoderSpec, l2_normalize
from passerelle.indexing.errors import ConfigError, model_location_hint


class SentenceTransformerEncoder:
    """A ``sentence_transformers.SentenceTransformer`` on CPU.

    Works offline when the model files are present (a local path, or the Hugging Face cache with
    ``HF_HUB_OFFLINE=1``). Prefixes are added here, not by the model config, so the manifest records them.
    """

    def __init__(
        self,
        model: str,
        *,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 32,
        languages: tuple[str, ...] | None = None,
        threads: int | None = None,
    ) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - dependency is declared
            raise ConfigError("sentence-transformers is not installed") from exc
        if threads:
            torch.set_num_threads(threads)  # process-wide: torch has no per-model setting
        try:
            self._model = SentenceTransformer(model, device="cpu")
        except OSError as exc:
            hint = model_location_hint(model)
            raise ConfigError(f"cannot load sentence-transformers model {model!r}: {exc}.{hint}") from exc
        self._lock = threading.Lock()
        self.batch_size = batch_size
        dim = self._model.get_sentence_embedding_dimension()
        if dim is None:
            raise ConfigError(f"model {model!r} does not declare an embedding dimension")
        self._spec = EncoderSpec(
            name=f"sentence-transformers:{model}",
            dim=int(dim),
            normalize=True,
            query_prefix=query_prefix,
            passage_prefix=passage_prefix,
            version=package_version("sentence-transformers"),
            languages=languages,
        )

    @property
    def spec(self) -> EncoderSpec:
        """The manifest spec of this encoder."""
        return self._spec

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._spec.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                [prefix + t for t in texts], batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
            )
        return l2_normalize(vectors)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries with the query prefix."""
        return self._encode(texts, self._spec.query_prefix)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents with the passage prefix."""
        return self._encode(texts, self._spec.passage_prefix)
