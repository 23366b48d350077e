"""Which Serve deployment holds which shard of an index, and the version a deployment was made for.

A sharded index (``shards.json``) has N shards; ``group`` consecutive shards make one deployment (one
shard per deployment by default). A plain index directory is one shard: the index root itself. Documents
are routed to their shard by the same stable hash the build used
(:func:`~passerelle.indexing.shards.layout.shard_of`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from passerelle.indexing.errors import ConfigError, IndexFormatError
from passerelle.indexing.manifest import MANIFEST
from passerelle.indexing.shards.layout import is_sharded, read_shards, shard_of

SPARSE_DEPLOYMENT = "bm25"
DIRECTORY_DEPLOYMENT = "directory"
VERSION_CHARS = 16


def index_version(root: Path) -> str:
    """The version of the index published at ``root``: the first 16 hex digits of its manifest's sha256
    (a new publish writes a new manifest: created_at, counts and checksums change).

    Raises:
        IndexFormatError: ``root`` holds no published index.
    """
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise IndexFormatError(f"{root} is not an index directory (no {MANIFEST}); build one with `index build`")
    return hashlib.sha256(path.read_bytes()).hexdigest()[:VERSION_CHARS]


def check_version(root: Path, version: str) -> None:
    """Refuse to open ``root`` unless it is still the version a deployment was made for.

    Raises:
        IndexFormatError: the index was published again since (reload the service to serve the new one).
    """
    found = index_version(root)
    if found != version:
        raise IndexFormatError(
            f"index {root} is now version {found}, not {version} as deployed: it was published again; "
            "reload the service (POST /v1/admin/reload) to serve the new version"
        )


@dataclass(frozen=True)
class StoreLayout:
    """The shards of one index (directories relative to its root) and how deployments group them."""

    shard_dirs: tuple[str, ...]
    group: int = 1

    @classmethod
    def read(cls, root: Path, group: int = 1) -> StoreLayout:
        """The layout of the index at ``root`` (``.`` as the only shard of a plain index).

        Raises:
            ConfigError: ``group`` below 1.
            IndexFormatError: an unreadable ``shards.json``.
        """
        if group < 1:
            raise ConfigError(f"shards per deployment must be at least 1, got {group}")
        dirs = tuple(entry.path for entry in read_shards(root).shards) if is_sharded(root) else (".",)
        return cls(shard_dirs=dirs, group=group)

    @property
    def shard_count(self) -> int:
        """Shards of the index (1 for a plain index)."""
        return len(self.shard_dirs)

    @property
    def deployment_count(self) -> int:
        """Shard deployments: ``ceil(shards / group)``."""
        return -(-self.shard_count // self.group)

    def shards_of(self, deployment: int) -> list[int]:
        """The shard numbers deployment ``deployment`` holds."""
        first = deployment * self.group
        return list(range(first, min(first + self.group, self.shard_count)))

    def deployment_name(self, deployment: int) -> str:
        """``shard-00003`` for one shard, ``shards-00004-00007`` for a group."""
        shards = self.shards_of(deployment)
        if len(shards) == 1:
            return f"shard-{shards[0]:05d}"
        return f"shards-{shards[0]:05d}-{shards[-1]:05d}"

    def deployment_names(self) -> list[str]:
        """Every shard deployment's name, in shard order."""
        return [self.deployment_name(n) for n in range(self.deployment_count)]

    def shard_of_doc(self, doc_id: str) -> int:
        """The shard holding ``doc_id`` (the build's hash)."""
        return shard_of(doc_id, self.shard_count)

    def deployment_of_doc(self, doc_id: str) -> int:
        """The deployment holding ``doc_id``."""
        return self.shard_of_doc(doc_id) // self.group
