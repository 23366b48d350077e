"""The xQG mix e = (1 - alpha) * e_p + alpha * agg(e_q) on hand-made vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from passerelle.indexing.augment.errors import AugmentConfigError
from passerelle.indexing.augment.mixing import mix_embeddings

E_P = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)
Q0 = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)  # two queries of passage 0
Q1 = np.zeros((0, 3), dtype=np.float32)  # passage 1 has none


def test_sum_follows_the_paper_formula() -> None:
    mixed = mix_embeddings(E_P, [Q0, Q1], alpha=0.25, agg="sum")
    assert mixed[0].tolist() == pytest.approx([1 - 0.25, 0.25 * 1, 0.25 * 1])
    assert mixed[1].tolist() == [0.0, 1.0, 0.0]  # no queries: nothing to mix


def test_mean_divides_by_the_number_of_queries() -> None:
    mixed = mix_embeddings(E_P, [Q0, Q1], alpha=0.25, agg="mean")
    assert mixed[0].tolist() == pytest.approx([1 - 0.25, 0.25 * 1 / 2, 0.25 * 1 / 2])


def test_paper_alpha_and_renormalization() -> None:
    mixed = mix_embeddings(E_P, [Q0, Q1], alpha=0.01, agg="sum", normalize=True)
    norm = math.sqrt(0.99**2 + 0.01**2 + 0.01**2)
    assert mixed[0].tolist() == pytest.approx([0.99 / norm, 0.01 / norm, 0.01 / norm])
    assert np.linalg.norm(mixed[0]) == pytest.approx(1.0)


def test_inner_product_decomposes_into_the_score_interpolation() -> None:
    rng = np.random.default_rng(7)
    passages, queries, q = rng.normal(size=(1, 8)), rng.normal(size=(3, 8)), rng.normal(size=8)
    mixed = mix_embeddings(passages, [queries], alpha=0.3, agg="sum")
    expected = 0.7 * passages[0] @ q + 0.3 * sum(row @ q for row in queries)
    assert float(mixed[0] @ q) == pytest.approx(expected, rel=1e-5)


def test_alpha_bounds_and_inputs_untouched() -> None:
    before = E_P.copy()
    assert mix_embeddings(E_P, [Q0, Q1], alpha=1.0, agg="mean")[0].tolist() == pytest.approx([0.0, 0.5, 0.5])
    assert mix_embeddings(E_P, [Q0, Q1], alpha=0.0)[0].tolist() == [1.0, 0.0, 0.0]
    assert np.array_equal(E_P, before)


@pytest.mark.parametrize(
    ("alpha", "agg", "groups"), [(1.5, "sum", 2), (-0.1, "sum", 2), (0.1, "max", 2), (0.1, "sum", 1)]
)
def test_bad_options_are_refused(alpha: float, agg: str, groups: int) -> None:
    with pytest.raises(AugmentConfigError):
        mix_embeddings(E_P, [Q0, Q1][:groups], alpha=alpha, agg=agg)  # type: ignore[arg-type]


def test_query_dimension_must_match() -> None:
    with pytest.raises(AugmentConfigError, match="expected"):
        mix_embeddings(E_P, [np.ones((1, 4)), Q1], alpha=0.1)
