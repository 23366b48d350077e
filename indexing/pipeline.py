"""The streaming ingest shared by builds and additions.

Records flow in batches: the main thread maps and validates them, stores them in SQLite and adds their
views to Lucene, then hands the texts to an encoding thread through a bounded queue, so reading, sparse
indexing and encoding overlap and memory stays bounded whatever the corpus size. Vectors are appended
to a raw float32 file in the staging directory; the FAISS index is made from it at the end.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse
from tqdm.auto import tqdm

from passerelle.indexing.augment.apply import AugmentSet, QueryMixer
from passerelle.indexing.docstore import DocStore
from passerelle.indexing.documents import Document
from passerelle.indexing.encoders.base import Encoder, LatentEncoder, latent_spec_of
from passerelle.indexing.errors import CorpusError, UnsupportedLanguageError
from passerelle.indexing.language import LanguageDetector
from passerelle.indexing.latent import LatentSpec
from passerelle.indexing.options import BuildOptions
from passerelle.indexing.readers import Record, to_document
from passerelle.indexing.sparse.analyzers import STANDARD, analyzer_for
from passerelle.indexing.sparse.lucene import LuceneWriter

logger = logging.getLogger(__name__)

VECTORS_FILE = "vectors.f32"
_DONE = None


@dataclass
class IngestResult:
    """What an ingest added."""

    added: int = 0
    languages: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    sparse_added: Counter[str] = field(default_factory=Counter)
    row_ids: list[str] = field(default_factory=list)
    row_langs: list[str] = field(default_factory=list)
    vectors_path: Path | None = None
    dim: int = 0
    latent_spec: LatentSpec | None = None  # the head of ``latent`` (None: no latent terms)
    latent: list[sparse.csr_matrix] = field(default_factory=list)  # latent-term rows, in row order


class Ingest:
    """Streams records into a staging index directory (docstore + Lucene views + a vectors file)."""

    def __init__(
        self,
        root: Path,
        options: BuildOptions,
        docstore: DocStore,
        encoder: Encoder | None,
        analyzers: dict[str, str],
        *,
        append: bool = False,
        total: int | None = None,
        augment: AugmentSet | None = None,
        mixer: QueryMixer | None = None,
    ) -> None:
        self.root = root
        self.options = options
        self.docstore = docstore
        self.encoder = encoder if options.dense else None
        self.analyzers = analyzers  # lang -> analyzer; grows as new view languages appear
        self.append = append
        self.total = total
        self.detector = LanguageDetector() if options.detect and not options.lang else None
        self._writers: dict[str, LuceneWriter] = {}
        self._warned_langs: set[str] = set()
        self.augment = augment  # translations become views, generated queries expand views
        self.mixer = mixer if self.encoder is not None else None  # generated queries mixed into vectors
        self.result = IngestResult()

    def run(self, records: Iterable[Record | CorpusError]) -> IngestResult:
        """Ingest every record; returns counts and the vectors file. Raises on the first bad record
        unless ``on_error`` is ``skip``."""
        bar = tqdm(
            total=self.total,
            unit="doc",
            desc="indexing",
            disable=not self.options.progress,
            dynamic_ncols=True,
            smoothing=0.1,
        )
        latent = latent_spec_of(self.encoder) if self.options.latent else None
        encoding = (
            _EncodingThread(self.encoder, self.root / "dense" / VECTORS_FILE, bar, self.mixer, latent is not None)
            if self.encoder
            else None
        )
        finished = False
        try:
            for batch in self._batches(records):
                if self.augment is not None:
                    batch = [self.augment.apply(doc) for doc in batch]
                self._store(batch)
                if encoding is not None:
                    encoding.submit(batch)
                    self.result.row_ids.extend(doc.id for doc in batch)
                    self.result.row_langs.extend(doc.lang for doc in batch)
                else:
                    bar.update(len(batch))
            if encoding is not None:
                encoding.finish()
                self.result.vectors_path, self.result.dim = encoding.path, encoding.dim
                if latent is not None:
                    self.result.latent_spec, self.result.latent = latent, encoding.latent
            finished = True
        finally:
            if encoding is not None:
                encoding.stop()
            for writer in self._writers.values():
                writer.close(keys=finished)
            bar.close()
        return self.result

    def _fail_or_skip(self, error: CorpusError) -> None:
        if self.options.on_error == "raise":
            raise error
        self.result.skipped[error.kind] += 1
        if sum(self.result.skipped.values()) <= 20:
            logger.warning("skipped %s", error)

    def _batches(self, records: Iterable[Record | CorpusError]) -> Iterator[list[Document]]:
        batch: list[tuple[Document, Record]] = []
        for item in records:
            if isinstance(item, CorpusError):
                self._fail_or_skip(item)
                continue
            try:
                doc = to_document(item, self.options.mapping, default_lang=self.options.lang, detector=self.detector)
            except CorpusError as error:
                self._fail_or_skip(error)
                continue
            batch.append((doc, item))
            if len(batch) >= self.options.batch_size:
                yield self._unique(batch)
                batch = []
        if batch:
            yield self._unique(batch)

    def _unique(self, batch: list[tuple[Document, Record]]) -> list[Document]:
        """Drop (or refuse) ids already stored or repeated within the batch, naming file and line."""
        existing = self.docstore.existing_ids([doc.id for doc, _ in batch])
        seen: set[str] = set()
        kept = []
        for doc, record in batch:
            if doc.id in existing or doc.id in seen:
                hint = " (use --upsert to replace it)" if self.append and doc.id in existing else ""
                self._fail_or_skip(
                    CorpusError(
                        f"duplicate document id {doc.id!r}{hint}",
                        path=record.path,
                        line=record.line,
                        field="id",
                        kind="duplicate_id",
                    )
                )
                continue
            seen.add(doc.id)
            kept.append(doc)
        return kept

    def _store(self, batch: list[Document]) -> None:
        if not batch:
            return
        self._check_languages(batch)
        self.docstore.add(batch)
        if self.options.sparse:
            by_lang: dict[str, list[tuple[str, str]]] = {}
            for doc in batch:
                for lang, text in self._sparse_texts(doc).items():
                    if self.options.sparse_langs is not None and lang not in self.options.sparse_langs:
                        continue
                    if text:
                        by_lang.setdefault(lang, []).append((doc.id, text))
            for lang, pairs in by_lang.items():
                writer = self._writer(lang)
                if writer is not None:
                    writer.add(pairs)
                    self.result.sparse_added[lang] += len(pairs)
        self.result.added += len(batch)
        self.result.languages.update(doc.lang for doc in batch)

    def _sparse_texts(self, doc: Document) -> dict[str, str]:
        if self.augment is not None:
            return self.augment.sparse_texts(doc)
        return {lang: doc.view(lang) or "" for lang in doc.view_langs()}

    def _writer(self, lang: str) -> LuceneWriter | None:
        if lang not in self._writers:
            analyzer = self.analyzers.get(lang) or analyzer_for(lang, self.options.sparse_fallback)
            if analyzer is None:
                return None
            if analyzer == STANDARD and lang not in self.analyzers:
                logger.warning(
                    "no Lucene analyzer for language %r: its BM25 view uses the standard analyzer (Unicode word "
                    "boundaries, lowercase, no stemming, no stopwords); --sparse-fallback error refuses such "
                    "languages, skip leaves them to dense search",
                    lang,
                )
            path = self.root / "sparse" / lang
            append = any(path.glob("segments_*"))  # adding to a copied index: keep its documents
            self.analyzers[lang] = analyzer
            self._writers[lang] = LuceneWriter(path, analyzer, append=append)
        return self._writers[lang]

    def _check_languages(self, batch: list[Document]) -> None:
        if self.encoder is None:
            return
        spec = self.encoder.spec
        for doc in batch:
            if doc.lang in self._warned_langs or spec.covers(doc.lang):
                continue
            message = (
                f"document {doc.id!r} is in {doc.lang!r}, outside the languages encoder {spec.name!r} "
                "was trained on: dense quality may collapse for it (try --encoder e5-small or auto)"
            )
            if self.options.strict_languages:
                raise UnsupportedLanguageError(message + "; refusing because of --strict")
            logger.warning(message)
            self._warned_langs.add(doc.lang)


class _EncodingThread:
    """Encodes batches in the background and appends the vectors, in order, to a raw float32 file."""

    def __init__(
        self,
        encoder: Encoder,
        path: Path,
        bar: tqdm,
        mix: Callable[[list[Document], np.ndarray], np.ndarray] | None = None,
        latent: bool = False,
    ) -> None:
        self.encoder = encoder
        self.mix = mix
        self.latent: list[sparse.csr_matrix] = []  # latent-term rows of each batch, when ``latent``
        self._latent_encoder = encoder if latent and isinstance(encoder, LatentEncoder) else None
        self.path = path
        self.dim = encoder.spec.dim
        self.bar = bar
        path.parent.mkdir(parents=True, exist_ok=True)
        self._out = open(path, "ab")  # noqa: SIM115 - closed by finish() or stop()
        self._queue: queue.Queue[list[Document] | None] = queue.Queue(maxsize=3)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="passerelle-encoder", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is _DONE:
                return
            if self._error is not None:
                continue
            try:
                texts = [doc.contents for doc in batch]
                vectors = self.encoder.encode_documents(texts)
                if self.mix is not None:
                    vectors = self.mix(batch, vectors)
                if self._latent_encoder is not None:
                    self.latent.append(self._latent_encoder.encode_latent(texts))
                self._out.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
                self.bar.update(len(batch))
            except BaseException as exc:  # surfaced in the main thread by _raise_if_failed
                self._error = exc

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, batch: list[Document]) -> None:
        """Queue a batch (blocks while the queue is full: that is the memory bound)."""
        self._raise_if_failed()
        if batch:
            self._queue.put(batch)

    def finish(self) -> None:
        """Wait for every queued batch."""
        self._queue.put(_DONE)
        self._thread.join()
        self._out.close()
        self._raise_if_failed()

    def stop(self) -> None:
        """Release the thread and file even after an error."""
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join(timeout=60)
        if not self._out.closed:
            self._out.close()
