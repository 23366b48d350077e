"""Language-aware fusion: how much to trust each sparse view depends on its language and on the query.

Across languages, BM25 on the documents' own language is mostly noise (an English query shares few
terms with a German paragraph), yet on technical text or names it carries real evidence; on a view in
the query's own language (a translation, generated queries) it is excellent. Fixed weights cannot
serve both, so each query gets its own weights from signals known at query time:

- ``match``: how sure we are that the view is in the query's language: 1 when the caller gave the query
  language (or the query was translated into the view's), the detector's confidence when it was detected
  (:class:`passerelle.indexing.language.Detection`), 0 for a view in another language;
- ``coverage``: the idf-weighted share of the query's terms found in the view's vocabulary
  (:meth:`passerelle.indexing.sparse.lucene.LuceneView.term_coverage`);
- ``gap``: how far the view's best hit stands above its second, ``(s1 - s2) / s1``;
- ``margin``: how far the dense retriever's best hit stands above its second, relative to the spread of
  its top ten scores: a confident dense answer needs little help from a cross-lingual BM25 list.

The latent-terms list (:mod:`passerelle.indexing.latent`), when the index has one, weighs
``max(0, l + lm * margin)``: it is language-agnostic, so no language signal enters its weight.

The weight of a view is ``w = match * m + (1 - match) * max(0, x + c * coverage + g * gap + d * margin)``:
the expected weight over whether the view is in the query's language, so a misdetected or ambiguous query
never gives an other-language view full trust. The dense retriever weighs ``dense``; documents are then
fused linearly over normalized scores (:func:`passerelle.service.fusion.fuse_linear`). The coefficients
form a named *fusion profile*, fitted on dev splits (``passerelle fusion fit``) and shipped as JSON in
``service/profiles/``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from passerelle.service.errors import InvalidRequestError
from passerelle.service.fusion import NORMALIZATIONS, FusedHit, Normalization, Ranking, normalize, weighted_sum

DEFAULT_PROFILE = "default"


@dataclass(frozen=True)
class ViewSignals:
    """What is known at query time about one sparse view's evidence."""

    lang: str
    match: float
    coverage: float
    gap: float


@dataclass(frozen=True)
class FusionProfile:
    """Coefficients of language-aware fusion (see the module docstring), plus where they came from."""

    name: str
    dense_normalization: Normalization = "minmax"
    sparse_normalization: Normalization = "max"
    dense: float = 1.0
    matched: float = 1.0
    mismatched: float = 0.0
    mismatched_coverage: float = 0.0
    mismatched_gap: float = 0.0
    mismatched_margin: float = 0.0
    latent: float = 0.0
    latent_margin: float = 0.0
    fitted: Mapping[str, Any] = field(default_factory=dict)

    def view_weight(self, signals: ViewSignals, margin: float = 0.0) -> float:
        """The weight of one sparse view for one query (``margin``: the dense top-score margin)."""
        other = max(
            0.0,
            self.mismatched
            + self.mismatched_coverage * signals.coverage
            + self.mismatched_gap * signals.gap
            + self.mismatched_margin * margin,
        )
        match = min(1.0, max(0.0, signals.match))
        return match * max(0.0, self.matched) + (1.0 - match) * other

    def latent_weight(self, margin: float = 0.0) -> float:
        """The weight of the latent-terms list for one query (``margin``: the dense top-score margin)."""
        return max(0.0, self.latent + self.latent_margin * margin)

    @property
    def uses_latent(self) -> bool:
        """Whether the latent-terms list can get a weight above 0 (margins lie in [0, 1]): if not, a hybrid
        query need not run that retriever at all."""
        return self.latent > 0 or self.latent + self.latent_margin > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["fitted"] = dict(self.fitted)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FusionProfile:
        """Parse a profile, refusing unknown fields and normalizations."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise InvalidRequestError(f"fusion profile has unknown fields: {', '.join(sorted(unknown))}")
        for key in ("dense_normalization", "sparse_normalization"):
            if data.get(key, "minmax") not in NORMALIZATIONS:
                raise InvalidRequestError(f"fusion profile {key} must be one of {', '.join(NORMALIZATIONS)}")
        return cls(**data)


def top_gap(ranking: Ranking) -> float:
    """``(s1 - s2) / s1`` for a ranking's two best scores; 1.0 for a single hit, 0.0 for none."""
    if not ranking:
        return 0.0
    first = float(ranking[0][1])
    if len(ranking) == 1 or first <= 0:
        return 1.0 if len(ranking) == 1 else 0.0
    return max(0.0, (first - float(ranking[1][1])) / first)


