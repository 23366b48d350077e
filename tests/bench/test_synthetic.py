"""Synthetic corpora: perturbed texts and vectors, written in order, and the precomputed encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from passerelle.bench.synthetic import (
    BaseSet,
    Perturbation,
    PrecomputedEncoder,
    perturb_text,
    perturb_vectors,
    write_synthetic,
)
from passerelle.bench.timing import BenchmarkError
from passerelle.indexing.documents import Document
from passerelle.indexing.encoders.base import EncoderSpec


class OneHotEncoder:
    """Deterministic 4-d encoder: a query's vector is the one-hot of its length mod 4."""

    spec = EncoderSpec(name="onehot", dim=4)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return np.eye(4, dtype=np.float32)[[len(t) % 4 for t in texts]]

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        return self.encode_queries(texts)


def test_perturb_text_keeps_only_original_words_and_lines() -> None:
    rng = np.random.default_rng(1)
    text = "un deux trois quatre cinq six sept huit\nneuf dix"
    out = perturb_text(text, rng, drop=0.3, swap=0.3)
    assert out.count("\n") == 1
    assert set(out.split()) <= set(text.split())
    assert perturb_text(text, np.random.default_rng(1), 0.0, 0.0) == text


def test_perturb_text_never_empties_a_line() -> None:
    assert perturb_text("seul mot", np.random.default_rng(0), drop=1.0, swap=0.0) == "seul"


def test_perturbed_vectors_are_unit_and_close_for_small_noise() -> None:
    base = np.eye(3, 8, dtype=np.float32)
    out = perturb_vectors(base, np.random.default_rng(0), sigma=0.01)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    assert np.all(np.sum(out * base, axis=1) > 0.99)


def _base() -> BaseSet:
    docs = [
        Document(
            id=f"d{i}",
            lang="fr",
            title=f"titre {i}",
            text=f"le texte numéro {i} est court",
            views={"en": f"text number {i}"},
        )
        for i in range(3)
    ]
    return BaseSet(docs=docs, vectors=np.eye(3, 4, dtype=np.float32))


def test_write_synthetic_cycles_copies_with_new_ids(tmp_path: Path) -> None:
    corpus, vectors = tmp_path / "c.jsonl", tmp_path / "v.f32"
    assert write_synthetic(_base(), 7, corpus, vectors, Perturbation(seed=3)) == 7
    records = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["d0", "d1", "d2", "d0~1", "d1~1", "d2~1", "d0~2"]
    assert records[0]["text"] == "le texte numéro 0 est court"  # copy 0 is the base itself
    assert set(records[3]["translations"]) == {"en"}
    rows = np.fromfile(vectors, dtype=np.float32).reshape(-1, 4)
    assert rows.shape == (7, 4)
    np.testing.assert_array_equal(rows[:3], np.eye(3, 4))
    assert int(np.argmax(rows[6])) == 0  # d0~2 stays near d0's vector


def test_synthetic_years_are_uniform_and_seeded(tmp_path: Path) -> None:
    from passerelle.bench.synthetic import YEARS

    corpus, vectors = tmp_path / "c.jsonl", tmp_path / "v.f32"
    write_synthetic(_base(), 3000, corpus, vectors, Perturbation(seed=3))
    records = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    years = np.array([r["year"] for r in records])
    assert years.min() >= YEARS[0] and years.max() <= YEARS[-1] and len(YEARS) == 100
    assert np.mean(years >= YEARS[-1] - 9) == pytest.approx(0.10, abs=0.02)  # the 10% filter
    assert np.mean(years == YEARS[-1]) == pytest.approx(0.01, abs=0.006)  # the 1% filter
    again = tmp_path / "again.jsonl"
    write_synthetic(_base(), 7, again, tmp_path / "v2.f32", Perturbation(seed=3))
    first = tmp_path / "first.jsonl"
    write_synthetic(_base(), 7, first, tmp_path / "v3.f32", Perturbation(seed=3))
    assert again.read_text() == first.read_text()  # seeded: the same file twice


def test_write_synthetic_refuses_empty(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError):
        write_synthetic(BaseSet(docs=[], vectors=np.zeros((0, 4))), 5, tmp_path / "c", tmp_path / "v")


def test_precomputed_encoder_serves_rows_in_order(tmp_path: Path) -> None:
    path = tmp_path / "v.f32"
    np.arange(12, dtype=np.float32).reshape(3, 4).tofile(path)
    encoder = PrecomputedEncoder(OneHotEncoder(), path)
    assert encoder.spec.name == "onehot"
    np.testing.assert_array_equal(encoder.encode_documents(["a", "b"]), [[0, 1, 2, 3], [4, 5, 6, 7]])
    np.testing.assert_array_equal(encoder.encode_documents(["c"]), [[8, 9, 10, 11]])
    np.testing.assert_array_equal(encoder.encode_queries(["abcde"]), [[0, 1, 0, 0]])  # the real encoder
    with pytest.raises(BenchmarkError):
        encoder.encode_documents(["one too many"])
