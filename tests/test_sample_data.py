"""The project's own sample collection in ``data/sample``: format, consistency, and that it is answerable.

The sample is hand-written (see ``data/README.md``); these checks keep it usable as edits come in:
valid UTF-8 JSONL with the documented fields, unique ids, qrels that point at real documents, one
right answer per query, queries that are paraphrases rather than copies, and files that the
project's own corpus reader and collection loader accept.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
FILES = ("corpus.jsonl", "queries.dev.tsv", "queries.dev.fr.tsv", "qrels.dev.tsv")
LANG_COUNTS = {"fr": 16, "de": 16, "es": 8}
ID_PATTERN = re.compile(r"(fr|de|es)-\d{3}")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
WORD = re.compile(r"\w+")


def _lines(name: str) -> list[str]:
    return (SAMPLE / name).read_bytes().decode("utf-8").splitlines()


def _tsv(name: str) -> list[tuple[str, str]]:
    rows = []
    for line in _lines(name):
        qid, sep, text = line.partition("\t")
        assert sep and "\t" not in text, f"{name}: expected qid<TAB>text, got {line!r}"
        rows.append((qid, text))
    return rows


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return [json.loads(line) for line in _lines("corpus.jsonl")]


@pytest.fixture(scope="module")
def doc_by_id(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["id"]: doc for doc in docs}


@pytest.fixture(scope="module")
def queries() -> dict[str, str]:
    return dict(_tsv("queries.dev.tsv"))


@pytest.fixture(scope="module")
def qrels_rows() -> list[list[str]]:
    return [line.split(" ") for line in _lines("qrels.dev.tsv")]


@pytest.fixture(scope="module")
def target(qrels_rows: list[list[str]]) -> dict[str, str]:
    """qid -> its one relevant docid."""
    return {row[0]: row[2] for row in qrels_rows}


@pytest.mark.parametrize("name", FILES)
def test_files_are_strict_utf8_with_unix_lines(name: str) -> None:
    raw = (SAMPLE / name).read_bytes()
    raw.decode("utf-8")  # strict: raises on any invalid byte
    assert not raw.startswith(b"\xef\xbb\xbf"), "no byte-order mark"
    assert b"\r" not in raw
    assert raw.endswith(b"\n") and not raw.endswith(b"\n\n")


TOPICS = {
    "agriculture",
    "climate",
    "culture",
    "energy",
    "food",
    "games",
    "health",
    "heritage",
    "nature",
    "sport",
    "transport",
}


def test_corpus_records_have_exactly_the_documented_fields(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        assert set(doc) == {"id", "lang", "year", "topic", "title", "text", "translations"}, doc.get("id")
        assert isinstance(doc["year"], int) and 2010 <= doc["year"] <= 2024, doc["id"]
        assert doc["topic"] in TOPICS, doc["id"]
        assert ID_PATTERN.fullmatch(doc["id"]), doc["id"]
        assert doc["lang"] == doc["id"][:2]
        assert set(doc["translations"]) == {"en"}
        for value in (doc["title"], doc["text"], doc["translations"]["en"]):
            assert isinstance(value, str) and value == value.strip() and value


def test_ids_are_unique_and_languages_balanced(docs: list[dict[str, Any]]) -> None:
    ids = [doc["id"] for doc in docs]
    assert len(ids) == len(set(ids)) == sum(LANG_COUNTS.values())
    assert Counter(doc["lang"] for doc in docs) == LANG_COUNTS


def test_documents_are_two_to_four_sentences_and_translated_sentence_by_sentence(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        title_en, sep, text_en = doc["translations"]["en"].partition("\n")
        assert sep and title_en and text_en and "\n" not in text_en, doc["id"]
        n_original = len(SENTENCE_END.split(doc["text"]))
        assert 2 <= n_original <= 4, doc["id"]
        assert len(SENTENCE_END.split(text_en)) == n_original, doc["id"]


def test_every_query_has_exactly_one_existing_relevant_document(
    queries: dict[str, str], qrels_rows: list[list[str]], doc_by_id: dict[str, dict[str, Any]]
) -> None:
    assert len(queries) == len(_tsv("queries.dev.tsv")), "duplicate qid in queries.dev.tsv"
    for row in qrels_rows:
        assert len(row) == 4 and row[1] == "0" and row[3] == "1", row
        assert row[2] in doc_by_id, f"qrels docid {row[2]} is not in corpus.jsonl"
    judged = Counter(row[0] for row in qrels_rows)
    assert set(judged) == set(queries)
    assert set(judged.values()) == {1}
    assert all(text.strip() for text in queries.values())


def test_queries_target_several_languages(target: dict[str, str], doc_by_id: dict[str, dict[str, Any]]) -> None:
    assert {doc_by_id[docid]["lang"] for docid in target.values()} == set(LANG_COUNTS)
    assert len(set(target.values())) == len(target), "two queries share a target"
    assert len(doc_by_id) - len(target) >= 5, "keep some documents as distractors"


def test_french_queries_are_a_translated_subset(queries: dict[str, str]) -> None:
    french = _tsv("queries.dev.fr.tsv")
    qids = [qid for qid, _ in french]
    assert len(qids) == len(set(qids)) == 4
    assert set(qids) <= set(queries)
    for qid, text in french:
        assert text.strip() and text != queries[qid]


def test_queries_paraphrase_rather_than_copy_their_target(
    queries: dict[str, str], target: dict[str, str], doc_by_id: dict[str, dict[str, Any]]
) -> None:
    """No query shares more than 4 consecutive words with the English translation of its target."""
    for qid, text in queries.items():
        q_words = WORD.findall(text.lower())
        d_words = WORD.findall(doc_by_id[target[qid]]["translations"]["en"].lower())
        match = difflib.SequenceMatcher(None, q_words, d_words, autojunk=False).find_longest_match(
            0, len(q_words), 0, len(d_words)
        )
        assert match.size <= 4, f"{qid} copies {q_words[match.a : match.a + match.size]}"


def test_bm25_on_the_english_view_ranks_each_target_first(
    docs: list[dict[str, Any]], queries: dict[str, str], target: dict[str, str]
) -> None:
    """Each query has one clearly right answer: lexical search over the translations finds it at rank 1."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(
            [doc["translations"]["en"] for doc in docs], stopwords="en", stemmer=stemmer, show_progress=False
        ),
        show_progress=False,
    )
    qids = sorted(queries)
    results, _ = retriever.retrieve(
        bm25s.tokenize([queries[qid] for qid in qids], stopwords="en", stemmer=stemmer, show_progress=False),
        k=3,
        show_progress=False,
    )
    firsts = {qid: docs[int(row[0])]["id"] for qid, row in zip(qids, results, strict=True)}
    assert firsts == {qid: target[qid] for qid in qids}


def test_project_reader_maps_translations_to_the_en_view(docs: list[dict[str, Any]]) -> None:
    from support import sample_mapping

    from passerelle.indexing.errors import CorpusError
    from passerelle.indexing.readers import read_records, to_document

    mapping = sample_mapping()
    read = []
    for record in read_records(SAMPLE / "corpus.jsonl"):
        assert not isinstance(record, CorpusError), str(record)
        read.append(to_document(record, mapping))
    assert [(d.id, d.lang, d.title, d.text) for d in read] == [
        (doc["id"], doc["lang"], doc["title"], doc["text"]) for doc in docs
    ]
    assert [dict(d.views) for d in read] == [doc["translations"] for doc in docs]
    assert [dict(d.metadata) for d in read] == [{"year": doc["year"], "topic": doc["topic"]} for doc in docs]


def test_project_collection_loader_reads_the_sample(queries: dict[str, str], target: dict[str, str]) -> None:
    from passerelle.eval.collections import load_collection

    collection = load_collection(SAMPLE)
    assert collection.queries == queries
    assert collection.qrels == {qid: {docid: 1} for qid, docid in target.items()}
    assert collection.view("fr") == dict(_tsv("queries.dev.fr.tsv"))