def dense_margin(ranking: Ranking | None, depth: int = 10) -> float:
    """How far the dense retriever's best hit stands out, independent of the encoder's score scale:
    ``(s1 - s2) / (s1 - s_depth)`` over its ``depth`` best scores, in [0, 1] (0 with fewer than two hits).

    Raw cosine gaps are not comparable across encoders (e5 packs its similarities into 0.7-0.9, USE spreads
    them over 0.1-0.6), so the gap is measured against the spread of the list's own top scores.
    """
    if not ranking or len(ranking) < 2:
        return 0.0
    top = [float(score) for _, score in ranking[:depth]]
    spread = top[0] - top[-1]
    return max(0.0, min(1.0, (top[0] - top[1]) / spread)) if spread > 0 else 0.0


def weights_for(
    profile: FusionProfile, signals: Mapping[str, ViewSignals], dense: Ranking | None = None, latent: bool = False
) -> dict[str, float]:
    """Per-retriever weights for one query: one per sparse view name, ``dense`` when it ran, and ``latent``
    when the latent-terms list is fused."""
    margin = dense_margin(dense)
    weights = {name: profile.view_weight(view, margin) for name, view in signals.items()}
    if dense is not None:
        weights["dense"] = max(0.0, profile.dense)
    if latent:
        weights["latent"] = profile.latent_weight(margin)
    return weights


def fuse_language_aware(
    rankings: Mapping[str, Ranking],
    signals: Mapping[str, ViewSignals],
    profile: FusionProfile,
    limit: int | None = None,
) -> tuple[list[FusedHit], dict[str, float]]:
    """Fuse ``rankings`` (``dense`` and sparse views named as in ``signals``) with per-query weights.

    ``score(d) = sum_r w_r * norm_r(s_r(d))`` over the retrievers that found ``d``. Returns the fused hits
    (contributions sum to the score; only the best ``limit`` when given) and the weights used. Pure:
    inputs are unchanged.
    """
    weights = weights_for(profile, signals, rankings.get("dense"), latent="latent" in rankings)
    rows: list[tuple[str, str, int, float, float, float]] = []
    for name, ranking in rankings.items():
        weight = weights.get(name, 0.0)
        method = profile.dense_normalization if name == "dense" else profile.sparse_normalization
        for rank, ((doc_id, raw), norm) in enumerate(
            zip(ranking, normalize([s for _, s in ranking], method), strict=True), start=1
        ):
            rows.append((name, doc_id, rank, float(raw), norm, weight))
    return weighted_sum(rows, limit), weights


def load_profile(name_or_path: str) -> FusionProfile:
    """A shipped profile by name (``service/profiles/<name>.json``) or a profile JSON file by path.

    Raises:
        InvalidRequestError: unknown name, unreadable file or malformed profile.
    """
    return _load_profile(name_or_path)


@lru_cache(maxsize=16)
def _load_profile(name_or_path: str) -> FusionProfile:
    path = Path(name_or_path)
    try:
        if path.suffix == ".json" and path.is_file():
            text = path.read_text(encoding="utf-8")
        else:
            shipped = resources.files("passerelle.service").joinpath("profiles", f"{name_or_path}.json")
            if not shipped.is_file():
                raise InvalidRequestError(
                    f"unknown fusion profile {name_or_path!r}; shipped profiles: {', '.join(shipped_profiles())}"
                )
            text = shipped.read_text(encoding="utf-8")
        return FusionProfile.from_dict(json.loads(text))
    except (OSError, json.JSONDecodeError, TypeError) as exc:
        raise InvalidRequestError(f"cannot read fusion profile {name_or_path!r}: {exc}") from exc


def shipped_profiles() -> Sequence[str]:
    """Names of the profiles shipped with Passerelle."""
    folder = resources.files("passerelle.service").joinpath("profiles")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))
