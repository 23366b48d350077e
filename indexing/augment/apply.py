"""Apply augmentation files to an index build: sparse views and the dense xQG mix.

* A ``translation`` record becomes (or replaces) the document's view in its language (DT); it is
  stored in the docstore with the other views. A translation into the document's own language is
  ignored and counted.
* ``query`` records of a language are appended to that language's Lucene text as expansion terms
  (doc2query); they are not stored in the docstore (the files are copied into ``augment/``).
* The same queries, encoded with the encoder's *query* side, are mixed into the passage vector with
  :func:`~passerelle.indexing.augment.mixing.mix_embeddings`.

The files are read and validated completely before the build starts; the texts are held in memory
(about the size of the files).
"""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from passerelle.indexing.augment.mixing import Aggregation, check_mixing, mix_embeddings
from passerelle.indexing.augment.records import read_augment_file
from passerelle.indexing.documents import Document
from passerelle.indexing.encoders.base import Encoder
from passerelle.indexing.manifest import sha256_file

logger = logging.getLogger(__name__)

AUGMENT_DIR = "augment"


@dataclass(frozen=True)
class AugmentFileInfo:
    """One augmentation file as the manifest records it."""

    path: str
    stored_as: str
    sha256: str
    queries: int
    translations: int


class AugmentSet:
    """The generated queries and translations of one or more files, by document id."""

    def __init__(self) -> None:
        self.translations: dict[str, dict[str, str]] = {}
        self.queries: dict[str, dict[str, list[str]]] = {}
        self.files: list[AugmentFileInfo] = []
        self.used: set[str] = set()
        self.same_lang_ignored = 0

    @classmethod
    def load(cls, paths: list[Path] | tuple[Path, ...]) -> AugmentSet:
        """Read and validate every file (a later file's translation replaces an earlier one).

        Raises:
            AugmentFileError: a missing file or a bad line, naming file:line and field.
        """
        augment = cls()
        for path in paths:
            path = Path(path)
            counts: Counter[str] = Counter()
            for record in read_augment_file(path):
                counts[record.kind] += 1
                if record.kind == "translation":
                    augment.translations.setdefault(record.doc_id, {})[record.lang] = record.text
                else:
                    augment.queries.setdefault(record.doc_id, {}).setdefault(record.lang, []).append(record.text)
            digest = sha256_file(path)
            augment.files.append(
                AugmentFileInfo(
                    path=str(path.resolve()),
                    stored_as=f"{AUGMENT_DIR}/{digest[:12]}-{path.name}",
                    sha256=digest,
                    queries=counts["query"],
                    translations=counts["translation"],
                )
            )
        return augment

    def split(self, assign: Callable[[str], int], count: int) -> list[AugmentSet]:
        """The queries and translations divided into ``count`` sets (no files) by ``assign(doc_id)``, in one
        pass: a sharded build's share per shard."""
        parts = [AugmentSet() for _ in range(count)]
        for doc_id, translations in self.translations.items():
            parts[assign(doc_id)].translations[doc_id] = dict(translations)
        for doc_id, queries in self.queries.items():
            parts[assign(doc_id)].queries[doc_id] = {lang: list(texts) for lang, texts in queries.items()}
        return parts

    def doc_ids(self) -> set[str]:
        """Every document id the files name."""
        return set(self.translations) | set(self.queries)

    def apply(self, doc: Document) -> Document:
        """``doc`` with its translations as views (the original object when there are none)."""
        if doc.id in self.queries:
            self.used.add(doc.id)
        translations = self.translations.get(doc.id)
        if not translations:
            return doc
        self.used.add(doc.id)
        views = dict(doc.views)
        for lang, text in translations.items():
            if lang == doc.lang:
                self.same_lang_ignored += 1
                continue
            views[lang] = text
        return replace(doc, views=views)

    def sparse_texts(self, doc: Document) -> dict[str, str]:
        """Lucene text per language: the document's views, each followed by its generated queries."""
        texts = {lang: doc.view(lang) or "" for lang in doc.view_langs()}
        for lang, queries in self.queries.get(doc.id, {}).items():
            expansion = "\n".join(queries)
            texts[lang] = f"{texts[lang]}\n{expansion}" if texts.get(lang) else expansion
        return {lang: text for lang, text in texts.items() if text}

    def doc_queries(self, doc_id: str) -> list[str]:
        """Every generated query of a document, all languages (the xQG sum runs over all of them)."""
        return [q for queries in self.queries.get(doc_id, {}).values() for q in queries]

    def unmatched(self) -> list[str]:
        """Ids named by the files that no ingested document had."""
        return sorted(self.doc_ids() - self.used)

    def copy_files(self, root: Path) -> None:
        """Copy the files into ``root/augment/`` (the index keeps what it was built from)."""
        (root / AUGMENT_DIR).mkdir(parents=True, exist_ok=True)
        for info in self.files:
            target = root / info.stored_as
            if not target.exists():
                shutil.copyfile(info.path, target)


