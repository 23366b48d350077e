"""The docstore's per-thread connections: a served index is read from many worker threads, and closing it
(after a reload replaced it) must release every one of them, not only the closing thread's."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from passerelle.indexing.docstore import DocStore
from passerelle.indexing.documents import Document


def _open_handles(path: Path) -> int:
    """File descriptors of this process open on ``path``."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path.resolve()):
                count += 1
        except OSError:
            continue
    return count


def test_close_releases_the_connections_of_every_thread(tmp_path: Path) -> None:
    path = tmp_path / "docs.sqlite"
    writer = DocStore(path)
    writer.add([Document(id=f"d{i}", lang="fr", title=f"t{i}", text=f"texte {i}") for i in range(20)])
    writer.close()
    store = DocStore(path, readonly=True)
    with ThreadPoolExecutor(max_workers=4) as pool:  # four threads, each with its own connection
        found = list(pool.map(lambda i: store.get(f"d{i % 20}"), range(40)))
        assert all(doc is not None for doc in found) and _open_handles(path) >= 2
        store.close()
        assert _open_handles(path) == 0
        again = list(pool.map(lambda i: store.get(f"d{i % 20}"), range(8)))  # still usable after close
    assert [doc.id for doc in again if doc] == [f"d{i % 20}" for i in range(8)]
    store.close()
    assert _open_handles(path) == 0
