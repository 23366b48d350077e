"""The document model: one record, several text views (one per language)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Document:
    """A corpus record.

    ``lang`` is the language of the original ``title``/``text``. ``views`` maps further languages to
    text in that language (a human or machine translation, generated queries); the original text is
    always available as the view of ``lang``.
    """

    id: str
    lang: str
    title: str = ""
    text: str = ""
    views: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def contents(self) -> str:
        """Title and text joined, as indexed and encoded."""
        if self.title and self.text:
            return f"{self.title}\n{self.text}"
        return self.title or self.text

    def view(self, lang: str) -> str | None:
        """Text of this document in ``lang``: the original for its own language, else a view."""
        if lang == self.lang:
            return self.contents
        return self.views.get(lang)

    def to_record(self) -> dict[str, Any]:
        """This document as a record of the default JSONL corpus format (id, lang, title, text, translations).

        Metadata is not included: the record reads back (with the default field mapping) as the same texts.
        """
        return {
            "id": self.id,
            "lang": self.lang,
            "title": self.title,
            "text": self.text,
            "translations": dict(self.views),
        }

    def to_jsonl(self) -> str:
        """:meth:`to_record` as one JSON line."""
        return json.dumps(self.to_record(), ensure_ascii=False) + "\n"

    def view_langs(self) -> list[str]:
        """Every language this document has text in, its own first."""
        return [self.lang, *(lang for lang in self.views if lang != self.lang)]
