"""Filtered FAISS search for each kind: flat is exact, HNSW answers selective filters by an exact scan,
IVF-PQ probes more lists as the filter narrows; deleted rows and other shards never leak in."""

from __future__ import annotations

import numpy as np
import pytest

from passerelle.indexing.dense import DenseStore, FaissSpec, create_faiss_index
from passerelle.indexing.shards.load import ShardedDenseStore

N, DIM, K = 3000, 32, 10


def _vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((20, DIM)).astype(np.float32)
    points = centers[rng.integers(0, 20, n)] + 0.3 * rng.standard_normal((n, DIM)).astype(np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


VECTORS, QUERIES = _vectors(N, 0), _vectors(20, 1)
IDS = [f"d{i:05d}" for i in range(N)]


def _store(kind: str, vectors: np.ndarray = VECTORS, ids: list[str] = IDS) -> DenseStore:
    spec = FaissSpec(kind=kind, nlist=30 if kind == "ivf-pq" else 0, nprobe=2).resolved(len(vectors), DIM)  # type: ignore[arg-type]
    index = create_faiss_index(spec, DIM, vectors if kind == "ivf-pq" else None)
    store = DenseStore(index, spec, [], [])
    store.add(list(ids), ["fr"] * len(ids), vectors)
    return store


def _brute(vectors: np.ndarray, ids: list[str], query: np.ndarray, mask: np.ndarray, k: int) -> list[str]:
    scores = vectors @ query
    rows = sorted(np.flatnonzero(mask), key=lambda r: (-scores[r], ids[r]))
    return [ids[r] for r in rows[:k]]


def _mask(share: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(N) < share


@pytest.mark.parametrize("share", [0.5, 0.1, 0.01, 0.002])
def test_flat_is_exact_under_any_filter(share: float) -> None:
    store, mask = _store("flat"), _mask(share, 2)
    for query in QUERIES:
        got = [d for d, _ in store.search(query, K, allowed=mask)[0]]
        assert got == _brute(VECTORS, IDS, query, mask, K)


def test_hnsw_scans_the_allowed_rows_exactly_below_the_threshold() -> None:
    store, mask = _store("hnsw"), _mask(0.05, 3)
    store.exact_filter_rows = int(mask.sum())
    for query in QUERIES:
        assert [d for d, _ in store.search(query, K, allowed=mask)[0]] == _brute(VECTORS, IDS, query, mask, K)


def test_hnsw_graph_search_returns_only_allowed_rows_above_the_threshold() -> None:
    store, mask = _store("hnsw"), _mask(0.5, 4)
    store.exact_filter_rows = 0
    allowed = {IDS[r] for r in np.flatnonzero(mask)}
    recall = []
    for query in QUERIES:
        hits = store.search(query, K, allowed=mask)[0]
        assert len(hits) == K and {d for d, _ in hits} <= allowed
        recall.append(len({d for d, _ in hits} & set(_brute(VECTORS, IDS, query, mask, K))) / K)
    assert np.mean(recall) > 0.9


def test_ivf_pq_probes_every_list_for_a_very_selective_filter() -> None:
    store, mask = _store("ivf-pq"), _mask(0.01, 5)  # 1% < 1/nlist: nprobe grows to nlist
    exhaustive = _store("ivf-pq")
    exhaustive.spec = FaissSpec(kind="ivf-pq", nlist=30, nprobe=30, pq_m=store.spec.pq_m)
    allowed = {IDS[r] for r in np.flatnonzero(mask)}
    for query in QUERIES:
        got = [d for d, _ in store.search(query, K, allowed=mask)[0]]
        every = [d for d, _ in exhaustive.search(query, N)[0] if d in allowed]  # every list, then filtered
        assert got == every[:K]


def test_deleted_rows_stay_out_even_when_the_mask_allows_them() -> None:
    for kind in ("flat", "hnsw"):
        store = _store(kind)
        top = [d for d, _ in store.search(QUERIES[0], 5)[0]]
        store.remove(top[:2])
        hits = store.search(QUERIES[0], K, allowed=np.ones(N, dtype=bool))[0]
        assert not {d for d, _ in hits} & set(top[:2]) and len(hits) == K


def test_a_sharded_store_searches_each_shard_inside_its_slice_of_the_mask() -> None:
    half = N // 2
    sharded = ShardedDenseStore(
        [_store("flat", VECTORS[:half], IDS[:half]), None, _store("flat", VECTORS[half:], IDS[half:])]
    )
    mask = _mask(0.05, 6)
    for query in QUERIES:
        got = [d for d, _ in sharded.search(query, K, allowed=mask)[0]]
        assert got == _brute(VECTORS, IDS, query, mask, K)
    assert sharded.search(QUERIES[0], K, allowed=np.zeros(N, dtype=bool)) == [[]]
