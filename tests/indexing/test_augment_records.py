"""The augmentation JSONL: strict reading (file:line:field) and the resumable writer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from passerelle.indexing.augment.errors import AugmentFileError
from passerelle.indexing.augment.records import AugmentRecord, read_augment_file
from passerelle.indexing.augment.writer import AugmentWriter


def _line(doc_id: str = "d1", kind: str = "query", lang: str = "en", text: str = "a question") -> str:
    return json.dumps({"doc_id": doc_id, "kind": kind, "lang": lang, "text": text})


def test_reads_valid_records_in_nfc(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(_line() + "\n\n" + _line("d2", "translation", "FR", " cafe\u0301 ") + "\n", encoding="utf-8")
    assert list(read_augment_file(path)) == [
        AugmentRecord("d1", "query", "en", "a question"),
        AugmentRecord("d2", "translation", "fr", "café"),
    ]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ('{"doc_id": "d1", "kind": "summary", "lang": "en", "text": "x"}', "kind"),
        ('{"doc_id": "", "kind": "query", "lang": "en", "text": "x"}', "doc_id"),
        ('{"doc_id": "d1", "kind": "query", "lang": "English!", "text": "x"}', "lang"),
        ('{"doc_id": "d1", "kind": "query", "lang": "en", "text": "  "}', "text"),
    ],
)
def test_bad_field_names_file_line_and_field(tmp_path: Path, bad: str, field: str) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(_line() + "\n" + bad + "\n", encoding="utf-8")
    with pytest.raises(AugmentFileError) as info:
        list(read_augment_file(path))
    assert str(info.value).startswith(f"{path}:2 field '{field}': ")


def test_malformed_json_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(_line() + "\n{not json\n", encoding="utf-8")
    with pytest.raises(AugmentFileError, match=r"a\.jsonl:2: malformed JSON"):
        list(read_augment_file(path))
    with pytest.raises(AugmentFileError, match="not found"):
        read_augment_file(tmp_path / "missing.jsonl")


def _records(doc_id: str, lang: str, n: int) -> list[AugmentRecord]:
    return [AugmentRecord(doc_id, "query", lang, f"{doc_id} {lang} {i}") for i in range(n)]


def test_writer_resumes_after_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    with AugmentWriter(path, {"query": 2}) as writer:
        writer.write_unit(_records("d1", "en", 2))
        writer.write_unit(_records("d2", "en", 2))
    whole = path.read_bytes()
    path.write_bytes(whole[:-10])  # killed in the middle of d2's second line
    writer = AugmentWriter(path, {"query": 2})
    assert writer.done("d1", "query", "en")
    assert not writer.done("d2", "query", "en")  # its first line survived but the unit is incomplete
    assert writer.dropped_lines == 2
    writer.write_unit(_records("d2", "en", 2))
    writer.close()
    assert path.read_bytes() == whole


def test_writer_keeps_short_units_that_are_not_last(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    with AugmentWriter(path, {"query": 3}) as writer:
        writer.write_unit(_records("d1", "en", 1))  # the model gave one non-empty query of three
        writer.write_unit(_records("d2", "en", 3))
    writer = AugmentWriter(path, {"query": 3})
    assert writer.done("d1", "query", "en") and writer.done("d2", "query", "en")
    assert writer.dropped_lines == 0 and writer.resumed_units == 2
    writer.close()


def test_writer_refuses_a_damaged_middle_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(_line() + "\n{oops\n" + _line("d2") + "\n", encoding="utf-8")
    with pytest.raises(AugmentFileError, match=r"q\.jsonl:2: cannot resume"):
        AugmentWriter(path, {"query": 1})
