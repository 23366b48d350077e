"""Corpus readers and the field mapping: every format, and a clear error for every kind of bad record."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from passerelle.indexing.errors import ConfigError, CorpusError
from passerelle.indexing.language import LanguageDetector
from passerelle.indexing.readers import FieldMapping, Record, read_records, to_document


def _docs(path: Path, mapping: FieldMapping | None = None, **kwargs: object) -> list:
    out = []
    for item in read_records(path):
        out.append(item if isinstance(item, CorpusError) else to_document(item, mapping or FieldMapping(), **kwargs))
    return out


def test_jsonl_with_translations_becomes_views(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(
        json.dumps(
            {"id": "d1", "lang": "fr", "title": "Titre", "text": "Texte.", "translations": {"en": "Title. Text."}}
        )
        + "\n\n",
        encoding="utf-8",
    )
    (doc,) = _docs(path)
    assert (doc.id, doc.lang, doc.contents) == ("d1", "fr", "Titre\nTexte.")
    assert doc.view("en") == "Title. Text."
    assert doc.view_langs() == ["fr", "en"]


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "lang": "fr", "text": "ok"}\n{"id": "b", "text": \n', encoding="utf-8")
    ok, bad = _docs(path)
    assert ok.id == "a"
    assert isinstance(bad, CorpusError) and bad.line == 2 and bad.kind == "malformed_json"
    assert f"{path}:2" in str(bad)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"id": "a", "lang": "fr", "text": "ok"}\n{"id": "b", "lang": "fr", "text": "caf\xe9"}\n')
    items = list(read_records(path))
    assert isinstance(items[1], CorpusError) and items[1].line == 2 and items[1].kind == "bad_encoding"


@pytest.mark.parametrize(
    ("record", "kind", "field"),
    [
        ({"lang": "fr", "text": "no id"}, "missing_id", "id/_id/docid/doc_id"),
        ({"id": "x", "lang": "fr", "title": " ", "text": ""}, "empty_text", "text"),
        ({"id": "x", "text": "sans langue"}, "no_language", "lang"),
        ({"id": "x", "lang": "fr", "text": 42}, "invalid_record", "text"),
    ],
)
def test_bad_records_name_kind_and_field(tmp_path: Path, record: dict, kind: str, field: str) -> None:
    with pytest.raises(CorpusError) as info:
        to_document(Record(record, tmp_path / "c.jsonl", 7), FieldMapping())
    assert info.value.kind == kind and info.value.line == 7 and info.value.field == field
    assert ":7" in str(info.value)


def test_clirudit_style_mapping_joins_fields_and_attaches_english_view(tmp_path: Path) -> None:
    path = tmp_path / "clirudit.parquet"
    table = pa.table(
        {
            "docid": ["r1", "r2"],
            "title": ["La forêt", "Le fleuve"],
            "subtitle": ["boréale", ""],
            "abstract": ["Résumé un.", "Résumé deux."],
            "title_en": ["The boreal forest", "The river"],
            "abstract_en": ["Abstract one.", "Abstract two."],
            "year": [2001, 2002],
        }
    )
    pq.write_table(table, path)
    mapping = FieldMapping(
        id="docid",
        title=("title", "subtitle"),
        text=("abstract",),
        lang=None,
        views=FieldMapping.parse_views(["en=title_en,abstract_en"]),
        metadata=("year",),
    )
    first, second = _docs(path, mapping, default_lang="fr")
    assert first.title == "La forêt boréale" and second.title == "Le fleuve"
    assert first.view("en") == "The boreal forest Abstract one."
    assert first.metadata == {"year": 2001} and first.lang == "fr"


def test_tsv_with_header_and_wrong_column_count(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    path.write_text("id\tlang\ttext\nd1\tde\tDas Haus.\nd2\tde\n", encoding="utf-8")
    good, bad = _docs(path)
    assert good.text == "Das Haus."
    assert isinstance(bad, CorpusError) and bad.line == 3


def test_beir_folder_and_id_alias(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text(
        json.dumps({"_id": "b1", "title": "", "text": "Hallo Welt"}) + "\n", encoding="utf-8"
    )
    (doc,) = _docs(tmp_path, default_lang="de")
    assert doc.id == "b1" and doc.lang == "de"


def test_language_detection_when_no_field(tmp_path: Path) -> None:
    record = Record({"id": "x", "text": "Die Gletscher in den Alpen schmelzen jedes Jahr schneller."}, tmp_path, 1)
    assert to_document(record, FieldMapping(), detector=LanguageDetector()).lang == "de"


def test_missing_corpus_and_unknown_format_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_records(tmp_path / "nope.jsonl")
    (tmp_path / "c.xml").write_text("<x/>")
    with pytest.raises(ConfigError, match="--format"):
        read_records(tmp_path / "c.xml")
    with pytest.raises(ConfigError, match="LANG=field"):
        FieldMapping.parse_views(["en"])
