"""Corpus readers: JSONL, BEIR, TSV and Parquet records mapped to :class:`Document` by a field mapping.

Readers stream: one record at a time, whatever the corpus size. Problems are reported as
:class:`CorpusError` with file, line and field; the caller decides to stop or to skip and count.
"""

from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from passerelle.indexing.documents import Document
from passerelle.indexing.errors import ConfigError, CorpusError
from passerelle.indexing.language import LanguageDetector
from passerelle.indexing.metadata import MetaField, MetaValueError, coerce

CorpusFormat = Literal["auto", "jsonl", "beir", "tsv", "parquet"]
ID_ALIASES = ("id", "_id", "docid", "doc_id")


@dataclass(frozen=True)
class FieldMapping:
    """Which record fields make a document.

    Several title or text fields are joined with a space (e.g. ``title,subtitle``). ``views`` maps a
    language to the fields holding that language's version of the record (a translation view), e.g.
    ``{"en": ("title_en", "abstract_en")}``. A ``translations`` object field (``{"en": "..."}``) is read
    as views too. ``metadata`` fields are kept as they are, for display; ``meta_fields`` are typed,
    validated and filterable (:mod:`passerelle.indexing.metadata`). Both land in ``Document.metadata``.
    """

    id: str | None = None
    title: tuple[str, ...] = ("title",)
    text: tuple[str, ...] = ("text",)
    lang: str | None = "lang"
    views: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    translations: str | None = "translations"
    metadata: tuple[str, ...] = ()
    meta_fields: tuple[MetaField, ...] = ()

    @classmethod
    def parse_views(cls, specs: list[str]) -> dict[str, tuple[str, ...]]:
        """Parse ``["en=title_en,abstract_en", ...]`` into a views mapping."""
        views: dict[str, tuple[str, ...]] = {}
        for spec in specs:
            lang, sep, fields = spec.partition("=")
            if not sep or not lang.strip() or not fields.strip():
                raise ConfigError(f"view mapping {spec!r}: expected LANG=field[,field...]")
            views[lang.strip()] = tuple(f.strip() for f in fields.split(",") if f.strip())
        return views


@dataclass(frozen=True)
class Record:
    """A raw record and where it came from."""

    data: Mapping[str, Any]
    path: Path
    line: int


def detect_format(path: Path) -> CorpusFormat:
    """Guess the format from the path: a directory is BEIR, else by extension."""
    if path.is_dir():
        return "beir"
    suffixes = "".join(path.suffixes[-2:]).lower()
    if suffixes.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if suffixes.endswith((".tsv", ".tab")):
        return "tsv"
    if suffixes.endswith(".parquet"):
        return "parquet"
    raise ConfigError(f"cannot tell the format of {path}; pass --format jsonl|beir|tsv|parquet")


def read_records(path: Path, fmt: CorpusFormat = "auto") -> Iterator[Record | CorpusError]:
    """Records (or the error for an unreadable one) from a corpus, streaming.

    The path and format are checked now; records are read as the iterator is consumed.

    Raises:
        ConfigError: the corpus does not exist or its format is unknown.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"corpus {path} does not exist")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in ("beir", "jsonl", "tsv", "parquet"):
        raise ConfigError(f"unknown corpus format {fmt!r}: use jsonl, beir, tsv or parquet")
    if fmt == "beir" and path.is_dir() and not (path / "corpus.jsonl").is_file():
        raise ConfigError(f"{path} is not a BEIR folder: no corpus.jsonl inside")
    return _records(path, fmt)


def _records(path: Path, fmt: CorpusFormat) -> Iterator[Record | CorpusError]:
    if fmt == "beir":
        corpus = path / "corpus.jsonl" if path.is_dir() else path
        yield from _read_jsonl(corpus)
    elif fmt == "jsonl":
        yield from _read_jsonl(path)
    elif fmt == "tsv":
        yield from _read_tsv(path)
    else:
        yield from _read_parquet(path)


_NUL_HINT = "contains a NUL byte: the file may be UTF-16 or binary; save it as UTF-8"


def _decode(raw: bytes, path: Path, number: int) -> str | CorpusError:
    """One line as text; a UTF-8 byte order mark on the first line is dropped (editors on Windows add one)."""
    if b"\x00" in raw:
        return CorpusError(_NUL_HINT, path=path, line=number, kind="bad_encoding")
    try:
        return raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        return CorpusError(
            f"not valid UTF-8 (byte {exc.start}): {exc.reason}", path=path, line=number, kind="bad_encoding"
        )


def parse_json_line(line: str, path: Path, number: int, error: type[CorpusError] = CorpusError) -> Any:
    """The JSON value on one line of a JSONL file, or an ``error`` naming the file, line and column."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        return error(f"malformed JSON: {exc.msg} at column {exc.colno}", path=path, line=number, kind="malformed_json")


def _read_jsonl(path: Path) -> Iterator[Record | CorpusError]:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = _decode(raw, path, number)
            if isinstance(line, CorpusError):
                yield line
                continue
            if not line.strip():
                continue
            data = parse_json_line(line, path, number)
            if isinstance(data, CorpusError):
                yield data
                continue
            if not isinstance(data, dict):
                yield CorpusError("expected a JSON object per line", path=path, line=number, kind="malformed_json")
                continue
            yield Record(data, path, number)


