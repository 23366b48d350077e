"""The augmentation file format: one JSON object per line, ``{"doc_id", "kind", "lang", "text"}``.

``kind`` is ``query`` (a generated query, xQG / doc2query) or ``translation`` (a document translation,
DT). Files come from ``passerelle augment generate|translate`` or from elsewhere (a GPU machine, human
translations). :func:`read_augment_file` validates strictly and names file:line:field on bad input;
:class:`AugmentWriter` appends and resumes (see :mod:`passerelle.indexing.augment.writer`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from passerelle.indexing.augment.errors import AugmentFileError
from passerelle.indexing.readers import parse_json_line

Kind = Literal["query", "translation"]
KINDS: tuple[str, ...] = ("query", "translation")
_LANG = re.compile(r"^[a-z]{2,3}([-_][a-z0-9]{2,8})*$")


@dataclass(frozen=True, slots=True)
class AugmentRecord:
    """One generated query or translation of one document, in one language."""

    doc_id: str
    kind: Kind
    lang: str
    text: str

    def to_json(self) -> str:
        """The record as one JSON line (no trailing newline)."""
        return json.dumps(
            {"doc_id": self.doc_id, "kind": self.kind, "lang": self.lang, "text": self.text}, ensure_ascii=False
        )


def parse_record(data: Any, path: Path | str, line: int) -> AugmentRecord:
    """Validate one decoded JSON line.

    Raises:
        AugmentFileError: naming ``path:line`` and the offending field.
    """
    if not isinstance(data, dict):
        raise AugmentFileError("expected a JSON object per line", path=path, line=line, kind="malformed_json")
    doc_id = data.get("doc_id")
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str) or not doc_id.strip():
        raise AugmentFileError("doc_id must be a non-empty string", path=path, line=line, field="doc_id")
    kind = data.get("kind")
    if kind not in KINDS:
        raise AugmentFileError(
            f"kind must be 'query' or 'translation', got {kind!r}", path=path, line=line, field="kind"
        )
    lang = data.get("lang")
    if not isinstance(lang, str) or not _LANG.match(lang.strip().lower()):
        raise AugmentFileError(
            f"lang must be a language code such as 'en' or 'fr', got {lang!r}", path=path, line=line, field="lang"
        )
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise AugmentFileError("text must be a non-empty string", path=path, line=line, field="text")
    if "\x00" in text:
        raise AugmentFileError("text contains the NUL character (U+0000)", path=path, line=line, field="text")
    return AugmentRecord(
        doc_id=doc_id.strip(), kind=kind, lang=lang.strip().lower(), text=unicodedata.normalize("NFC", text.strip())
    )


def read_augment_file(path: Path | str) -> Iterator[AugmentRecord]:
    """Every record of an augmentation file, streaming; blank lines are skipped.

    Raises:
        AugmentFileError: the file is missing, not UTF-8, or a line is not a valid record (file:line:field).
    """
    path = Path(path)
    if not path.is_file():
        raise AugmentFileError("augmentation file not found", path=path)
    return _records(path)


def _records(path: Path) -> Iterator[AugmentRecord]:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise AugmentFileError(
                    f"not valid UTF-8 (byte {exc.start})", path=path, line=number, kind="bad_encoding"
                ) from exc
            if not line.strip():
                continue
            data = parse_json_line(line, path, number, AugmentFileError)
            if isinstance(data, AugmentFileError):
                raise data
            yield parse_record(data, path, number)
