"""Ablation of fusion recipes over cached evidence: which signal earns what, on every collection."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from passerelle.eval.fusion_evidence import QueryEvidence
from passerelle.eval.fusion_fit import Fuser, fixed_fuser, profile_fuser, score
from passerelle.service.language_fusion import FusionProfile


def recipes(profile: FusionProfile) -> dict[str, Fuser]:
    """The recipes compared: each retriever alone, naive fixed-weight fusion, and the language-aware
    profile with its signals added one at a time (the last row is the full profile)."""
    no_latent = replace(profile, latent=0.0, latent_margin=0.0)
    only_match = replace(no_latent, mismatched=0.0, mismatched_coverage=0.0, mismatched_gap=0.0, mismatched_margin=0.0)
    flat = replace(only_match, mismatched=profile.mismatched + profile.mismatched_coverage * 0.5)
    coverage = replace(only_match, mismatched=profile.mismatched, mismatched_coverage=profile.mismatched_coverage)
    gap = replace(coverage, mismatched_gap=profile.mismatched_gap)
    return {
        "dense alone": fixed_fuser("rrf", sparse=False, latent=False),
        "BM25 alone": fixed_fuser("rrf", dense=False, latent=False),
        "latent terms alone": fixed_fuser("rrf", dense=False, sparse=False),
        "naive RRF (k=60)": fixed_fuser("rrf", latent=False),  # dense + BM25, as hybrid-rrf serves it
        "naive linear (min-max, 1:1)": fixed_fuser("linear", latent=False),
        "language match only (other views off)": profile_fuser(only_match),
        "+ other views at a fixed weight": profile_fuser(flat),
        "+ term coverage": profile_fuser(coverage),
        "+ top-score gap": profile_fuser(gap),
        "+ dense margin": profile_fuser(no_latent),
        f"+ latent terms = profile '{profile.name}'": profile_fuser(profile),
    }


def ablation_table(
    evidence: Mapping[str, Sequence[QueryEvidence]],
    profile: FusionProfile,
    extra: Mapping[str, Mapping[str, float]] | None = None,
    label: Callable[[str], str] = lambda name: name,
) -> str:
    """A Markdown table: one row per recipe, one column per collection, nDCG@10.

    ``extra`` adds precomputed rows (e.g. leave-one-out scores) as ``row name -> collection -> value``.
    """
    names = list(evidence)
    latent = {c for c in names if any(e.latent for e in evidence[c])}  # collections whose index has latent terms
    rows: dict[str, dict[str, float]] = {
        name: {c: score(evidence[c], fuser)["ndcg@10"] for c in names if c in latent or name != "latent terms alone"}
        for name, fuser in recipes(profile).items()
    }
    rows.update({k: dict(v) for k, v in (extra or {}).items()})
    singles = ("dense alone", "BM25 alone", "latent terms alone")
    best_single = {c: max(rows[r][c] for r in singles if c in rows[r]) for c in names}
    lines = ["| recipe | " + " | ".join(label(c) for c in names) + " |", "|---|" + "---|" * len(names)]
    for name, values in rows.items():
        cells = []
        for c in names:
            value = values.get(c)
            if value is None:
                cells.append("–")
                continue
            mark = (
                ""
                if name in singles
                else (" ▲" if value > best_single[c] + 1e-9 else " ▼" if value < best_single[c] - 1e-9 else "")
            )
            cells.append(f"{value:.3f}{mark}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
