"""Build an index directory from a corpus, atomically (see :mod:`passerelle.indexing.publish`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from passerelle.indexing.augment.apply import describe_augmentation, load_augment, new_mixer
from passerelle.indexing.dense import FaissSpec
from passerelle.indexing.docstore import DocStore
from passerelle.indexing.encoders.base import Encoder, EncoderSpec
from passerelle.indexing.encoders.registry import choose_encoder, create_encoder
from passerelle.indexing.errors import CorpusError
from passerelle.indexing.finalize import describe, new_dense_store
from passerelle.indexing.language import LanguageDetector
from passerelle.indexing.manifest import Manifest, sha256_file, write_manifest
from passerelle.indexing.options import BuildOptions
from passerelle.indexing.pipeline import Ingest
from passerelle.indexing.publish import cleanup_staging, discard, publish, recover, staging_dir
from passerelle.indexing.readers import Record, detect_format, read_records, to_document

logger = logging.getLogger(__name__)

DOCSTORE = "docs.sqlite"
NO_ENCODER = EncoderSpec(name="none", dim=0)


def build_index(
    corpus: Path | str, out: Path | str, options: BuildOptions | None = None, *, encoder: Encoder | None = None
) -> Manifest:
    """Build a complete index of ``corpus`` at ``out``, replacing any index there only on success.

    The build runs in a temporary sibling directory; ``manifest.json`` is written last and the directory
    renamed into place, so a failed or killed build leaves the previous index untouched.

    Raises:
        CorpusError: a bad record (with file and line) when ``on_error`` is ``raise``, or no documents.
        ConfigError / UnsupportedLanguageError: options that cannot work.
    """
    options = options or BuildOptions()
    corpus, out = Path(corpus), Path(out)
    records = read_records(corpus, options.fmt)  # validates the path and format before any work
    augment = load_augment(options.augment_files, options.augment_alpha, options.augment_agg)
    recover(out)
    cleanup_staging(out)
    staging = staging_dir(out)
    try:
        if options.dense and encoder is None:
            name = options.encoder
            if name == "auto":
                name = choose_encoder(scan_languages(corpus, options))
                logger.info("encoder auto: %s covers the corpus languages", name)
            encoder = create_encoder(name, query_prefix=options.query_prefix, passage_prefix=options.passage_prefix)
        docstore = DocStore(staging / DOCSTORE)
        mixer = new_mixer(
            augment,
            encoder if options.dense else None,
            options.augment_alpha,
            options.augment_agg,
            options.augment_normalize,
        )
        ingest = Ingest(
            staging,
            options,
            docstore,
            encoder,
            analyzers={},
            total=count_records(corpus, options),
            augment=augment,
            mixer=mixer,
        )
        result = ingest.run(records)
        if result.added == 0:
            raise CorpusError("the corpus has no usable documents", path=corpus)
        faiss_spec, dense_rows = FaissSpec(kind="flat"), 0
        if encoder is not None and options.dense:
            store = new_dense_store(result, options.faiss, encoder.spec.dim)
            store.save(staging / "dense")
            faiss_spec, dense_rows = store.spec, len(store.row_ids)
        source: dict[str, object] = {
            "path": str(corpus.resolve()),
            "format": options.fmt if options.fmt != "auto" else detect_format(corpus),
        }
        if corpus.is_file():
            source["sha256"] = sha256_file(corpus)
        augmentation = None
        if augment is not None:
            augment.copy_files(staging)
            augmentation = describe_augmentation(
                augment,
                options.augment_alpha,
                options.augment_agg,
                options.augment_normalize,
                mixer.mixed if mixer else 0,
            )
        manifest = describe(
            staging,
            docstore,
            encoder.spec if encoder else NO_ENCODER,
            faiss_spec,
            ingest.analyzers,
            dict(result.sparse_added),
            dense_rows,
            dict(result.skipped),
            source,
            augmentation=augmentation,
            meta_fields=options.mapping.meta_fields,
        )
        docstore.close()
        write_manifest(staging, manifest)
        publish(staging, out)
        return manifest
    except BaseException:
        discard(staging)
        raise


def count_records(corpus: Path, options: BuildOptions) -> int | None:
    """Cheap record count for the progress bar's ETA (``None`` when unknown)."""
    fmt = options.fmt if options.fmt != "auto" else detect_format(corpus)
    path = corpus / "corpus.jsonl" if corpus.is_dir() else corpus
    if fmt in ("jsonl", "beir", "tsv"):
        with open(path, "rb") as handle:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        return max(lines - (1 if fmt == "tsv" else 0), 0)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    return None


def scan_languages(corpus: Path, options: BuildOptions, limit: int = 2000) -> set[str]:
    """Languages of the first ``limit`` documents (to choose an encoder that covers them)."""
    detector = LanguageDetector() if options.detect and not options.lang else None
    langs: set[str] = set()
    for record in _first(read_records(corpus, options.fmt), limit):
        try:
            langs.add(to_document(record, options.mapping, default_lang=options.lang, detector=detector).lang)
        except CorpusError:
            continue
    return langs


def _first(records: Iterator[Record | CorpusError], limit: int) -> Iterator[Record]:
    for count, record in enumerate(records):
        if count >= limit:
            return
        if isinstance(record, Record):
            yield record
