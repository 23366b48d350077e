"""Collections: queries (TSV/JSONL), BEIR qrels, paired query tables, and folder layouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from passerelle.eval.collections import load_collection, read_beir_qrels, read_queries
from passerelle.eval.errors import CollectionError


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_read_queries_tsv_splits_on_the_first_tab(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text("q1\tWhat is\ta tab?\n\nq2\t  Où est-il ?  \n", encoding="utf-8")
    assert read_queries(path) == {"q1": "What is\ta tab?", "q2": "Où est-il ?"}


def test_read_queries_jsonl_accepts_id_keys(tmp_path):
    path = _jsonl(
        tmp_path / "q.jsonl",
        [{"_id": "a", "text": "one"}, {"id": 7, "text": "two"}, {"qid": "c", "text": "three", "metadata": {}}],
    )
    assert read_queries(path) == {"a": "one", "7": "two", "c": "three"}


@pytest.mark.parametrize(
    ("name", "content", "line", "reason"),
    [
        ("q.tsv", "q1\tok\nq2 no tab\n", 2, "qid<TAB>text"),
        ("q.tsv", "q1\tok\nq1\tagain\n", 2, "appears twice"),
        ("q.tsv", "q1\t   \n", 1, "non-empty"),
        ("q.jsonl", '{"_id": "a", "text": "x"}\n{"_id": "b"\n', 2, "invalid JSON"),
        ("q.jsonl", '{"text": "x"}\n', 1, "no id field"),
        ("q.jsonl", '{"_id": "a", "text": ""}\n', 1, "non-empty string"),
    ],
)
def test_read_queries_errors_name_file_and_line(tmp_path, name, content, line, reason):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CollectionError, match=reason) as info:
        read_queries(path)
    assert info.value.line == line
    assert f"{path}:{line}" in str(info.value)


def test_read_queries_refuses_other_formats(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("q1,text\n", encoding="utf-8")
    with pytest.raises(CollectionError, match=".tsv, .jsonl or .parquet"):
        read_queries(path)


def test_read_beir_qrels_needs_the_header(tmp_path):
    good = tmp_path / "test.tsv"
    good.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\nq2\td1\t0\n", encoding="utf-8")
    assert read_beir_qrels(good) == {"q1": {"d1": 1, "d2": 2}, "q2": {"d1": 0}}
    bad = tmp_path / "bad.tsv"
    bad.write_text("q1\td1\t1\n", encoding="utf-8")
    with pytest.raises(CollectionError, match="header") as info:
        read_beir_qrels(bad)
    assert info.value.line == 1


def _shared_layout(root: Path) -> Path:
    root.mkdir()
    (root / "queries.dev.tsv").write_text("q1\tWho?\nq2\tWhere?\nq3\tUnjudged\n", encoding="utf-8")
    (root / "queries.dev.de.tsv").write_text("q1\tWer?\nq2\tWo?\n", encoding="utf-8")
    (root / "queries.dev.notes.tsv").write_text("not a language view\n", encoding="utf-8")
    (root / "qrels.dev.tsv").write_text("q1 0 d1 1\nq2 0 d2 1\n", encoding="utf-8")
    return root


def test_load_collection_shared_layout_with_views(tmp_path):
    coll = load_collection(_shared_layout(tmp_path / "xq-en-de"))
    assert coll.name == "xq-en-de" and coll.split == "dev"
    assert coll.queries == {"q1": "Who?", "q2": "Where?", "q3": "Unjudged"}
    assert coll.qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}}
    assert coll.query_views == {"de": {"q1": "Wer?", "q2": "Wo?"}}
    assert coll.view("de")["q2"] == "Wo?"
    assert coll.view(None) is coll.queries
    with pytest.raises(CollectionError, match="no query view 'fr'"):
        coll.view("fr")


def test_with_view_scores_only_the_queries_the_view_translates(tmp_path):
    root = _shared_layout(tmp_path / "xq")
    (root / "queries.dev.fr.tsv").write_text("q2\tOù ?\nq3\tNon jugée\n", encoding="utf-8")
    coll = load_collection(root)
    fr = coll.with_view("fr")
    assert fr.queries == {"q2": "Où ?", "q3": "Non jugée"}
    assert fr.qrels == {"q2": {"d2": 1}}  # q1 has no French text, so it is not judged in this view
    assert fr.name == coll.name and fr.split == coll.split and fr.query_views == {}
    assert coll.with_view(None) is coll
    (root / "queries.dev.es.tsv").write_text("q3\tSin juicio\n", encoding="utf-8")
    with pytest.raises(CollectionError, match="view 'es' of 'xq' has no judged query"):
        load_collection(root).with_view("es")


def test_load_collection_beir_layout_keeps_the_split_queries(tmp_path):
    root = tmp_path / "beir"
    (root / "qrels").mkdir(parents=True)
    _jsonl(
        root / "queries.jsonl",
        [{"_id": "1", "text": "one"}, {"_id": "2", "text": "two"}, {"_id": "3", "text": "three"}],
    )
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\tdA\t1\n3\tdB\t1\n", encoding="utf-8")
    coll = load_collection(root, split="test")
    assert coll.queries == {"1": "one", "3": "three"}
    assert coll.qrels == {"1": {"dA": 1}, "3": {"dB": 1}}


def test_load_collection_errors(tmp_path):
    with pytest.raises(CollectionError, match="no collection for split 'dev'"):
        load_collection(tmp_path)
    root = _shared_layout(tmp_path / "c")
    (root / "qrels.dev.tsv").write_text("q1 0 d1 1\nq9 0 d2 1\n", encoding="utf-8")
    with pytest.raises(CollectionError, match=r"1 judged queries have no text \(first: \['q9'\]\)"):
        load_collection(root)


EXPECTED = {
    "xquad-en-de": 614,
    "xquad-en-es": 614,
    "xquad-en-ru": 614,
    "xquad-en-zh": 614,
    "tatoeba-en-fr": 490,
    "tatoeba-en-de": 490,
    "tatoeba-en-es": 490,
    "biomed-en-fr": 477,
}


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_collections_load_with_expected_counts(name, shared_data):
    folder = shared_data / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    coll = load_collection(folder)
    assert len(coll.queries) == EXPECTED[name]
    assert len(coll.qrels) == EXPECTED[name]
    assert set(coll.qrels) == set(coll.queries)
    # known-item collections: exactly one relevant document per query
    assert all(list(judged.values()) == [1] for judged in coll.qrels.values())
    if name.startswith("xquad"):
        lang = name.rsplit("-", 1)[1]
        assert set(coll.query_views) == {lang}
        assert set(coll.view(lang)) == set(coll.queries)
    else:
        assert coll.query_views == {}
