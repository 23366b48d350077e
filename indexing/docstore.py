"""The document store: a SQLite file with id, language, title, text, views and metadata."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from passerelle.indexing.documents import Document
from passerelle.indexing.errors import DuplicateDocumentError, IndexFormatError

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    id TEXT PRIMARY KEY,
    lang TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    views TEXT NOT NULL,
    metadata TEXT NOT NULL
) WITHOUT ROWID;
"""


def _row_to_document(row: tuple[str, str, str, str, str, str]) -> Document:
    doc_id, lang, title, text, views, metadata = row
    return Document(
        id=doc_id, lang=lang, title=title, text=text, views=json.loads(views), metadata=json.loads(metadata)
    )


class DocStore:
    """Documents by id. Writers use one connection; readers get one connection per thread."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if readonly and not self.path.is_file():
            raise IndexFormatError(f"missing docstore {self.path}")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[sqlite3.Connection] = []  # every thread's connection, so close() reaches them all
        self._generation = 0  # bumped by close(): a thread's older connection is not used again
        if not readonly:
            with self._connection() as conn:
                conn.executescript(SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "generation", -1) != self._generation:
            if self.readonly:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            else:
                conn = sqlite3.connect(self.path, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=DELETE")
                conn.execute("PRAGMA synchronous=NORMAL")
            with self._lock:
                self._open.append(conn)
                self._local.conn, self._local.generation = conn, self._generation
        return conn

    def add(self, docs: Sequence[Document], *, replace: bool = False) -> None:
        """Insert documents; a duplicate id raises unless ``replace``.

        Raises:
            DuplicateDocumentError: naming the first id that already exists.
        """
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        rows = [
            (
                d.id,
                d.lang,
                d.title,
                d.text,
                json.dumps(dict(d.views), ensure_ascii=False),
                json.dumps(dict(d.metadata), ensure_ascii=False),
            )
            for d in docs
        ]
        conn = self._connection()
        try:
            with conn:
                conn.executemany(f"{verb} INTO docs VALUES (?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.IntegrityError as exc:
            existing = self.existing_ids([d.id for d in docs])
            dup = next(iter(existing), None) or _first_repeat([d.id for d in docs])
            raise DuplicateDocumentError(f"document id {dup!r} already exists") from exc

    def delete(self, doc_ids: Iterable[str]) -> int:
        """Remove documents by id; returns how many existed."""
        conn = self._connection()
        with conn:
            cursor = conn.executemany("DELETE FROM docs WHERE id = ?", [(i,) for i in doc_ids])
        return cursor.rowcount

    def get(self, doc_id: str) -> Document | None:
        """One document, or ``None``."""
        row = (
            self._connection()
            .execute("SELECT id, lang, title, text, views, metadata FROM docs WHERE id = ?", (doc_id,))
            .fetchone()
        )
        return _row_to_document(row) if row else None

    def get_many(self, doc_ids: Sequence[str]) -> dict[str, Document]:
        """Documents by id (missing ids are absent from the result)."""
        found: dict[str, Document] = {}
        conn = self._connection()
        for start in range(0, len(doc_ids), 500):
            chunk = list(doc_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                f"SELECT id, lang, title, text, views, metadata FROM docs WHERE id IN ({marks})", chunk
            ):
                found[row[0]] = _row_to_document(row)
        return found

    def existing_ids(self, doc_ids: Sequence[str]) -> set[str]:
        """The subset of ``doc_ids`` already stored."""
        found: set[str] = set()
        conn = self._connection()
        for start in range(0, len(doc_ids), 500):
            chunk = list(doc_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in conn.execute(f"SELECT id FROM docs WHERE id IN ({marks})", chunk))
        return found

    def __iter__(self) -> Iterator[Document]:
        for row in self._connection().execute("SELECT id, lang, title, text, views, metadata FROM docs"):
            yield _row_to_document(row)

    def metadata_rows(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every document's id, language and metadata (texts are not read)."""
        for doc_id, lang, metadata in self._connection().execute("SELECT id, lang, metadata FROM docs"):
            yield doc_id, lang, json.loads(metadata)

    def __len__(self) -> int:
        return int(self._connection().execute("SELECT COUNT(*) FROM docs").fetchone()[0])

    def language_counts(self) -> dict[str, int]:
        """Documents per original language."""
        rows = self._connection().execute("SELECT lang, COUNT(*) FROM docs GROUP BY lang ORDER BY lang")
        return {lang: int(n) for lang, n in rows}

    def close(self) -> None:
        """Close every thread's connection (call it when no thread uses the store any more).

        A served index is read from many worker threads; closing only the caller's connection left the
        others open on a replaced file after each reload (file handles and SQLite page caches piling up).
        The store stays usable: a later call opens a new connection.
        """
        with self._lock:
            conns, self._open = self._open, []
            self._generation += 1
            self._local.conn = None
        for conn in conns:
            conn.close()


def _first_repeat(ids: Sequence[str]) -> str | None:
    seen: set[str] = set()
    for doc_id in ids:
        if doc_id in seen:
            return doc_id
        seen.add(doc_id)
    return None