def _read_tsv(path: Path) -> Iterator[Record | CorpusError]:
    """TSV with a header row naming the columns (e.g. ``id  title  text  lang``).

    Lines are decoded one by one, so a badly encoded line is reported with its number and the lines
    after it are still read (no quoting: a record is one line).
    """
    header: list[str] | None = None
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = _decode(raw, path, number)
            if isinstance(line, CorpusError):
                if header is None:  # without the header no column can be named: stop here
                    yield CorpusError(f"header line: {line.reason}", path=path, line=number, kind=line.kind)
                    return
                yield line
                continue
            row = next(csv.reader([line.rstrip("\r\n")], delimiter="\t", quoting=csv.QUOTE_NONE), [])
            if header is None:
                header = row
                continue
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield CorpusError(
                    f"expected {len(header)} tab-separated columns ({', '.join(header)}), got {len(row)}",
                    path=path,
                    line=number,
                    kind="malformed_row",
                )
                continue
            yield Record(dict(zip(header, row, strict=True)), path, number)


def _read_parquet(path: Path) -> Iterator[Record | CorpusError]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        for data in batch.to_pylist():
            number += 1
            yield Record(data, path, number)


def _joined(record: Record, fields: tuple[str, ...], role: str) -> str:
    parts = []
    for name in fields:
        value = record.data.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise CorpusError(
                f"{role} field must be a string, got {type(value).__name__}",
                path=record.path,
                line=record.line,
                field=name,
            )
        if "\x00" in value:
            raise CorpusError(
                f"{role} contains the NUL character (U+0000); remove it",
                path=record.path,
                line=record.line,
                field=name,
                kind="bad_encoding",
            )
        if value.strip():
            parts.append(unicodedata.normalize("NFC", value.strip()))
    return " ".join(parts)


def to_document(
    record: Record, mapping: FieldMapping, *, default_lang: str | None = None, detector: LanguageDetector | None = None
) -> Document:
    """Map a record to a :class:`Document` (texts in Unicode NFC, as queries are, so that a decomposed
    "é" (e + U+0301) and a composed one match in BM25).

    Raises:
        CorpusError: missing id, empty text, wrong field type, or no way to know the language.
    """
    id_fields = (mapping.id,) if mapping.id else ID_ALIASES
    raw_id = next((record.data[f] for f in id_fields if record.data.get(f) not in (None, "")), None)
    if raw_id is None:
        raise CorpusError(
            "missing document id", path=record.path, line=record.line, field="/".join(id_fields), kind="missing_id"
        )
    if not isinstance(raw_id, str | int):
        raise CorpusError(
            f"id must be a string, got {type(raw_id).__name__}", path=record.path, line=record.line, field=id_fields[0]
        )
    doc_id = str(raw_id).strip()
    if any(c in doc_id for c in "\t\n\r\x00"):
        raise CorpusError(
            "id contains a tab, a newline or a NUL character", path=record.path, line=record.line, field=id_fields[0]
        )
    title = _joined(record, mapping.title, "title")
    text = _joined(record, mapping.text, "text")
    if not title and not text:
        raise CorpusError(
            "empty text (no title and no text)",
            path=record.path,
            line=record.line,
            field="/".join(mapping.text),
            kind="empty_text",
        )
    views = {lang: _joined(record, fields, f"{lang} view") for lang, fields in mapping.views.items()}
    translations = record.data.get(mapping.translations) if mapping.translations else None
    if isinstance(translations, Mapping):
        views.update(
            {str(k): unicodedata.normalize("NFC", v.strip()) for k, v in translations.items() if isinstance(v, str)}
        )
    views = {lang: text for lang, text in views.items() if text}
    lang = record.data.get(mapping.lang) if mapping.lang else None
    if not isinstance(lang, str) or not lang.strip():
        lang = default_lang
    if not lang and detector is not None:
        lang = detector.detect(f"{title} {text}").lang
    if not lang:
        raise CorpusError(
            "no language: add a language field, pass --lang, or enable detection",
            path=record.path,
            line=record.line,
            field=mapping.lang or "lang",
            kind="no_language",
        )
    lang = lang.strip().lower()
    views.pop(lang, None)
    typed = {field.name for field in mapping.meta_fields}  # a declared field is kept typed, never raw
    metadata = {name: record.data[name] for name in mapping.metadata if name in record.data and name not in typed}
    metadata.update(typed_metadata(record, mapping.meta_fields))
    return Document(id=doc_id, lang=lang, title=title, text=text, views=views, metadata=metadata)


def typed_metadata(record: Record, fields: tuple[MetaField, ...]) -> dict[str, Any]:
    """The declared fields of ``record``, typed (absent or empty values left out).

    Raises:
        CorpusError: a value that does not fit its type, naming file, line and field.
    """
    typed: dict[str, Any] = {}
    for meta in fields:
        try:
            value = coerce(meta, record.data.get(meta.name))
        except MetaValueError as exc:
            raise CorpusError(
                f"{meta.spec}: {exc}", path=record.path, line=record.line, field=meta.name, kind="bad_metadata"
            ) from exc
        if value is not None:
            typed[meta.name] = value
    return typed
