"""The dev (collection, index) pairs the fusion profile is fitted and checked on, built on demand.

Every collection folder under the data directory that has ``corpus.jsonl`` and dev qrels gets an index
with one encoder; a corpus carrying translations (XQuAD's ``translations.en``) also gets a ``-nodt`` index
whose BM25 searches only the documents' own language (no translation view), so the fit sees both kinds
of sparse evidence. Indexes and evidence are cached under a work directory and reused when present.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from passerelle.eval.collections import load_collection
from passerelle.eval.fusion_evidence import QueryEvidence, collect_evidence

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DevPair:
    """One collection and the index to search it with (``views``: BM25 view languages, None for all)."""

    collection: Path
    index: Path
    doc_lang: str | None
    views: frozenset[str] | None

    @property
    def name(self) -> str:
        """``<collection>@<index>``, as fusion reports name pairs."""
        return f"{self.collection.name}@{self.index.name}"


def dev_pairs(data_dir: Path, workdir: Path, encoder: str) -> list[DevPair]:
    """The pairs of every dev collection under ``data_dir`` (sorted by name), indexes under ``workdir``."""
    pairs = []
    for collection in sorted(p for p in Path(data_dir).iterdir() if (p / "corpus.jsonl").is_file()):
        if not (collection / "qrels.dev.tsv").is_file():
            continue
        first = json.loads((collection / "corpus.jsonl").open(encoding="utf-8").readline())
        doc_lang = None if first.get("lang") else collection.name.rsplit("-", 1)[-1]
        index = Path(workdir) / f"{collection.name}-{encoder}"
        pairs.append(DevPair(collection, index, doc_lang, None))
        if first.get("translations"):  # the same corpus without its translation view
            lang = str(first.get("lang") or doc_lang)
            pairs.append(DevPair(collection, index.with_name(index.name + "-nodt"), doc_lang, frozenset({lang})))
    return pairs


def build_dev_indexes(pairs: list[DevPair], encoder: str, *, progress: bool = False) -> None:
    """Build each pair's index unless it already exists (one encoder instance for all)."""
    from passerelle.indexing.build import build_index
    from passerelle.indexing.encoders.registry import create_encoder
    from passerelle.indexing.options import BuildOptions

    model = None
    for pair in pairs:
        if (pair.index / "manifest.json").is_file():
            continue
        model = model or create_encoder(encoder)
        logger.info("building %s", pair.index)
        options = BuildOptions(encoder=encoder, lang=pair.doc_lang, sparse_langs=pair.views, progress=progress)
        build_index(pair.collection / "corpus.jsonl", pair.index, options, encoder=model)


def dev_evidence(
    data_dir: Path, workdir: Path, encoder: str, *, depth: int = 100, progress: bool = False
) -> dict[str, list[QueryEvidence]]:
    """Build what is missing, then each pair's retrieval evidence (cached as JSON under ``workdir``)."""
    pairs = dev_pairs(data_dir, workdir / "indexes", encoder)
    build_dev_indexes(pairs, encoder, progress=progress)
    return {
        pair.name: collect_evidence(
            pair.index,
            load_collection(pair.collection),
            depth=depth,
            cache=workdir / "evidence" / f"{pair.name}.json",
            progress=progress,
        )
        for pair in pairs
    }
