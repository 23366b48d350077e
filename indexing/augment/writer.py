"""A resumable writer of augmentation files.

Work is done in units (one document, one kind, one language: ``n`` generated queries or one translation)
and each unit's lines are written with one ``write`` and flushed. Reopening a file for the same job:

* a torn last line (no newline, or not JSON: the process was killed mid-write) is cut off and redone;
* the last unit, when it has fewer lines than expected (killed between lines), is removed and redone;
* every other unit in the file is complete (a model may give fewer non-empty texts than asked, so an
  earlier short unit is not an interruption) and :meth:`AugmentWriter.done` says to skip it.

A bad line anywhere else is not a torn write: it raises :class:`AugmentFileError` with file:line.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from passerelle.indexing.atomic_files import write_bytes_atomic
from passerelle.indexing.augment.errors import AugmentFileError
from passerelle.indexing.augment.records import AugmentRecord, parse_record

logger = logging.getLogger(__name__)

Unit = tuple[str, str, str]  # (doc_id, kind, lang)


class AugmentWriter:
    """Appends units of records to ``path``, skipping units a previous run completed.

    Args:
        path: the JSONL file (created when missing).
        expected: lines per complete unit by kind, e.g. ``{"query": 3, "translation": 1}``.
    """

    def __init__(self, path: Path | str, expected: dict[str, int]) -> None:
        self.path = Path(path)
        self.expected = dict(expected)
        self.counts: Counter[Unit] = Counter()
        self.resumed_units = 0
        self.dropped_lines = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._recover()
        self._out = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def _recover(self) -> None:
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]  # tail: bytes after the last newline ("" when none)
        records: list[tuple[AugmentRecord, bytes]] = []
        torn = bool(tail.strip())
        for number, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                record = parse_record(json.loads(line.decode("utf-8")), self.path, number)
            except (UnicodeDecodeError, json.JSONDecodeError, AugmentFileError) as exc:
                if number == len(complete) and not tail.strip():
                    torn = True  # the last line is damaged: a write cut short before its newline? redo it
                    continue
                raise AugmentFileError(f"cannot resume: bad line ({exc})", path=self.path, line=number) from exc
            records.append((record, line))
        counts: Counter[Unit] = Counter((r.doc_id, r.kind, r.lang) for r, _ in records)
        partial: set[Unit] = set()
        if records:  # units are written whole, in order: only the last one can have been cut short
            last = (records[-1][0].doc_id, records[-1][0].kind, records[-1][0].lang)
            if counts[last] < self.expected.get(last[1], 1):
                partial.add(last)
        kept = [line for record, line in records if (record.doc_id, record.kind, record.lang) not in partial]
        if torn or partial or len(kept) != sum(1 for line in complete if line.strip()):
            self.dropped_lines = len(records) - len(kept) + int(torn)
            logger.warning(
                "%s: dropping %d torn or incomplete line(s); their units are redone", self.path, self.dropped_lines
            )
            write_bytes_atomic(self.path, b"".join(line + b"\n" for line in kept))
        self.counts = Counter({unit: n for unit, n in counts.items() if unit not in partial})
        self.resumed_units = len(self.counts)

    def done(self, doc_id: str, kind: str, lang: str) -> bool:
        """Whether a previous run (or this one) wrote this unit."""
        return (doc_id, kind, lang) in self.counts

    def write_unit(self, records: Sequence[AugmentRecord]) -> None:
        """Append one unit's records in one write, then flush."""
        if not records:
            return
        self._out.write("".join(record.to_json() + "\n" for record in records))
        self._out.flush()
        for record in records:
            self.counts[(record.doc_id, record.kind, record.lang)] += 1

    def mark(self, doc_id: str, kind: str, lang: str) -> None:
        """Count a unit that produced no text (nothing to write) as done for this run."""
        self.counts[(doc_id, kind, lang)] += 0

    def close(self) -> None:
        """Flush and close the file."""
        if not self._out.closed:
            self._out.close()

    def __enter__(self) -> AugmentWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
