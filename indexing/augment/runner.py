"""The batch step: run a generator or translator over a corpus or an index and write a resumable JSONL.

Documents come from an index directory (its docstore) or a corpus file/folder (read with the same field
mapping as ``index build``). Progress is a tqdm bar over documents; a re-run skips finished work.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from passerelle.indexing.augment.errors import AugmentConfigError
from passerelle.indexing.augment.protocols import QueryGenerator, Translator
from passerelle.indexing.augment.records import AugmentRecord, Kind
from passerelle.indexing.augment.writer import AugmentWriter
from passerelle.indexing.documents import Document
from passerelle.indexing.errors import CorpusError
from passerelle.indexing.readers import CorpusFormat, FieldMapping, read_records, to_document

logger = logging.getLogger(__name__)


@dataclass
class AugmentStats:
    """What a run did: units (document x language) written, skipped as already done, and empty outputs."""

    written: int = 0
    skipped: int = 0
    records: int = 0
    empty: int = 0
    documents: int = 0


def iter_documents(
    source: Path | str, *, fmt: CorpusFormat = "auto", mapping: FieldMapping | None = None, lang: str | None = None
) -> Iterator[Document]:
    """Documents of an index directory (has ``manifest.json``) or of a corpus.

    Raises:
        ConfigError / CorpusError: the source is missing or a record is bad (file:line).
    """
    source = Path(source)
    if (source / "manifest.json").is_file():
        from passerelle.indexing.docstore import DocStore

        store = DocStore(source / "docs.sqlite", readonly=True)
        try:
            yield from store
        finally:
            store.close()
        return
    for item in read_records(source, fmt):
        if isinstance(item, CorpusError):
            raise item
        yield to_document(item, mapping or FieldMapping(), default_lang=lang)


def _batched(docs: Iterable[Document], size: int) -> Iterator[list[Document]]:
    batch: list[Document] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _parse_langs(langs: Sequence[str]) -> list[str]:
    parsed = [lang.strip().lower() for lang in langs if lang.strip()]
    if not parsed:
        raise AugmentConfigError("no target languages: pass --langs, e.g. --langs fr,en")
    return parsed


def generate_file(
    docs: Iterable[Document],
    generator: QueryGenerator,
    langs: Sequence[str],
    n: int,
    out: Path | str,
    *,
    batch_size: int = 8,
    progress: bool = True,
    total: int | None = None,
) -> AugmentStats:
    """Write ``n`` generated queries per document and target language to ``out`` (resumable).

    Raises:
        AugmentConfigError: no languages or ``n`` < 1. AugmentFileError: ``out`` is damaged beyond a torn end.
    """
    if n < 1:
        raise AugmentConfigError(f"n (queries per language) must be at least 1, got {n}")
    targets = _parse_langs(langs)
    stats = AugmentStats()
    with (
        AugmentWriter(out, {"query": n}) as writer,
        tqdm(total=total, unit="doc", desc="generating", disable=not progress, dynamic_ncols=True) as bar,
    ):
        for batch in _batched(docs, batch_size):
            for lang in targets:
                todo = [doc for doc in batch if not writer.done(doc.id, "query", lang)]
                stats.skipped += len(batch) - len(todo)
                if not todo:
                    continue
                for doc, queries in zip(todo, generator.generate(todo, lang, n), strict=True):
                    _write(writer, stats, doc.id, "query", lang, queries)
            stats.documents += len(batch)
            bar.update(len(batch))
    return stats


def translate_file(
    docs: Iterable[Document],
    translator: Translator,
    langs: Sequence[str],
    out: Path | str,
    *,
    batch_size: int = 8,
    progress: bool = True,
    total: int | None = None,
) -> AugmentStats:
    """Write the translation of each document's title and text into every target language other than its own.

    Raises:
        AugmentConfigError: no languages. AugmentFileError: ``out`` is damaged beyond a torn end.
    """
    targets = _parse_langs(langs)
    stats = AugmentStats()
    with (
        AugmentWriter(out, {"translation": 1}) as writer,
        tqdm(total=total, unit="doc", desc="translating", disable=not progress, dynamic_ncols=True) as bar,
    ):
        for batch in _batched(docs, batch_size):
            for lang in targets:
                todo = [doc for doc in batch if doc.lang != lang and not writer.done(doc.id, "translation", lang)]
                stats.skipped += sum(1 for doc in batch if doc.lang != lang) - len(todo)
                by_source: dict[str, list[Document]] = {}
                for doc in todo:
                    by_source.setdefault(doc.lang, []).append(doc)
                for source, group in by_source.items():
                    texts = translator.translate([doc.contents for doc in group], source, lang)
                    for doc, text in zip(group, texts, strict=True):
                        _write(writer, stats, doc.id, "translation", lang, [text])
            stats.documents += len(batch)
            bar.update(len(batch))
    return stats


def _write(
    writer: AugmentWriter, stats: AugmentStats, doc_id: str, kind: Kind, lang: str, texts: Sequence[str]
) -> None:
    kept = [" ".join(text.split()) for text in texts if text and text.strip()]
    stats.empty += len(texts) - len(kept)
    if kept:
        writer.write_unit([AugmentRecord(doc_id=doc_id, kind=kind, lang=lang, text=t) for t in kept])
        stats.records += len(kept)
    else:
        writer.mark(doc_id, kind, lang)
    stats.written += 1
