"""Huge pages under the vectors of a loaded flat index (Linux MADV_COLLAPSE), without changing results."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from passerelle.indexing.dense import DenseStore
from passerelle.indexing.hugepages import collapse_faiss_vectors
from passerelle.indexing.options import FaissSpec


def huge_kib(address: int) -> int:
    """AnonHugePages (KiB) of this process's mapping that holds ``address``."""
    inside = False
    for line in Path(f"/proc/{os.getpid()}/smaps").read_text().splitlines():
        span = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
        if span:
            inside = int(span.group(1), 16) <= address < int(span.group(2), 16)
        elif inside and line.startswith("AnonHugePages:"):
            return int(line.split()[1])
    return 0


@pytest.fixture
def saved_flat(tmp_path: Path) -> tuple[Path, np.ndarray]:
    import faiss

    # 36 MiB: above glibc's largest mmap threshold (32 MiB), so the vectors get a mapping of their own
    vectors = np.random.default_rng(7).standard_normal((36_000, 256)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(256)
    index.add(vectors)
    store = DenseStore(index, FaissSpec(kind="flat"), [f"d{i}" for i in range(36_000)], ["fr"] * 36_000)
    store.save(tmp_path / "dense")
    return tmp_path / "dense", vectors


def test_a_loaded_flat_index_sits_on_huge_pages_and_answers_the_same(
    saved_flat: tuple[Path, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    import faiss

    from passerelle.indexing import dense

    answers: list[bool] = []

    def recording_collapse(index: object) -> bool:
        answers.append(collapse_faiss_vectors(index))
        return answers[-1]

    monkeypatch.setattr(dense, "collapse_faiss_vectors", recording_collapse)
    directory, vectors = saved_flat
    plain = faiss.read_index(str(directory / "index.faiss"))
    store = DenseStore.load(directory, FaissSpec(kind="flat"))
    assert len(answers) == 1, "the loader must ask for huge pages under a flat index held in memory"
    queries = vectors[:20]
    assert np.array_equal(store.index.search(queries, 10)[1], plain.search(queries, 10)[1])
    if not answers[0]:
        # an old kernel (MADV_COLLAPSE is Linux 6.1+) or, on a long-used machine, no free 2 MiB page just now:
        # the loader goes on with 4 KiB pages, which is its promise; the pages cannot be checked
        pytest.skip("the kernel did not collapse this memory into huge pages just now")
    loaded = huge_kib(int(faiss.downcast_index(store.index).codes.data()))
    if loaded == 0:
        # seen on a long-used CI machine running DAMON (kdamond): the collapse succeeded and the pages were split
        # again before this line; a partial collapse would still fail below
        pytest.skip("the kernel split the collapsed pages again (DAMON or khugepaged)")
    assert loaded >= 30 * 1024  # all but the unaligned ends


def test_an_mmapped_index_is_left_to_the_page_cache(
    saved_flat: tuple[Path, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    from passerelle.indexing import dense

    calls: list[object] = []
    monkeypatch.setattr(dense, "collapse_faiss_vectors", calls.append)
    directory, vectors = saved_flat
    store = DenseStore.load(directory, FaissSpec(kind="flat"), mmap=True)
    assert calls == []
    assert store.index.search(vectors[:3], 1)[1][:, 0].tolist() == [0, 1, 2]
