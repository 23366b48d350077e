"""Compare the searches of two indexes (a sharded one against a single one built from the same documents)."""

from __future__ import annotations

from pathlib import Path

from support import SAMPLE_DIR, read_tsv

# every sample query: 32 English ones, and the French ones (they reach the French view through its analyzer)
SAMPLE_QUERIES = [
    *read_tsv(SAMPLE_DIR / "queries.dev.tsv").values(),
    *read_tsv(SAMPLE_DIR / "queries.dev.fr.tsv").values(),
]
MODES = ("dense", "sparse", "hybrid")


def ranked(index_dir: Path, mode: str, k: int = 10, queries: list[str] | None = None) -> list[list[tuple[str, float]]]:
    """``(doc_id, score)`` hits per query, as the service's searcher returns them."""
    from passerelle.service.searcher import Searcher, SearchParams

    searcher = Searcher.open(index_dir)
    try:
        results = searcher.search_batch(queries or SAMPLE_QUERIES, SearchParams(mode=mode, k=k))  # type: ignore[arg-type]
    finally:
        searcher.index.close()
    return [[(hit.doc_id, hit.score) for hit in result.hits] for result in results]


def differences(
    expected: list[list[tuple[str, float]]], got: list[list[tuple[str, float]]], tolerance: float = 1e-5
) -> list[str]:
    """Queries whose hits differ in ids, order, or a score by more than ``tolerance`` (empty: identical)."""
    found = []
    for number, (want, have) in enumerate(zip(expected, got, strict=True)):
        ids_differ = [d for d, _ in want] != [d for d, _ in have]
        if ids_differ or any(abs(a - b) > tolerance for (_, a), (_, b) in zip(want, have, strict=True)):
            found.append(f"query {number}: {want[:3]} != {have[:3]}")
    return found
