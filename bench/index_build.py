"""Index-build benchmark: the whole pipeline against the raw encoder on the same documents."""

from __future__ import annotations

import itertools
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from passerelle.indexing.build import build_index
from passerelle.indexing.defaults import BATCH_SIZE, DEFAULT_ENCODER
from passerelle.indexing.encoders.registry import create_encoder
from passerelle.indexing.options import BuildOptions
from passerelle.indexing.readers import Record, read_records, to_document


def benchmark_index(
    corpus: Path,
    *,
    encoder: str = DEFAULT_ENCODER,
    limit: int | None = None,
    lang: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> dict[str, Any]:
    """Build an index of ``corpus`` (first ``limit`` docs) and encode the same texts with the raw encoder.

    Returns docs/s for both, their ratio, and the process's peak RSS. The encoder is loaded once and
    shared, so neither side pays for model loading.
    """
    model = create_encoder(encoder)
    model.encode_documents(["warm up"])
    with tempfile.TemporaryDirectory(prefix="passerelle-bench-") as tmp:
        subset = Path(tmp) / "corpus.jsonl"
        texts = _write_subset(corpus, subset, limit, lang)
        start = time.perf_counter()
        model.encode_documents(texts)
        raw_s = time.perf_counter() - start
        options = BuildOptions(encoder=encoder, lang=lang, batch_size=batch_size, progress=False)
        start = time.perf_counter()
        build_index(subset, Path(tmp) / "index", options, encoder=model)
        build_s = time.perf_counter() - start
    n = len(texts)
    return {
        "documents": n,
        "encoder": encoder,
        "raw_encoder_docs_per_s": round(n / raw_s, 2),
        "pipeline_docs_per_s": round(n / build_s, 2),
        "pipeline_vs_raw": round(raw_s / build_s, 3),
        "raw_encoder_s": round(raw_s, 2),
        "pipeline_s": round(build_s, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": {"python": platform.python_version(), "cpu_count": _cpus(), "platform": platform.platform()},
    }


def _write_subset(corpus: Path, out: Path, limit: int | None, lang: str | None) -> list[str]:
    texts = []
    with open(out, "w", encoding="utf-8") as handle:
        records = (r for r in read_records(corpus) if isinstance(r, Record))
        for record in itertools.islice(records, limit):
            doc = to_document(record, BuildOptions().mapping, default_lang=lang)
            texts.append(doc.contents)
            handle.write(doc.to_jsonl())
    return texts


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
