"""Filter keys in Lucene: one 64-bit number per document, so a search can be restricted to a set of documents.

A filter is evaluated once per query, outside Lucene (:mod:`passerelle.indexing.filter_table`), into the set
of allowed documents. BM25 must then search inside that set. Lucene can restrict a search to documents
whose numeric doc value is in a set (``NumericDocValuesField.newSlowSetQuery``, a FILTER clause checked
only on the documents the text query matches), and the set crosses from Python to Java as one ``long[]``;
a ``TermInSetQuery`` on the ``id`` field would need one Java object per allowed id (measured: 25-50 ms
per query for 10,000 ids, against 1-2 ms for the keys).

Anserini's indexer writes only ``id`` and ``contents``, so the key is added afterwards as a doc-values
update (``IndexWriter.updateNumericDocValue`` by id). Lucene updates only fields that exist, so the
first time a placeholder document creates the field and is deleted at once. The key is the first 8
bytes of the BLAKE2b hash of the document id (signed): every view and every shard computes the same key
for a document with no shared state; a collision among a million ids has a probability of about 3e-8,
and :func:`doc_keys` callers check for one.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from passerelle.indexing.sparse import jvm

KEY_FIELD = "_key"
_PLACEHOLDER_ID = "\x00passerelle-key-field"  # ids never hold NUL (readers refuse it)


def doc_key(doc_id: str) -> int:
    """The filter key of a document id (a signed 64-bit integer)."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


def doc_keys(doc_ids: Iterable[str]) -> np.ndarray:
    """The filter keys of ``doc_ids``, as an int64 array in the same order."""
    return np.fromiter((doc_key(d) for d in doc_ids), dtype=np.int64)


def write_keys(path: Path, doc_ids: Sequence[str]) -> None:
    """Give every document of ``doc_ids`` in the Lucene index at ``path`` its filter key (a doc-values update)."""
    if not doc_ids:
        return
    directory = jvm.autoclass("org.apache.lucene.store.FSDirectory").open(
        jvm.autoclass("java.nio.file.Paths").get(str(path))
    )
    config = jvm.autoclass("org.apache.lucene.index.IndexWriterConfig")()
    config.setOpenMode(jvm.autoclass("org.apache.lucene.index.IndexWriterConfig$OpenMode").APPEND)
    writer = jvm.autoclass("org.apache.lucene.index.IndexWriter")(directory, config)
    term = jvm.autoclass("org.apache.lucene.index.Term")
    try:
        _ensure_key_field(writer)
        for doc_id in doc_ids:
            writer.updateNumericDocValue(term("id", doc_id), KEY_FIELD, doc_key(doc_id))
        writer.commit()
    finally:
        writer.close()
        directory.close()


def _ensure_key_field(writer: Any) -> None:
    """Create the key field with a placeholder document (deleted at once) when the index lacks it.

    The placeholder's ``id`` has the schema Anserini gives ``id`` (an indexed string with binary doc
    values), which Lucene requires of every document.
    """
    field_infos = jvm.autoclass("org.apache.lucene.index.FieldInfos")
    reader = jvm.autoclass("org.apache.lucene.index.DirectoryReader").open(writer)
    try:
        if field_infos.getMergedFieldInfos(reader).fieldInfo(KEY_FIELD) is not None:
            return
    finally:
        reader.close()
    document = jvm.autoclass("org.apache.lucene.document.Document")()
    store = jvm.autoclass("org.apache.lucene.document.Field$Store")
    document.add(jvm.autoclass("org.apache.lucene.document.StringField")("id", _PLACEHOLDER_ID, store.YES))
    document.add(
        jvm.autoclass("org.apache.lucene.document.BinaryDocValuesField")(
            "id", jvm.autoclass("org.apache.lucene.util.BytesRef")(_PLACEHOLDER_ID.encode("utf-8"))
        )
    )
    document.add(jvm.autoclass("org.apache.lucene.document.NumericDocValuesField")(KEY_FIELD, 0))
    writer.addDocument(document)
    term_query = jvm.autoclass("org.apache.lucene.search.TermQuery")
    writer.deleteDocuments(term_query(jvm.autoclass("org.apache.lucene.index.Term")("id", _PLACEHOLDER_ID)))


class SparseFilter:
    """The documents a BM25 search may return: the keys of the allowed ones, or of the excluded ones
    (``exclude``, when that list is shorter), and ``allows(doc_id)`` for views without keys.

    The Lucene clause is made once, on first use, and shared by every view and query of a batch.
    """

    def __init__(self, keys: np.ndarray, *, exclude: bool, allows: Callable[[str], bool]) -> None:
        self.keys = keys
        self.exclude = exclude
        self.allows = allows
        self._clause: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    @property
    def allows_none(self) -> bool:
        """Whether no document may be returned."""
        return not self.exclude and len(self.keys) == 0

    def clause(self) -> tuple[Any, Any] | None:
        """``(query, occur)`` to add to a Lucene BooleanQuery (``None``: nothing to exclude)."""
        if self.exclude and len(self.keys) == 0:
            return None
        with self._lock:
            if self._clause is None:
                occur = jvm.autoclass("org.apache.lucene.search.BooleanClause$Occur")
                query = jvm.autoclass("org.apache.lucene.document.NumericDocValuesField").newSlowSetQuery(
                    KEY_FIELD, *self.keys.tolist()
                )
                self._clause = (query, occur.MUST_NOT if self.exclude else occur.FILTER)
            return self._clause
