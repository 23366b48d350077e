"""BM25 build time: Passerelle's sparse build against Pyserini's indexer and bm25s, on the same texts.

- Passerelle: ``build_index`` with the dense side off and one Lucene view (the documents' language):
  docstore (SQLite) plus Lucene through Anserini's ``SimpleIndexer``, in this process (JVM running);
  and its ``LuceneWriter`` alone on the same texts (what the Lucene part costs without the rest).
- Pyserini in process: Anserini's ``IndexCollection.main`` (what ``python -m pyserini.index.lucene``
  runs) on a ``JsonCollection`` folder of the same texts, in this process's JVM: indexing time alone.
- Pyserini CLI: ``python -m pyserini.index.lucene`` in a subprocess, wall time (with its start-up).
- bm25s: tokenize (stopwords, Snowball stemmer) and index in memory.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
from pathlib import Path
from typing import Any

from passerelle.bench.timing import BenchmarkError

WRITER_BATCH = 128  # the build pipeline's default batch size


def benchmark_bm25_build(
    corpus: Path, workdir: Path, *, lang: str, limit: int | None = None, pyserini_cli: bool = True
) -> dict[str, Any]:
    """Build BM25 over the first ``limit`` documents' ``lang`` view with each tool; seconds and docs/s.

    Raises:
        BenchmarkError: no document with a ``lang`` view, or a tool failed.
    """
    from passerelle.indexing.build import build_index
    from passerelle.indexing.options import BuildOptions
    from passerelle.indexing.readers import Record, read_records, to_document
    from passerelle.indexing.sparse import jvm

    root = Path(workdir) / "bm25-build"
    shutil.rmtree(root, ignore_errors=True)
    (root / "json").mkdir(parents=True)
    records = (r for r in read_records(Path(corpus)) if isinstance(r, Record))
    docs = [to_document(r, BuildOptions().mapping, default_lang=lang) for r in itertools.islice(records, limit)]
    pairs = [(doc.id, text) for doc in docs if (text := doc.view(lang))]
    if not pairs:
        raise BenchmarkError(f"no document of {corpus} has a {lang!r} view")
    subset = root / "corpus.jsonl"
    with open(subset, "w", encoding="utf-8") as out:
        out.writelines(doc.to_jsonl() for doc in docs)
    with open(root / "json" / "docs.jsonl", "w", encoding="utf-8") as out:
        for doc_id, text in pairs:
            out.write(json.dumps({"id": doc_id, "contents": text}, ensure_ascii=False) + "\n")
    jvm.start()
    n = len(pairs)
    results: dict[str, Any] = {"documents": n, "lang": lang, "rows": []}

    start = time.perf_counter()
    build_index(
        subset,
        root / "passerelle",
        BuildOptions(dense=False, lang=lang, detect=False, sparse_langs=frozenset({lang}), progress=False),
    )
    _row(results, "passerelle (docstore + Lucene, sparse-only build)", time.perf_counter() - start, n)

    from passerelle.indexing.sparse.lucene import LuceneWriter

    start = time.perf_counter()
    writer = LuceneWriter(root / "writer-only", lang)
    for begin in range(0, n, WRITER_BATCH):
        writer.add(pairs[begin : begin + WRITER_BATCH])
    writer.close()
    _row(
        results,
        f"passerelle LuceneWriter alone (SimpleIndexer + filter keys, batches of {WRITER_BATCH})",
        time.perf_counter() - start,
        n,
        note="no docstore, no corpus reading",
    )

    start = time.perf_counter()
    args = [
        "-collection",
        "JsonCollection",
        "-input",
        str(root / "json"),
        "-index",
        str(root / "anserini"),
        "-language",
        lang,
        "-threads",
        "1",
        "-quiet",
    ]
    jvm.autoclass("io.anserini.index.IndexCollection").main(args)
    _row(
        results, "pyserini indexer in process (IndexCollection.main, 1 thread, -quiet)", time.perf_counter() - start, n
    )

    if pyserini_cli:
        from passerelle.bench.pyserini_peer import run_indexer_cli

        cli = run_indexer_cli(root / "json", root / "pyserini-cli", lang)
        _row(
            results,
            "python -m pyserini.index.lucene (subprocess, wall)",
            cli["wall_s"],
            n,
            note=f"start-up alone {cli['startup_s']:.1f} s",
        )

    from passerelle.bench.bm25s_peer import Bm25sSystem

    system = Bm25sSystem(pairs, lang)
    _row(results, f"bm25s (tokenize + index, {system.backend} backend)", system.build_s, n)
    shutil.rmtree(root, ignore_errors=True)
    return results


def _row(results: dict[str, Any], tool: str, seconds: float, n: int, note: str = "") -> None:
    results["rows"].append(
        {"tool": tool, "seconds": round(seconds, 6), "docs_per_s": round(n / seconds, 1), "note": note}
    )
