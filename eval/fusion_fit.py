"""Fit a language-aware fusion profile on dev evidence, and score any fusion recipe on it.

The profile's fused score is linear in five features of a candidate document ``d`` (normalized scores
``n``; a list that does not hold ``d`` gives 0):

``x = [n_dense, sum_v m_v n_v, sum_v (1-m_v) n_v, sum_v (1-m_v) c_v n_v, sum_v (1-m_v) g_v n_v]``

with ``m_v`` = view in the query's language, ``c_v`` its term coverage, ``g_v`` its top-score gap. A
logistic regression (relevant vs not, every query weighing the same, every collection weighing the
same) gives the coefficients; ranking only depends on their ratios, so they are scaled to ``dense = 1``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from passerelle.eval.fusion_evidence import QueryEvidence
from passerelle.eval.metrics import evaluate
from passerelle.service.fusion import FusedHit, Normalization, fuse, normalize
from passerelle.service.language_fusion import FusionProfile, ViewSignals, fuse_language_aware

Fuser = Callable[[QueryEvidence], list[FusedHit]]
FEATURES = ("dense", "matched", "mismatched", "mismatched_coverage", "mismatched_gap")


def signals_of(e: QueryEvidence) -> dict[str, ViewSignals]:
    """The evidence's signals as :class:`ViewSignals`."""
    return {k: ViewSignals(lang=s["lang"], matched=bool(s["matched"]), coverage=float(s["coverage"]),
                           gap=float(s["gap"])) for k, s in e.signals.items()}


def rankings_of(e: QueryEvidence, *, dense: bool = True, sparse: bool = True) -> dict[str, Sequence[tuple[str, float]]]:
    """Retriever name -> ranked list for one query."""
    out: dict[str, Sequence[tuple[str, float]]] = dict(e.sparse) if sparse else {}
    if dense:
        out["dense"] = e.dense
    return out


def candidate_features(e: QueryEvidence, normalization: Normalization) -> tuple[list[str], np.ndarray]:
    """Candidate doc ids of one query and their feature rows (see the module docstring)."""
    docs: dict[str, np.ndarray] = {}

    def row(doc_id: str) -> np.ndarray:
        return docs.setdefault(doc_id, np.zeros(len(FEATURES)))

    for doc_id, n in zip((d for d, _ in e.dense), normalize([s for _, s in e.dense], normalization), strict=True):
        row(doc_id)[0] += n
    for name, ranking in e.sparse.items():
        sig = signals_of(e).get(name)
        if sig is None:
            continue
        for doc_id, n in zip((d for d, _ in ranking), normalize([s for _, s in ranking], normalization),
                             strict=True):
            x = row(doc_id)
            if sig.matched:
                x[1] += n
            else:
                x[2] += n
                x[3] += sig.coverage * n
                x[4] += sig.gap * n
    ids = list(docs)
    return ids, np.array([docs[d] for d in ids]) if ids else np.zeros((0, len(FEATURES)))


def fit_profile(evidence: Mapping[str, Sequence[QueryEvidence]], *, name: str = "default",
                normalization: Normalization = "minmax", features: Sequence[str] = FEATURES,
                c: float = 1.0) -> FusionProfile:
    """Fit a profile by logistic regression on pooled dev evidence (collection name -> queries).

    ``features`` restricts the model (ablation); features left out get coefficient 0.
    """
    from sklearn.linear_model import LogisticRegression

    use = [FEATURES.index(f) for f in features]
    rows, labels, weights = [], [], []
    for queries in evidence.values():
        for e in queries:
            ids, x = candidate_features(e, normalization)
            if not ids:
                continue
            y = np.array([1 if e.relevant.get(d, 0) > 0 else 0 for d in ids])
            if y.sum() == 0 or y.sum() == len(y):
                continue
            w = np.where(y == 1, 0.5 / y.sum(), 0.5 / (len(y) - y.sum())) / len(queries)
            rows.append(x[:, use])
            labels.append(y)
            weights.append(w)
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(np.vstack(rows), np.concatenate(labels), sample_weight=np.concatenate(weights) * 1000)
    coef = dict.fromkeys(FEATURES, 0.0)
    for f, value in zip(features, model.coef_[0], strict=True):
        coef[f] = float(value)
    scale = coef["dense"] if coef["dense"] > 0 else 1.0
    scaled = {f: round(v / scale, 4) for f, v in coef.items()}
    return FusionProfile(
        name=name, normalization=normalization, dense=1.0 if "dense" in features else 0.0,
        matched=scaled["matched"], mismatched=scaled["mismatched"],
        mismatched_coverage=scaled["mismatched_coverage"], mismatched_gap=scaled["mismatched_gap"],
        fitted={"method": "logistic regression, balanced per query and per collection", "C": c,
                "features": list(features), "collections": sorted(evidence),
                "queries": sum(len(v) for v in evidence.values()),
                "date": datetime.now(UTC).date().isoformat()})


def profile_fuser(profile: FusionProfile) -> Fuser:
    """Language-aware fusion with ``profile``."""
    return lambda e: fuse_language_aware(rankings_of(e), signals_of(e), profile)[0]


