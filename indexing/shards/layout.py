"""The layout of a sharded index: ``shards.json``, one normal index directory per shard, a merged manifest.

```
shards.json          format version, shard names and paths, how documents were assigned (a stable hash of
                     the doc id mod N), encoder and FAISS specs, counts, sha256 of each shard's manifest
manifest.json        the merged description (documents, languages, analyzers... summed over the shards);
                     its ``files`` are shards.json and the shard manifests. Written last, like any index.
shards/<name>/       each a complete index directory (docs.sqlite, dense/, sparse/<lang>/, manifest.json)
```

The top-level ``manifest.json`` makes a sharded index publish and recover exactly like a single one
(:mod:`passerelle.indexing.publish`); loaders look for ``shards.json`` first.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from passerelle.indexing.atomic_files import write_text_atomic
from passerelle.indexing.dense import FaissSpec
from passerelle.indexing.encoders.base import EncoderSpec
from passerelle.indexing.errors import IndexFormatError
from passerelle.indexing.manifest import MANIFEST, Manifest, check_format_version, now, package_versions, sha256_file

logger = logging.getLogger(__name__)

SHARDS_FILE = "shards.json"
SHARDS_DIR = "shards"
SHARDS_FORMAT_VERSION = 1
ASSIGNMENT = {
    "method": "blake2b-64",
    "formula": "int.from_bytes(blake2b(doc_id.encode('utf-8'), digest_size=8).digest(), 'big') % shard_count",
}


def shard_of(doc_id: str, shard_count: int) -> int:
    """The shard a document id belongs to: a stable hash of its UTF-8 bytes modulo ``shard_count``.

    Stable across processes, machines and Python versions (unlike ``hash()``), so builders and loaders agree.
    """
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shard_count


def shard_name(index: int) -> str:
    """Directory name of shard ``index`` (``shard-00000``...)."""
    return f"shard-{index:05d}"


def is_sharded(path: Path | str) -> bool:
    """Whether ``path`` holds a sharded index (it has ``shards.json``)."""
    return (Path(path) / SHARDS_FILE).is_file()


@dataclass(frozen=True)
class ShardEntry:
    """One shard: its name, path relative to the index root, counts and its manifest's sha256."""

    name: str
    path: str
    doc_count: int
    dense_rows: int
    manifest_sha256: str


@dataclass
class ShardsInfo:
    """The content of ``shards.json``."""

    shards: list[ShardEntry]
    encoder: EncoderSpec
    faiss: FaissSpec
    doc_count: int
    assignment: dict[str, str] = field(default_factory=lambda: dict(ASSIGNMENT))
    engine: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    created_at: str = ""
    format_version: int = SHARDS_FORMAT_VERSION

    @property
    def shard_count(self) -> int:
        """Number of shards."""
        return len(self.shards)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["encoder"] = self.encoder.to_dict()
        data["faiss"] = self.faiss.to_dict()
        data["shard_count"] = self.shard_count
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShardsInfo:
        """Parse ``shards.json``, refusing unknown format versions and assignment methods."""
        check_format_version(data, SHARDS_FORMAT_VERSION, "sharded index")
        fields = {k: v for k, v in data.items() if k != "shard_count"}
        if fields.get("assignment", {}).get("method") != ASSIGNMENT["method"]:
            raise IndexFormatError(f"unknown shard assignment {fields.get('assignment')!r}; rebuild the index")
        fields["shards"] = [ShardEntry(**entry) for entry in data["shards"]]
        fields["encoder"] = EncoderSpec.from_dict(data["encoder"])
        fields["faiss"] = FaissSpec.from_dict(data["faiss"])
        return cls(**fields)


def write_shards(root: Path, info: ShardsInfo) -> None:
    """Write ``shards.json`` (atomically: temporary file then rename)."""
    write_text_atomic(root / SHARDS_FILE, json.dumps(info.to_dict(), indent=2, ensure_ascii=False) + "\n")


