"""Many threads searching one loaded index at once (what the service's worker threads do): no error.

The Lucene side goes through pyjnius, which is not safe for every concurrent use (see
``passerelle.indexing.sparse.lucene._FRESH_OBJECT_CALLS``): this test hammers each Java-backed call the
search path makes, from 8 threads, and fails on the first JVM error. (The whole search path under
concurrent requests: ``test_load_loopback.py``.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from passerelle.indexing.load import load_index

pytestmark = pytest.mark.slow

THREADS, CALLS = 8, 150


def _hammer(call: Callable[[int, int], Any]) -> list[str]:
    errors: list[str] = []

    def work(thread: int) -> None:
        for n in range(CALLS):
            try:
                call(thread, n)
            except Exception as exc:  # collected: the assertion shows them all
                errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}")

    workers = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return errors


@pytest.fixture(scope="module")
def loaded(sample_usem3_index: Path) -> Any:
    index = load_index(sample_usem3_index)
    yield index
    index.close()


def test_concurrent_term_coverage(loaded: Any) -> None:
    view = loaded.sparse["fr"]
    expected = view.term_coverage("boulangère levain farine")
    results: list[float] = []
    errors = _hammer(lambda t, n: results.append(view.term_coverage("boulangère levain farine")))
    assert errors == []
    assert len(results) == THREADS * CALLS and set(results) == {expected}


def test_concurrent_bm25_search(loaded: Any) -> None:
    view = loaded.sparse["fr"]
    expected = view.search("boulangère levain", 5)
    results: list[list[tuple[str, float]]] = []
    errors = _hammer(lambda t, n: results.append(view.search("boulangère levain", 5)))
    assert errors == []
    assert len(results) == THREADS * CALLS and all(r == expected for r in results)


def test_threads_that_called_java_are_detached_when_they_end(loaded: Any) -> None:
    """A thread that ends while attached leaves the JVM a record of a thread whose stack is gone (a crash
    at a later safepoint); every thread must leave the JVM when it ends, also those pools retire."""
    from concurrent.futures import ThreadPoolExecutor

    from passerelle.indexing.sparse import jvm

    java_thread = jvm.autoclass("java.lang.Thread")
    view = loaded.sparse["fr"]
    before = java_thread.activeCount()
    for _ in range(30):
        worker = threading.Thread(target=view.search, args=("boulangère levain", 5))
        worker.start()
        worker.join()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: view.search("levain", 3), range(40)))
    assert java_thread.activeCount() <= before + 1  # not +34: every ended thread was detached