class QueryMixer:
    """Mixes the generated queries of a batch into its passage vectors (used by the encoding thread)."""

    def __init__(
        self, encoder: Encoder, augment: AugmentSet, alpha: float, agg: Aggregation, normalize: bool = False
    ) -> None:
        check_mixing(alpha, agg)
        self.encoder = encoder
        self.augment = augment
        self.alpha = alpha
        self.agg = agg
        self.normalize = normalize
        self.mixed = 0

    def __call__(self, docs: list[Document], vectors: np.ndarray) -> np.ndarray:
        """Passage vectors of ``docs`` with their queries mixed in (docs without queries unchanged)."""
        per_doc = [self.augment.doc_queries(doc.id) for doc in docs]
        flat = [q for queries in per_doc for q in queries]
        if not flat:
            return vectors
        encoded = self.encoder.encode_queries(flat)
        groups, start = [], 0
        for queries in per_doc:
            groups.append(encoded[start : start + len(queries)])
            start += len(queries)
        self.mixed += sum(1 for queries in per_doc if queries)
        return mix_embeddings(vectors, groups, self.alpha, self.agg, normalize=self.normalize)


COUNT_KEYS = (
    "docs_augmented",
    "docs_with_queries",
    "docs_with_translations",
    "dense_mixed",
    "unmatched_doc_ids",
    "same_lang_translations_ignored",
)


def describe_augmentation(
    augment: AugmentSet,
    alpha: float,
    agg: str,
    normalize: bool,
    dense_mixed: int,
    previous: dict[str, Any] | None = None,
    *,
    warn: bool = True,
) -> dict[str, Any]:
    """The manifest's ``augmentation`` entry (counts added to ``previous`` for ``index add``)."""
    unmatched = augment.unmatched()
    if unmatched and warn:
        _warn_unmatched(len(unmatched), unmatched[:5])
    counts = {
        "docs_augmented": len(augment.used),
        "docs_with_queries": sum(1 for d in augment.used if d in augment.queries),
        "docs_with_translations": sum(1 for d in augment.used if d in augment.translations),
        "dense_mixed": dense_mixed,
        "unmatched_doc_ids": len(unmatched),
        "same_lang_translations_ignored": augment.same_lang_ignored,
    }
    files = [info.__dict__.copy() for info in augment.files]
    if previous:
        files = list(previous.get("files", [])) + files
        counts = {key: int(previous.get(key, 0)) + value for key, value in counts.items()}
    return _entry(files, alpha, agg, normalize, counts)


def merge_augmentation(
    augment: AugmentSet, parts: Sequence[dict[str, Any] | None], alpha: float, agg: str, normalize: bool
) -> dict[str, Any]:
    """One ``augmentation`` entry for a sharded index: the files read by the driver, the counts summed over
    the shards' entries (each document, and so each augmented id, lives in exactly one shard)."""
    counts = {key: sum(int((part or {}).get(key, 0)) for part in parts) for key in COUNT_KEYS}
    counts["unmatched_doc_ids"] = len(augment.doc_ids()) - counts["docs_augmented"]
    if counts["unmatched_doc_ids"]:
        _warn_unmatched(counts["unmatched_doc_ids"], [])
    return _entry([info.__dict__.copy() for info in augment.files], alpha, agg, normalize, counts)


def _entry(
    files: list[dict[str, Any]], alpha: float, agg: str, normalize: bool, counts: dict[str, int]
) -> dict[str, Any]:
    return {
        "files": files,
        "alpha": alpha,
        "agg": agg,
        "renormalized": normalize,
        "formula": f"(1 - alpha) * e_p + alpha * {agg}(e_q)" + (", L2-renormalized" if normalize else ""),
        "query_encoding": "encode_queries",
        **counts,
    }


def _warn_unmatched(count: int, shown_ids: list[str]) -> None:
    shown = (
        ": " + ", ".join(repr(d) for d in shown_ids) + (" ..." if count > len(shown_ids) else "") if shown_ids else ""
    )
    logger.warning("%d document id(s) in the augmentation files are not in the corpus (ignored)%s", count, shown)


def load_augment(files: tuple[Path, ...] | list[Path], alpha: float, agg: str) -> AugmentSet | None:
    """Validate the mixing options and read the files before a build does any work (``None``: no files).

    Raises:
        AugmentConfigError / AugmentFileError: bad alpha or aggregation, or a bad file (file:line:field).
    """
    if not files:
        return None
    check_mixing(alpha, agg)
    return AugmentSet.load([Path(f) for f in files])


def new_mixer(
    augment: AugmentSet | None, encoder: Encoder | None, alpha: float, agg: Aggregation, normalize: bool
) -> QueryMixer | None:
    """A :class:`QueryMixer` when there is an encoder and at least one generated query."""
    if augment is None or encoder is None or not augment.queries:
        return None
    return QueryMixer(encoder, augment, alpha, agg, normalize)
