"""Badly encoded corpus files: a clear error naming file and line, never a crash, never a lost good line.

Invalid UTF-8 and NUL bytes (a UTF-16 or binary file) are refused line by line; a UTF-8 byte order mark
at the start of a file is accepted (editors on Windows write one).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from passerelle.indexing.build import build_index
from passerelle.indexing.docstore import DocStore
from passerelle.indexing.errors import CorpusError
from passerelle.indexing.options import BuildOptions
from passerelle.indexing.readers import FieldMapping, Record, read_records, to_document

BOM = b"\xef\xbb\xbf"
JSONL_OK = b'{"id": "a", "lang": "fr", "title": "Abeilles", "text": "Les abeilles et le miel."}\n'
JSONL_LAST = b'{"id": "c", "lang": "fr", "title": "Olives", "text": "La cueillette des olives."}\n'
TSV_HEADER = b"id\ttitle\ttext\tlang\n"
TSV_OK = b"a\tAbeilles\tLes abeilles et le miel.\tfr\n"
TSV_LAST = b"c\tOlives\tLa cueillette des olives.\tfr\n"

# (name, file content, line of the bad record, words the error must contain); the good records around
# the bad one must all be read.
DEFECTS = [
    (
        "bad-utf8.jsonl",
        JSONL_OK + b'{"id": "b", "lang": "fr", "text": "caf\xe9 cr\xe8me"}\n' + JSONL_LAST,
        2,
        "not valid UTF-8",
    ),
    (
        "truncated-utf8.jsonl",
        JSONL_OK + b'{"id": "b", "lang": "fr", "text": "\xe2\x82"}\n' + JSONL_LAST,
        2,
        "not valid UTF-8",
    ),
    ("nul.jsonl", JSONL_OK + b'{"id": "b", "lang": "fr", "text": "bee\x00s"}\n' + JSONL_LAST, 2, "NUL byte"),
    ("utf16.jsonl", JSONL_OK + '{"id": "b"}'.encode("utf-16-le") + b"\n" + JSONL_LAST, 2, "UTF-16"),
    (
        "escaped-nul.jsonl",
        JSONL_OK + b'{"id": "b", "lang": "fr", "text": "bee\\u0000s"}\n' + JSONL_LAST,
        2,
        "NUL character",
    ),
    ("bad-utf8.tsv", TSV_HEADER + TSV_OK + b"b\tCaf\xe9\tcr\xe8me\tfr\n" + TSV_LAST, 3, "not valid UTF-8"),
    ("nul.tsv", TSV_HEADER + TSV_OK + b"b\tbee\x00s\tx\tfr\n" + TSV_LAST, 3, "NUL byte"),
]


def _read(path: Path) -> tuple[list[str], list[CorpusError]]:
    ids, errors = [], []
    for item in read_records(path):
        if isinstance(item, Record):
            try:
                ids.append(to_document(item, FieldMapping()).id)
            except CorpusError as error:
                errors.append(error)
        else:
            errors.append(item)
    return ids, errors


@pytest.mark.parametrize(("name", "content", "line", "words"), DEFECTS, ids=[d[0] for d in DEFECTS])
def test_bad_line_is_named_and_the_others_are_read(
    tmp_path: Path, name: str, content: bytes, line: int, words: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    ids, errors = _read(path)
    assert ids == ["a", "c"]
    (error,) = errors
    assert error.line == line and error.path == str(path)
    assert str(error).startswith(f"{path}:{line}")
    assert words in str(error)


@pytest.mark.parametrize(
    ("name", "content"), [("bom.jsonl", BOM + JSONL_OK + JSONL_LAST), ("bom.tsv", BOM + TSV_HEADER + TSV_OK + TSV_LAST)]
)
def test_byte_order_mark_is_accepted(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert _read(path) == (["a", "c"], [])


def test_unreadable_tsv_header_stops_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    path.write_bytes("id\ttitle\ttext\tlang\n".encode("utf-16") + TSV_OK)
    ids, errors = _read(path)
    assert ids == []
    (error,) = errors
    assert error.line == 1 and "header line" in str(error) and "UTF-16" in str(error)


def test_build_refuses_with_file_and_line_or_skips_and_counts(tmp_path: Path) -> None:
    name, content, line, words = DEFECTS[0]
    corpus = tmp_path / name
    corpus.write_bytes(content)
    side_free = {"dense": False, "sparse": False, "progress": False}  # the docstore alone: no model, no JVM
    with pytest.raises(CorpusError, match=rf"{corpus}:{line}: {words}"):
        build_index(corpus, tmp_path / "refused", BuildOptions(**side_free))
    assert not (tmp_path / "refused").exists()
    manifest = build_index(corpus, tmp_path / "skipped", BuildOptions(on_error="skip", **side_free))
    assert manifest.doc_count == 2 and manifest.skipped == {"bad_encoding": 1}
    store = DocStore(tmp_path / "skipped" / "docs.sqlite", readonly=True)
    assert sorted(store.existing_ids(["a", "b", "c"])) == ["a", "c"]
    store.close()


@pytest.mark.slow
def test_cli_prints_one_line_not_a_traceback(tmp_path: Path) -> None:
    corpus = tmp_path / "nul.tsv"
    corpus.write_bytes(DEFECTS[-1][1])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "passerelle",
            "index",
            "build",
            "--corpus",
            str(corpus),
            "--out",
            str(tmp_path / "idx"),
            "--no-dense",
            "--no-sparse",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert f"error: {corpus}:3: contains a NUL byte" in result.stderr
    assert "Traceback" not in result.stderr


def test_texts_are_stored_composed(tmp_path: Path) -> None:
    """A corpus written in NFD (macOS file names and some exports) is stored, and so searched, in NFC."""
    import unicodedata

    path = tmp_path / "nfd.jsonl"
    text = "La boulangère sème des graines de sésame."
    record = {"id": "a", "lang": "fr", "title": "Été", "text": text, "translations": {"de": "Bäckerin"}}
    path.write_text(unicodedata.normalize("NFD", json.dumps(record, ensure_ascii=False)) + "\n", encoding="utf-8")
    (item,) = read_records(path)
    assert isinstance(item, Record)
    doc = to_document(item, FieldMapping())
    assert (doc.title, doc.text, doc.views["de"]) == ("Été", text, "Bäckerin")
