"""Load an index directory for searching: manifest checked, stores opened, encoder matched.

One entry point for both layouts: a plain index directory (:func:`~passerelle.indexing.loaded.load_directory`)
and a sharded one (:func:`~passerelle.indexing.shards.load.load_sharded`).
"""

from __future__ import annotations

from pathlib import Path

from passerelle.indexing.encoders.base import Encoder
from passerelle.indexing.loaded import LoadedIndex, LoadOptions, Verify, load_directory, shared_encoder
from passerelle.indexing.publish import recover
from passerelle.indexing.shards.layout import SHARDS_FILE
from passerelle.indexing.shards.load import load_sharded

__all__ = ["LoadedIndex", "Verify", "load_index", "shared_encoder"]


def load_index(
    path: Path | str,
    *,
    encoder: Encoder | None = None,
    verify: Verify = "size",
    dense: bool = True,
    sparse: bool = True,
    query_threads: int | None = None,
) -> LoadedIndex:
    """Open the index at ``path``.

    Args:
        encoder: use this encoder instead of recreating the one the manifest records; it must match.
        query_threads: CPU threads one search may use in the query encoder and in FAISS (``None``: every
            core, right for batch evaluation; a server answering concurrent requests wants 1).
        verify: check files against the manifest: ``full`` (sha256), ``size`` (default, fast) or ``none``.
            A sharded index (``shards.json``) is checked shard by shard, each against its own manifest.
        dense / sparse: open either side (the other is left out).

    Raises:
        IndexFormatError: missing, incomplete (no manifest), damaged or incompatible index.
        EncoderMismatchError: ``encoder`` cannot reproduce the index's vectors.
    """
    path = Path(path).resolve()
    recover(path)
    opener = load_sharded if (path / SHARDS_FILE).is_file() else load_directory
    options = LoadOptions(encoder=encoder, verify=verify, dense=dense, sparse=sparse, query_threads=query_threads)
    return opener(path, options)