def fixed_fuser(method: str, *, dense: bool = True, sparse: bool = True, weights: Mapping[str, float] | None = None,
                normalization: Normalization = "minmax", rrf_k: int = 60) -> Fuser:
    """A fixed-weight recipe (or one retriever alone when the other side is off)."""
    def run(e: QueryEvidence) -> list[FusedHit]:
        rankings = rankings_of(e, dense=dense, sparse=sparse)
        if len(rankings) == 1:
            (name, ranking), = rankings.items()
            return [FusedHit(d, s, {}) for d, s in ranking]
        w = {k: (weights or {}).get(k.split(":")[0], 1.0) for k in rankings}
        return fuse(rankings, method, weights=w, rrf_k=rrf_k, normalization=normalization)  # type: ignore[arg-type]
    return run


def score(evidence: Sequence[QueryEvidence], fuser: Fuser, metrics: Sequence[str] = ("ndcg@10",),
          k: int = 100) -> dict[str, float]:
    """Mean metrics of a fusion recipe over the evidence's queries."""
    run = {}
    for e in evidence:
        hits = fuser(e)[:k]
        run[e.qid] = {h.doc_id: float(len(hits) - i) for i, h in enumerate(hits)}
    qrels = {e.qid: dict(e.relevant) for e in evidence}
    result = evaluate(qrels, run, list(metrics))
    return {m: result.mean(m) for m in metrics}


def leave_one_out(evidence: Mapping[str, Sequence[QueryEvidence]], **fit_kwargs: object) -> dict[str, FusionProfile]:
    """For each collection, the profile fitted on all the others (to see how a profile generalizes)."""
    profiles = {}
    for held_out in evidence:
        rest = {k: v for k, v in evidence.items() if k != held_out}
        profiles[held_out] = replace(fit_profile(rest, **fit_kwargs), name=f"without-{held_out}")  # type: ignore[arg-type]
    return profiles


GRID: Mapping[str, Sequence[float]] = {
    "matched": (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0),
    "mismatched": (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6),
    "mismatched_coverage": (0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0),
    "mismatched_gap": (0.0, 0.1, 0.2, 0.4, 0.8),
}


class _Compiled:
    """Feature matrices of every query, computed once, so a coefficient vector scores in milliseconds."""

    def __init__(self, evidence: Sequence[QueryEvidence], normalization: Normalization) -> None:
        self.qrels = {e.qid: dict(e.relevant) for e in evidence}
        self.queries = [(e.qid, *candidate_features(e, normalization)) for e in evidence]

    def ndcg(self, coef: np.ndarray, k: int = 100) -> float:
        run = {}
        for qid, ids, x in self.queries:
            if not ids:
                continue
            scores = x @ coef
            order = np.lexsort((np.array(ids), -scores))[:k]  # score desc, then doc id asc (as fusion does)
            run[qid] = {ids[i]: float(len(order) - r) for r, i in enumerate(order)}
        return evaluate(self.qrels, run, ["ndcg@10"]).mean("ndcg@10")


def tune_profile(evidence: Mapping[str, Sequence[QueryEvidence]], *, baselines: Mapping[str, float],
                 name: str = "default", normalization: Normalization = "minmax", start: FusionProfile | None = None,
                 grid: Mapping[str, Sequence[float]] = GRID, passes: int = 3, penalty: float = 2.0,
                 features: Sequence[str] = FEATURES) -> tuple[FusionProfile, dict[str, float]]:
    """Coordinate ascent on nDCG@10 over the profile coefficients (dense fixed at 1).

    The objective is the mean over collections of nDCG@10 minus ``penalty`` times every shortfall below
    that collection's best single retriever (``baselines``): a profile that hurts anywhere pays for it.
    Only ``features`` are tuned; the others stay 0. Returns the profile and its per-collection nDCG@10.
    """
    compiled = {c: _Compiled(v, normalization) for c, v in evidence.items()}
    coef = {f: 0.0 for f in FEATURES}
    coef["dense"] = 1.0
    if start is not None:
        coef.update({f: getattr(start, f) for f in FEATURES if f in features and f != "dense"})

    def objective(values: Mapping[str, float]) -> tuple[float, dict[str, float]]:
        vector = np.array([values[f] for f in FEATURES])
        per = {c: comp.ndcg(vector) for c, comp in compiled.items()}
        shortfall = sum(max(0.0, baselines[c] - s) for c, s in per.items())
        return float(np.mean(list(per.values())) - penalty * shortfall / len(per)), per

    best, per = objective(coef)
    for _ in range(passes):
        improved = False
        for f in (f for f in FEATURES if f != "dense" and f in features):
            for value in grid[f]:
                trial = dict(coef, **{f: value})
                got, trial_per = objective(trial)
                if got > best + 1e-9:
                    best, per, coef, improved = got, trial_per, trial, True
        if not improved:
            break
    profile = FusionProfile(
        name=name, normalization=normalization, dense=1.0, matched=coef["matched"], mismatched=coef["mismatched"],
        mismatched_coverage=coef["mismatched_coverage"], mismatched_gap=coef["mismatched_gap"],
        fitted={"method": "coordinate ascent on mean nDCG@10 with a penalty for falling below the best single "
                          f"retriever (penalty {penalty})", "features": list(features),
                "collections": sorted(evidence), "queries": sum(len(v) for v in evidence.values()),
                "ndcg@10": {c: round(v, 4) for c, v in per.items()},
                "date": datetime.now(UTC).date().isoformat()})
    return profile, per