def read_shards(root: Path) -> ShardsInfo:
    """Read and check ``shards.json``.

    Raises:
        IndexFormatError: missing, not JSON, malformed, or from an unknown format version.
    """
    path = Path(root) / SHARDS_FILE
    if not path.is_file():
        raise IndexFormatError(f"{root} is not a sharded index (no {SHARDS_FILE})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        info = ShardsInfo.from_dict(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexFormatError(f"{path} is not valid JSON: {exc}") from exc
    except (KeyError, TypeError, AttributeError) as exc:
        raise IndexFormatError(f"{path} is missing or has a malformed field: {exc}") from exc
    if not info.shards:
        raise IndexFormatError(f"{path} lists no shards; rebuild the index")
    return info


def verify_shard_manifests(root: Path, info: ShardsInfo) -> None:
    """Check each shard's ``manifest.json`` against the sha256 recorded in ``shards.json``.

    Raises:
        IndexFormatError: naming the shard whose manifest is missing or differs.
    """
    for entry in info.shards:
        manifest = root / entry.path / MANIFEST
        if not manifest.is_file():
            raise IndexFormatError(f"sharded index {root} is damaged: {entry.path}/{MANIFEST} is missing")
        if sha256_file(manifest) != entry.manifest_sha256:
            raise IndexFormatError(
                f"sharded index {root} is damaged: {entry.path}/{MANIFEST} does not match "
                f"the checksum in {SHARDS_FILE}; rebuild the index"
            )


def merge_manifests(
    manifests: Sequence[Manifest],
    *,
    encoder: EncoderSpec,
    faiss: FaissSpec,
    source: dict[str, Any],
    skipped: Mapping[str, int] | None = None,
    created_at: str | None = None,
) -> Manifest:
    """One manifest describing all shards: counts summed, analyzers united, the shared encoder, FAISS kind
    and metadata fields.

    Raises:
        IndexFormatError: two shards index one language view with different analyzers, or declare different
            metadata fields.
    """
    languages: Counter[str] = Counter()
    sparse_docs: Counter[str] = Counter()
    skipped_total: Counter[str] = Counter(skipped or {})
    analyzers: dict[str, str] = {}
    for manifest in manifests:
        languages.update(manifest.languages)
        sparse_docs.update(manifest.sparse_docs)
        skipped_total.update(manifest.skipped)
        for lang, analyzer in manifest.analyzers.items():
            if analyzers.setdefault(lang, analyzer) != analyzer:
                raise IndexFormatError(
                    f"shards disagree on the analyzer of view {lang!r}: {analyzers[lang]!r} vs {analyzer!r}"
                )
    meta_fields = manifests[0].meta_fields if manifests else []
    if any(m.meta_fields != meta_fields for m in manifests):
        raise IndexFormatError("shards disagree on the declared metadata fields (meta_fields)")
    timestamp = now()
    return Manifest(
        doc_count=sum(m.doc_count for m in manifests),
        languages=dict(sorted(languages.items())),
        encoder=encoder,
        faiss=faiss,
        analyzers=dict(sorted(analyzers.items())),
        sparse_docs=dict(sorted(sparse_docs.items())),
        dense_rows=sum(m.dense_rows for m in manifests),
        skipped=dict(sorted(skipped_total.items())),
        meta_fields=list(meta_fields),
        sparse_keys=bool(manifests) and all(m.sparse_keys for m in manifests),
        source=source,
        created_at=created_at or timestamp,
        updated_at=timestamp,
    )


def write_top_manifest(root: Path, manifest: Manifest, info: ShardsInfo) -> None:
    """Write the merged ``manifest.json`` (the last file of a sharded build).

    Its ``files`` are ``shards.json``, each shard's manifest (which checksums that shard's own files), so
    nothing is hashed twice, and the augmentation files the build copied.
    """
    listed = [SHARDS_FILE] + [f"{entry.path}/{MANIFEST}" for entry in info.shards]
    listed += [entry["stored_as"] for entry in (manifest.augmentation or {}).get("files", [])]
    manifest.files = {rel: {"size": (root / rel).stat().st_size, "sha256": sha256_file(root / rel)} for rel in listed}
    manifest.packages = package_versions()
    write_text_atomic(root / MANIFEST, json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n")
