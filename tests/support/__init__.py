"""Paths and small helpers shared by tests (importable: ``tests/`` is on the pytest pythonpath)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DIR = REPO / "data" / "sample"
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE_META_FIELDS = "year:int,topic:keyword"  # the typed metadata of data/sample/corpus.jsonl


def sample_mapping() -> Any:
    """The field mapping that reads data/sample with its typed metadata (year, topic)."""
    from passerelle.indexing.metadata import parse_meta_fields
    from passerelle.indexing.readers import FieldMapping

    return FieldMapping(meta_fields=parse_meta_fields(SAMPLE_META_FIELDS))


def read_tsv(path: Path) -> dict[str, str]:
    """``qid<TAB>text`` lines as a dict."""
    rows = (line.rstrip("\n").split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines() if line)
    return {qid: text for qid, text in rows}


def kill_while_staging(proc: subprocess.Popen[bytes], root: Path, what: str, poll_s: float = 0.2) -> None:
    """SIGKILL ``proc`` once its staged build under ``root`` has started writing vectors (within 120 s).

    Fails the test when the process ends first or never writes; always leaves it dead.
    """
    try:
        deadline = time.monotonic() + 120
        staged: list[Path] = []
        while time.monotonic() < deadline:  # wait until the staged index is being written
            staged = list(root.glob(".idx.tmp-*/dense/vectors.f32"))
            if staged and staged[0].stat().st_size > 0:
                break
            assert proc.poll() is None, f"the {what} ended before it could be killed"
            time.sleep(poll_s)
        assert staged, f"the {what} never started writing"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL


def repeated_sample(path: Path, copies: int, tag: str = "") -> Path:
    """Write ``copies`` copies of the sample corpus to ``path``, ids made unique (``<id>-<tag><copy>``)."""
    lines = (SAMPLE_DIR / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    with open(path, "w", encoding="utf-8") as out:
        for copy in range(copies):
            for line in lines:
                record = json.loads(line)
                record["id"] = f"{record['id']}-{tag}{copy}"
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
