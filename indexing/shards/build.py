"""Build a sharded index: partition the corpus by doc id, build each shard with the normal pipeline, publish.

The corpus is read once, by the same readers as a single build (formats, field mappings, file:line errors),
and each record is appended to its shard's spill file (pickled :class:`Record` batches, which keep the
original path and line). Each shard is then built from its spill by :func:`build_shard` (the ordinary
ingest: docstore, Lucene views, encoder, FAISS) by whatever runs the shard tasks: in this process one
after the other (:func:`run_local`), or on a pool of Ray workers (:mod:`passerelle.indexing.shards.ray_build`).
Everything happens in one staging directory published atomically at the end, so a failed build leaves
the previous index untouched.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import pickle
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from passerelle.indexing.augment.apply import (
    AugmentSet,
    describe_augmentation,
    load_augment,
    merge_augmentation,
    new_mixer,
)
from passerelle.indexing.build import DOCSTORE, NO_ENCODER, count_records, scan_languages
from passerelle.indexing.dense import FLAT_MAX_DOCS, HNSW_MAX_DOCS, FaissKind
from passerelle.indexing.docstore import DocStore
from passerelle.indexing.encoders.base import Encoder
from passerelle.indexing.encoders.registry import choose_encoder, create_encoder
from passerelle.indexing.errors import ConfigError, CorpusError
from passerelle.indexing.finalize import describe, new_dense_store
from passerelle.indexing.manifest import MANIFEST, Manifest, read_manifest, sha256_file, write_manifest
from passerelle.indexing.options import BuildOptions
from passerelle.indexing.pipeline import Ingest
from passerelle.indexing.publish import cleanup_staging, discard, publish, recover, staging_dir
from passerelle.indexing.readers import ID_ALIASES, FieldMapping, Record, detect_format, read_records
from passerelle.indexing.shards.layout import (
    SHARDS_DIR,
    ShardEntry,
    ShardsInfo,
    merge_manifests,
    shard_name,
    shard_of,
    write_shards,
    write_top_manifest,
)

logger = logging.getLogger(__name__)

SPILL_DIR = ".spill"
SPILL_BATCH = 1024
MAX_SHARDS = 4096


@dataclass(frozen=True)
class ShardTask:
    """Everything a worker needs to build one shard (picklable: paths, options and plain values)."""

    index: int
    count: int
    spill: Path
    out: Path
    options: BuildOptions
    records: int
    source: dict[str, Any]
    threads: int | None = None
    augment: Path | None = None  # this shard's share of the augmentation files (a pickled AugmentSet)


ShardRunner = Callable[[Sequence[ShardTask]], None]


def record_id(record: Record, mapping: FieldMapping) -> str | None:
    """The document id :func:`~passerelle.indexing.readers.to_document` will give ``record`` (``None``: none)."""
    fields = (mapping.id,) if mapping.id else ID_ALIASES
    raw = next((record.data[f] for f in fields if record.data.get(f) not in (None, "")), None)
    return str(raw).strip() if isinstance(raw, str | int) else None


def partition(
    corpus: Path, spill_dir: Path, options: BuildOptions, shard_count: int, total: int | None = None
) -> tuple[list[int], Counter[str]]:
    """Stream the corpus into one spill file per shard; returns records per shard and the reader errors skipped.

    A record without a usable id goes to shard 0, whose ingest reports it (file and line) like a single build.

    Raises:
        CorpusError: an unreadable record (file and line) when ``on_error`` is ``raise``.
    """
    spill_dir.mkdir(parents=True, exist_ok=True)
    files = [open(spill_dir / f"{i}.pkl", "wb") for i in range(shard_count)]  # noqa: SIM115 - closed below
    buffers: list[list[Record]] = [[] for _ in range(shard_count)]
    counts, skipped = [0] * shard_count, Counter[str]()
    bar = tqdm(total=total, unit="doc", desc="partitioning", disable=not options.progress, dynamic_ncols=True)
    try:
        for item in read_records(corpus, options.fmt):
            bar.update(1)
            if isinstance(item, CorpusError):
                if options.on_error == "raise":
                    raise item
                skipped[item.kind] += 1
                if sum(skipped.values()) <= 20:
                    logger.warning("skipped %s", item)
                continue
            doc_id = record_id(item, options.mapping)
            shard = shard_of(doc_id, shard_count) if doc_id else 0
            buffers[shard].append(item)
            counts[shard] += 1
            if len(buffers[shard]) >= SPILL_BATCH:
                pickle.dump(buffers[shard], files[shard], protocol=pickle.HIGHEST_PROTOCOL)
                buffers[shard] = []
        for handle, buffer in zip(files, buffers, strict=True):
            if buffer:
                pickle.dump(buffer, handle, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        for handle in files:
            handle.close()
        bar.close()
    return counts, skipped


def partition_augment(augment: AugmentSet | None, spill_dir: Path, shard_count: int) -> list[Path | None]:
    """Each shard's share of the augmentation (by the hash of the document id), pickled beside its
    spill; ``None`` for a shard none of whose documents is named (or without augmentation)."""
    if augment is None:
        return [None] * shard_count
    paths: list[Path | None] = []
    for shard, part in enumerate(augment.split(lambda doc_id: shard_of(doc_id, shard_count), shard_count)):
        if not part.doc_ids():
            paths.append(None)
            continue
        path = spill_dir / f"{shard}.augment.pkl"
        with open(path, "wb") as handle:
            pickle.dump(part, handle, protocol=pickle.HIGHEST_PROTOCOL)
        paths.append(path)
    return paths


def _read_augment(path: Path | None) -> AugmentSet | None:
    if path is None:
        return None
    with open(path, "rb") as handle:
        part: AugmentSet = pickle.load(handle)  # written by this build's driver moments ago
    return part


def read_spill(path: Path) -> Iterator[Record]:
    """The records of a spill file, in corpus order."""
    with open(path, "rb") as handle:
        while True:
            try:
                batch = pickle.load(handle)  # a file this build wrote moments ago, never user input
            except EOFError:
                return
            yield from batch


@functools.lru_cache(maxsize=4)
def _encoder(name: str, query_prefix: str | None, passage_prefix: str | None, threads: int | None) -> Encoder:
    """One encoder per worker process and spec: a worker building several shards loads the model once."""
    return create_encoder(name, query_prefix=query_prefix, passage_prefix=passage_prefix, threads=threads)


def build_shard(task: ShardTask) -> Manifest:
    """Build shard ``task.index`` into ``task.out`` (a normal index directory) from its spill file.

    Raises:
        CorpusError: a bad record (original file and line) when ``on_error`` is ``raise``.
    """
    options = dataclasses.replace(task.options, progress=False)
    out = task.out
    out.mkdir(parents=True, exist_ok=True)
    encoder = None
    if options.dense:
        encoder = _encoder(options.encoder, options.query_prefix, options.passage_prefix, task.threads)
    augment = _read_augment(task.augment)
    mixer = new_mixer(augment, encoder, options.augment_alpha, options.augment_agg, options.augment_normalize)
    docstore = DocStore(out / DOCSTORE)
    try:
        ingest = Ingest(out, options, docstore, encoder, analyzers={}, total=task.records, augment=augment, mixer=mixer)
        result = ingest.run(read_spill(task.spill))
        strays = [doc_id for doc_id in result.row_ids if shard_of(doc_id, task.count) != task.index]
        if strays:  # record_id() and to_document() disagree on an id: loaders would look in the wrong shard
            raise RuntimeError(f"document {strays[0]!r} was routed to shard {task.index} but hashes elsewhere")
        faiss_spec, dense_rows = options.faiss, 0
        if encoder is not None and result.added:
            store = new_dense_store(result, options.faiss, encoder.spec.dim)
            store.save(out / "dense")
            faiss_spec, dense_rows = store.spec, len(store.row_ids)
        source = {**task.source, "shard": task.index, "shard_count": task.count}
        augmentation = (
            None
            if augment is None
            else describe_augmentation(
                augment,
                options.augment_alpha,
                options.augment_agg,
                options.augment_normalize,
                mixer.mixed if mixer else 0,
                warn=False,
            )
        )  # the driver warns once for the whole corpus
        manifest = describe(
            out,
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
    finally:
        docstore.close()
    write_manifest(out, manifest)
    return manifest


def run_local(tasks: Sequence[ShardTask]) -> None:
    """Build the shards one after the other in this process."""
    for task in tqdm(tasks, unit="shard", desc="building shards", disable=not tasks or not tasks[0].options.progress):
        build_shard(task)


def build_sharded(
    corpus: Path | str,
    out: Path | str,
    options: BuildOptions | None = None,
    *,
    shards: int,
    runner: ShardRunner = run_local,
    engine: dict[str, Any] | None = None,
    threads: int | None = None,
) -> Manifest:
    """Build ``corpus`` into a sharded index at ``out`` (replacing any index there only on success).

    Args:
        shards: number of shards (documents assigned by :func:`~passerelle.indexing.shards.layout.shard_of`).
        runner: runs the shard tasks (:func:`run_local`, or a Ray pool).
        engine: how it was built, recorded in ``shards.json``.
        threads: CPU threads each shard build may use for encoding (``None``: the encoder's default).

    Raises:
        CorpusError: a bad record (file and line) when ``on_error`` is ``raise``, or no documents.
        ConfigError: fewer than 1 or more than 4096 shards, or options that cannot work.
    """
    if not 1 <= shards <= MAX_SHARDS:
        raise ConfigError(f"--shards must be between 1 and {MAX_SHARDS}, got {shards}")
    options = options or BuildOptions()
    corpus, out = Path(corpus), Path(out)
    read_records(corpus, options.fmt)  # validates the path and format before any work
    augment = load_augment(options.augment_files, options.augment_alpha, options.augment_agg)
    recover(out)
    cleanup_staging(out)
    staging = staging_dir(out)
    try:
        total = count_records(corpus, options)
        options = _resolved(corpus, options, total, shards)
        counts, skipped = partition(corpus, staging / SPILL_DIR, options, shards, total)
        augment_parts = partition_augment(augment, staging / SPILL_DIR, shards)
        source: dict[str, Any] = {
            "path": str(corpus.resolve()),
            "format": options.fmt if options.fmt != "auto" else detect_format(corpus),
        }
        if corpus.is_file():
            source["sha256"] = sha256_file(corpus)
        tasks = [
            ShardTask(
                index=i,
                count=shards,
                spill=staging / SPILL_DIR / f"{i}.pkl",
                out=staging / SHARDS_DIR / shard_name(i),
                options=options,
                records=counts[i],
                source=source,
                threads=threads,
                augment=augment_parts[i],
            )
            for i in range(shards)
        ]
        runner(tasks)
        shutil.rmtree(staging / SPILL_DIR)
        manifest = _finish(staging, tasks, options, source, skipped, engine or {"name": "local"}, augment)
        publish(staging, out)
        return manifest
    except BaseException:
        discard(staging)
        raise


def _resolved(corpus: Path, options: BuildOptions, total: int | None, shards: int) -> BuildOptions:
    """Decide once, for every shard, what a single build decides alone: the encoder and the FAISS kind."""
    encoder = options.encoder
    if options.dense and encoder == "auto":
        encoder = choose_encoder(scan_languages(corpus, options))
        logger.info("encoder auto: %s covers the corpus languages", encoder)
    faiss = options.faiss
    if faiss.kind == "auto":  # by shard size: what each FAISS index will hold
        per_shard = -(-(total or 0) // shards)
        kind: FaissKind = "flat" if per_shard <= FLAT_MAX_DOCS else "hnsw" if per_shard <= HNSW_MAX_DOCS else "ivf-pq"
        faiss = dataclasses.replace(faiss, kind=kind)
    return dataclasses.replace(options, encoder=encoder, faiss=faiss)


def _finish(
    staging: Path,
    tasks: Sequence[ShardTask],
    options: BuildOptions,
    source: dict[str, Any],
    skipped: Counter[str],
    engine: dict[str, Any],
    augment: AugmentSet | None = None,
) -> Manifest:
    manifests = [read_manifest(task.out) for task in tasks]
    if sum(m.doc_count for m in manifests) == 0:
        raise CorpusError("the corpus has no usable documents", path=source["path"])
    encoders = {m.encoder for m in manifests if m.dense_rows}
    if len(encoders) > 1:
        raise RuntimeError(f"shards were encoded by different encoders: {sorted(e.name for e in encoders)}")
    encoder = next(iter(encoders)) if encoders else NO_ENCODER
    faiss = next((m.faiss for m in manifests if m.dense_rows), options.faiss)
    entries = [
        ShardEntry(
            name=task.out.name,
            path=f"{SHARDS_DIR}/{task.out.name}",
            doc_count=m.doc_count,
            dense_rows=m.dense_rows,
            manifest_sha256=sha256_file(task.out / MANIFEST),
        )
        for task, m in zip(tasks, manifests, strict=True)
    ]
    merged = merge_manifests(
        manifests,
        encoder=encoder,
        faiss=faiss,
        skipped=skipped,
        source={**source, "sharded": {"shards": len(tasks), "engine": engine}},
    )
    if augment is not None:
        augment.copy_files(staging)  # the index keeps the files it was built from, once, at the top
        merged.augmentation = merge_augmentation(
            augment,
            [m.augmentation for m in manifests],
            options.augment_alpha,
            options.augment_agg,
            options.augment_normalize,
        )
    info = ShardsInfo(
        shards=entries,
        encoder=encoder,
        faiss=faiss,
        doc_count=merged.doc_count,
        engine=engine,
        skipped=dict(sorted(skipped.items())),
        created_at=merged.created_at,
    )
    write_shards(staging, info)
    write_top_manifest(staging, merged, info)
    return merged
