"""The xQG dense mixing formula, as a pure function.

Zhuang et al., "Augmenting Passage Representations with Query Generation for Enhanced Cross-Lingual
Dense Retrieval" (SIGIR 2023) store, for a passage embedding ``e_p`` and the embeddings ``e_q`` of the
queries generated for it::

    e = (1 - alpha) * e_p + alpha * agg(e_q)        agg = sum (the paper) | mean

with alpha = 0.01 in the paper. By default the mixed vector is **not** L2-renormalized: the inner
product then decomposes exactly as ``(1 - alpha) * <q, e_p> + alpha * agg(<q, e_q>)``, the score
interpolation the paper describes, and FAISS inner-product search (flat, HNSW, IVF-PQ) does not need
unit vectors. ``normalize=True`` rescales each mixed row to unit length instead (cosine of the mix);
the choice is recorded in the index manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from passerelle.indexing.augment.errors import AugmentConfigError
from passerelle.indexing.defaults import AUGMENT_ALPHA

Aggregation = Literal["sum", "mean"]
AGGREGATIONS: tuple[str, ...] = ("sum", "mean")
DEFAULT_ALPHA = AUGMENT_ALPHA


def check_mixing(alpha: float, agg: str) -> None:
    """Refuse an alpha outside [0, 1] or an unknown aggregation.

    Raises:
        AugmentConfigError: saying which value is wrong.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise AugmentConfigError(f"augment alpha must be between 0 and 1, got {alpha}")
    if agg not in AGGREGATIONS:
        raise AugmentConfigError(f"augment aggregation must be 'sum' or 'mean', got {agg!r}")


def mix_embeddings(
    passages: np.ndarray,
    queries: Sequence[np.ndarray],
    alpha: float = DEFAULT_ALPHA,
    agg: Aggregation = "sum",
    *,
    normalize: bool = False,
) -> np.ndarray:
    """Mix each passage vector with the vectors of its generated queries.

    Args:
        passages: ``(n, d)`` passage embeddings ``e_p``.
        queries: ``n`` arrays of shape ``(m_i, d)``: the query embeddings of passage ``i``. A passage
            with no queries (``m_i = 0``) is returned unchanged: there is nothing to mix.
        alpha: weight of the queries, in [0, 1].
        agg: ``sum`` or ``mean`` of the query vectors.
        normalize: L2-renormalize each mixed row (rows left unchanged are not touched).

    Returns:
        A new float32 ``(n, d)`` array; the inputs are not modified.

    Raises:
        AugmentConfigError: bad alpha or aggregation, or shapes that do not line up.
    """
    check_mixing(alpha, agg)
    passages = np.asarray(passages, dtype=np.float32)
    if passages.ndim != 2 or len(queries) != len(passages):
        raise AugmentConfigError(
            f"expected {len(passages)} query groups for passages of shape {passages.shape}, got {len(queries)}"
        )
    mixed = passages.copy()
    for row, group in enumerate(queries):
        group = np.asarray(group, dtype=np.float32)
        if group.size == 0:
            continue
        if group.ndim != 2 or group.shape[1] != passages.shape[1]:
            raise AugmentConfigError(
                f"query vectors of passage {row} have shape {group.shape}, expected (m, {passages.shape[1]})"
            )
        pooled = group.sum(axis=0) if agg == "sum" else group.mean(axis=0)
        vector = (1.0 - alpha) * passages[row].astype(np.float64) + alpha * pooled.astype(np.float64)
        if normalize:
            norm = float(np.linalg.norm(vector))
            if norm > 0:
                vector = vector / norm
        mixed[row] = vector.astype(np.float32)
    return mixed
