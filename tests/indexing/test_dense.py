"""The FAISS store against brute force, with tombstones and language filters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from passerelle.indexing.dense import DenseStore, FaissSpec, create_faiss_index
from passerelle.indexing.encoders.base import l2_normalize


def _store(kind: str, n: int = 300, dim: int = 16, seed: int = 1) -> tuple[DenseStore, np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = l2_normalize(rng.normal(size=(n, dim)))
    spec = FaissSpec(kind=kind).resolved(n, dim)
    store = DenseStore(create_faiss_index(spec, dim), spec, [], [])
    store.add([f"d{i}" for i in range(n)], ["fr" if i % 2 else "de" for i in range(n)], vectors)
    return store, vectors


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_search_matches_brute_force(kind: str) -> None:
    store, vectors = _store(kind)
    queries = vectors[:5] + 0.01
    expected = np.argsort(-(l2_normalize(queries) @ vectors.T), axis=1)[:, :10]
    got = store.search(l2_normalize(queries), 10)
    for row, hits in zip(expected, got, strict=True):
        assert [d for d, _ in hits] == [f"d{i}" for i in row]


def test_tombstones_and_language_filter() -> None:
    store, vectors = _store("flat")
    store.remove(["d0", "d2"])
    hits = store.search(vectors[0], 3)[0]
    assert "d0" not in [d for d, _ in hits]
    french = store.search(vectors[0], 20, frozenset({"fr"}))[0]
    assert len(french) == 20 and all(int(d[1:]) % 2 == 1 for d, _ in french)
    assert store.live_count == 298


def test_k_larger_than_live_rows_and_round_trip(tmp_path: Path) -> None:
    store, vectors = _store("flat", n=4)
    store.remove(["d1"])
    store.save(tmp_path)
    loaded = DenseStore.load(tmp_path, store.spec)
    hits = loaded.search(vectors[1], 10)[0]
    assert sorted(d for d, _ in hits) == ["d0", "d2", "d3"]


def test_auto_kind_by_corpus_size() -> None:
    assert FaissSpec().resolved(1_000, 384).kind == "flat"
    assert FaissSpec().resolved(500_000, 384).kind == "hnsw"
    big = FaissSpec().resolved(5_000_000, 384)
    assert big.kind == "ivf-pq" and big.pq_m == 64 and big.nlist == int(4 * 5_000_000**0.5)
