"""Paths and small helpers shared by tests (importable: ``tests/`` is on the pytest pythonpath)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "data" / "sample"
SHARED_DATA = REPO.parent / "shared" / "data"


def read_tsv(path: Path) -> dict[str, str]:
    """``qid<TAB>text`` lines as a dict."""
    rows = (line.rstrip("\n").split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines() if line)
    return {qid: text for qid, text in rows}
