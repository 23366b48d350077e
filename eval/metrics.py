"""Retrieval metrics, computed by ranx (trec_eval semantics), with explicit handling of missing queries.

Names (case-insensitive): ``ndcg@k``, ``recall@k``, ``mrr@k`` (reciprocal rank), ``map`` / ``map@k``,
``precision@k`` (alias ``p@k``), ``hit_rate@k`` (alias ``success@k``: 1 if a relevant document is in
the top k). ``@k`` is optional (then the whole ranking counts). A document is relevant when its
relevance is >= 1; nDCG uses the relevance as gain (Järvelin & Kekäläinen, 2002, as trec_eval).

Which queries count:
- a query is *judged* when its qrels hold at least one relevant document; only judged queries are
  scored and averaged;
- a judged query the run does not answer (absent, or no documents) scores 0 on every metric;
- run queries that are not judged are excluded, and listed in :attr:`Evaluation.unjudged`.

Ties: ranx would order equal scores arbitrarily. ``ties="order"`` (default) keeps the order in which the
run lists them — the system's own ranking, and the rank column of a TREC file; ``ties="trec_eval"``
breaks them by document id descending, as trec_eval and pytrec_eval do.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from passerelle.eval.errors import MetricError

logger = logging.getLogger(__name__)

TieBreak = Literal["order", "trec_eval"]

_RANX_NAMES = {
    "ndcg": "ndcg",
    "recall": "recall",
    "mrr": "mrr",
    "map": "map",
    "precision": "precision",
    "p": "precision",
    "hit_rate": "hit_rate",
    "success": "hit_rate",
}
_METRIC = re.compile(r"(?P<name>[a-z_]+)(?:@(?P<k>[1-9]\d*))?")


def canonical_metric(name: str) -> str:
    """The canonical (ranx) spelling of a metric name: ``P@10`` -> ``precision@10``.

    Raises:
        MetricError: unknown name or malformed cutoff.
    """
    match = _METRIC.fullmatch(name.strip().lower())
    if match is None or match.group("name") not in _RANX_NAMES:
        known = "ndcg@k, recall@k, mrr@k, map, map@k, precision@k (p@k), hit_rate@k (success@k)"
        raise MetricError(f"unknown metric {name!r}; use one of {known}")
    base = _RANX_NAMES[match.group("name")]
    return f"{base}@{match.group('k')}" if match.group("k") else base


def parse_metrics(names: str | Iterable[str]) -> tuple[str, ...]:
    """Canonical names from ``"ndcg@10,recall@100"`` or a list, duplicates removed, order kept."""
    items = names.split(",") if isinstance(names, str) else list(names)
    out = tuple(dict.fromkeys(canonical_metric(n) for n in items if n.strip()))
    if not out:
        raise MetricError("no metric given; e.g. ndcg@10,recall@100")
    return out


@dataclass(frozen=True)
class Evaluation:
    """Scores of one run against one set of qrels.

    Attributes:
        metrics: canonical metric names, in the order asked.
        qids: the judged queries, sorted; every per-query array follows this order.
        per_query: metric -> per-query scores, aligned with ``qids``.
        means: metric -> mean over ``qids``.
        missing: judged queries the run did not answer (scored 0).
        unjudged: run queries without relevant documents in the qrels (excluded).
    """

    metrics: tuple[str, ...]
    qids: tuple[str, ...]
    per_query: Mapping[str, np.ndarray]
    means: Mapping[str, float]
    missing: tuple[str, ...]
    unjudged: tuple[str, ...]

    def query_scores(self, metric: str) -> dict[str, float]:
        """``{qid: score}`` for one metric (any accepted spelling)."""
        scores = self.per_query[self._name(metric)]
        return {qid: float(s) for qid, s in zip(self.qids, scores, strict=True)}

    def mean(self, metric: str) -> float:
        """Mean of one metric (any accepted spelling)."""
        return self.means[self._name(metric)]

    def _name(self, metric: str) -> str:
        name = canonical_metric(metric)
        if name not in self.per_query:
            raise MetricError(f"{metric!r} was not computed (computed: {', '.join(self.metrics)})")
        return name


def evaluate(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metrics: str | Sequence[str],
    *,
    ties: TieBreak = "order",
) -> Evaluation:
    """Score ``run`` against ``qrels`` with ranx.

    Args:
        qrels: qid -> docid -> relevance.
        run: qid -> docid -> score; each query's mapping order is its ranking for equal scores.
        metrics: names, as a list or a comma-separated string.
        ties: how equal scores are ordered: ``order`` (the run's order) or ``trec_eval``.

    Returns:
        An :class:`Evaluation` over the judged queries.

    Raises:
        MetricError: unknown metric or tie rule, or qrels without any relevant document.
    """
    names = parse_metrics(metrics)
    if ties not in ("order", "trec_eval"):
        raise MetricError(f"unknown tie rule {ties!r}; use 'order' or 'trec_eval'")
    qids = tuple(sorted(q for q, judged in qrels.items() if any(rel >= 1 for rel in judged.values())))
    if not qids:
        raise MetricError("the qrels hold no relevant document (relevance >= 1): nothing to evaluate")
    judged = set(qids)
    missing = tuple(q for q in qids if not run.get(q))
    unjudged = tuple(sorted(q for q in run if q not in judged))
    if unjudged:
        logger.info("%d run queries have no relevant document in the qrels; excluded", len(unjudged))
    answered = [q for q in qids if run.get(q)]
    scores = {name: np.zeros(len(qids), dtype=np.float64) for name in names}
    if answered:
        ranx_scores = _ranx(qrels, run, answered, names, ties)
        index = {qid: i for i, qid in enumerate(qids)}
        positions = np.array([index[qid] for qid in answered], dtype=np.intp)
        for name in names:
            scores[name][positions] = ranx_scores[name]
    means = {name: float(np.mean(values)) for name, values in scores.items()}
    return Evaluation(metrics=names, qids=qids, per_query=scores, means=means, missing=missing, unjudged=unjudged)


def _ranx(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    qids: list[str],
    names: tuple[str, ...],
    ties: TieBreak,
) -> dict[str, np.ndarray]:
    """ranx over ``qids`` (all answered), with scores replaced by a tie-free rank encoding."""
    import ranx

    ranx_qrels = {q: {d: int(r) for d, r in qrels[q].items()} for q in qids}
    ranx_run = {q: _rank_scores(run[q], ties) for q in qids}
    # Plain dicts keep our qid order on both sides (ranx pairs them by position). ranx 0.3 fails to
    # return a single metric with a cutoff when return_mean=False, so always ask for two or more.
    asked = list(names) if len(names) > 1 else [*names, "hits" if names[0] != "hits" else "precision"]
    with warnings.catch_warnings():  # ranx casts its hashed ids; harmless, and not the caller's concern
        warnings.filterwarnings("ignore", message="unsafe cast from uint64 to int64")
        result = ranx.evaluate(ranx_qrels, ranx_run, asked, return_mean=False)
    return {name: np.asarray(result[name], dtype=np.float64) for name in names}


def _rank_scores(docs: Mapping[str, float], ties: TieBreak) -> dict[str, float]:
    """Scores ``n, n-1, ..., 1`` in ranking order, so no two documents tie."""
    items = list(docs.items())
    if ties == "trec_eval":
        items.sort(key=lambda item: item[0], reverse=True)  # then a stable sort by score keeps docid desc
    items.sort(key=lambda item: -float(item[1]))
    n = len(items)
    return {docid: float(n - i) for i, (docid, _) in enumerate(items)}
