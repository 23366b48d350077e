"""Typed metadata fields: declaring them, reading values of every type from every corpus format, and a
clear error (file, line, field) for a value that does not fit."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from passerelle.indexing.errors import ConfigError, CorpusError
from passerelle.indexing.metadata import MetaField, MetaValueError, coerce, day_number, parse_meta_fields
from passerelle.indexing.readers import FieldMapping, read_records, to_document

FIELDS = parse_meta_fields("year:int,score:float,journal:keyword,published:date,open:bool,authors:keyword[]")


def test_declarations_are_parsed_with_types_and_multiplicity() -> None:
    assert [f.spec for f in FIELDS] == [
        "year:int",
        "score:float",
        "journal:keyword",
        "published:date",
        "open:bool",
        "authors:keyword[]",
    ]
    assert FIELDS[-1] == MetaField("authors", "keyword", multi=True)
    assert parse_meta_fields(["year:int", " topic : keyword "]) == (
        MetaField("year", "int"),
        MetaField("topic", "keyword"),
    )
    assert parse_meta_fields(None) == parse_meta_fields("") == ()
    assert [MetaField.from_dict(f.to_dict()) for f in FIELDS] == list(FIELDS)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("year", "write NAME:TYPE"),
        ("year:integer", "unknown metadata type 'integer'"),
        ("lang:keyword", "reserved"),
        ("and:int", "reserved"),
        ("9lives:int", "use letters"),
        ("year:int,year:float", "names year more than once"),
    ],
)
def test_bad_declarations_say_what_to_write(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_meta_fields(spec)


@pytest.mark.parametrize(
    ("spec", "raw", "typed"),
    [
        ("year:int", 2015, 2015),
        ("year:int", "2015", 2015),  # TSV cells are strings
        ("year:int", 2015.0, 2015),
        ("score:float", "0.5", 0.5),
        ("score:float", 3, 3.0),
        ("journal:keyword", " Revue A ", "Revue A"),
        ("journal:keyword", 42, "42"),
        ("published:date", "2015-03-01", "2015-03-01"),
        ("published:date", "2015-03-01T10:00:00Z", "2015-03-01"),
        ("published:date", dt.date(2015, 3, 1), "2015-03-01"),
        ("open:bool", "yes", True),
        ("open:bool", False, False),
        ("authors:keyword[]", ["Ada", "Alan"], ["Ada", "Alan"]),
        ("authors:keyword[]", '["Ada", "Alan"]', ["Ada", "Alan"]),  # a JSON array in a TSV cell
        ("authors:keyword[]", "Ada", ["Ada"]),
        ("authors:keyword[]", [], None),
        ("year:int", None, None),
        ("year:int", "  ", None),
    ],
)
def test_values_are_typed(spec: str, raw: object, typed: object) -> None:
    (field,) = parse_meta_fields(spec)
    assert coerce(field, raw) == typed


@pytest.mark.parametrize(
    ("spec", "raw", "message"),
    [
        ("year:int", "twenty", "expected an integer"),
        ("year:int", True, "expected an integer"),
        ("year:int", 2**70, "64-bit"),
        ("score:float", "nan", "finite number"),
        ("journal:keyword", 1.5, "expected a string"),
        ("published:date", "01/03/2015", "YYYY-MM-DD"),
        ("open:bool", "maybe", "true or false"),
        ("year:int", [2015, 2016], r"declare year:int\[\]"),
        ("authors:keyword[]", "[not json", "JSON array"),
    ],
)
def test_values_that_do_not_fit_say_what_was_expected(spec: str, raw: object, message: str) -> None:
    (field,) = parse_meta_fields(spec)
    with pytest.raises(MetaValueError, match=message):
        coerce(field, raw)


def test_dates_compare_as_day_numbers() -> None:
    assert day_number("1970-01-02") == 1
    assert day_number("2015-03-01") < day_number("2015-03-02")


def _mapped(path: Path, spec: str = "year:int,authors:keyword[]", **mapping: object) -> list[object]:
    fields = FieldMapping(meta_fields=parse_meta_fields(spec), **mapping)  # type: ignore[arg-type]
    out: list[object] = []
    for record in read_records(path):
        try:
            out.append(to_document(record, fields))  # type: ignore[arg-type]
        except CorpusError as error:
            out.append(error)
    return out


def test_jsonl_values_are_stored_typed_and_a_bad_one_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    records = [
        {"id": "a", "lang": "fr", "text": "un", "year": "2015", "authors": ["Ada"], "note": "kept?"},
        {"id": "b", "lang": "fr", "text": "deux"},
        {"id": "c", "lang": "fr", "text": "trois", "year": "vingt"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    a, b, bad = _mapped(path, metadata=("note", "year"))
    assert a.metadata == {"note": "kept?", "year": 2015, "authors": ["Ada"]}  # type: ignore[attr-defined]
    assert b.metadata == {}  # type: ignore[attr-defined]
    assert isinstance(bad, CorpusError)
    assert (bad.line, bad.field, bad.kind) == (3, "year", "bad_metadata")
    assert f"{path}:3 field 'year'" in str(bad) and "expected an integer" in str(bad)


def test_tsv_cells_are_read_with_the_field_type(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    path.write_text('id\tlang\ttext\tyear\tauthors\na\tde\tText\t2019\t["Ada", "Alan"]\nb\tde\tMehr\t\t\n')
    a, b = _mapped(path)
    assert a.metadata == {"year": 2019, "authors": ["Ada", "Alan"]}  # type: ignore[attr-defined]
    assert b.metadata == {}  # type: ignore[attr-defined]


def test_parquet_numbers_and_lists_are_read(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    table = pa.table(
        {
            "docid": ["p1", "p2"],
            "lang": ["fr", "fr"],
            "abstract": ["Résumé un.", "Résumé deux."],
            "year": pa.array([2012, None], type=pa.int64()),
            "authors": pa.array([["Ada"], ["Alan", "Grace"]], type=pa.list_(pa.string())),
        }
    )
    pq.write_table(table, path)
    p1, p2 = _mapped(path, id="docid", text=("abstract",))
    assert p1.metadata == {"year": 2012, "authors": ["Ada"]}  # type: ignore[attr-defined]
    assert p2.metadata == {"authors": ["Alan", "Grace"]}  # type: ignore[attr-defined]
