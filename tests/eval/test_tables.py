"""Record tables (JSONL/Parquet): CLIRudit-style queries, qrels, and query-document pair tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from passerelle.eval.collections import read_queries
from passerelle.eval.errors import CollectionError
from passerelle.eval.tables import FieldMap, read_paired_queries, read_qrels_table, read_records


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_read_records_numbers_lines_and_skips_blanks(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    assert list(read_records(path)) == [(1, {"a": 1}), (3, {"a": 2})]
    path.write_text('{"a": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(CollectionError, match="expected a JSON object") as info:
        list(read_records(path))
    assert info.value.line == 2


def test_paired_queries_with_qid_field_and_several_documents(tmp_path):
    path = _jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"qid": 1, "query": "keywords one", "docid": "fr-1"},
            {"qid": 1, "query": "keywords one", "docid": "fr-2"},
            {"qid": 2, "query": "keywords two", "docid": ["fr-3", "fr-4"]},
        ],
    )
    queries, qrels = read_paired_queries(path)
    assert queries == {"1": "keywords one", "2": "keywords two"}
    assert qrels == {"1": {"fr-1": 1, "fr-2": 1}, "2": {"fr-3": 1, "fr-4": 1}}


def test_paired_queries_number_variants_when_there_is_no_qid(tmp_path):
    path = _jsonl(
        tmp_path / "pairs.jsonl",
        [{"q": "a b c", "doc": "d1", "grade": 2}, {"q": "a b d", "doc": "d1"}, {"q": "x y z", "doc": "d2"}],
    )
    queries, qrels = read_paired_queries(path, FieldMap(text="q", docid="doc", qid=None, rel="grade"))
    assert queries == {"d1#1": "a b c", "d1#2": "a b d", "d2#1": "x y z"}
    assert qrels == {"d1#1": {"d1": 2}, "d1#2": {"d1": 1}, "d2#1": {"d2": 1}}


def test_paired_queries_from_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "queries.parquet"
    pq.write_table(pa.table({"qid": [10, 11], "query": ["alpha", "beta"], "docid": ["a", "b"]}), path)
    queries, qrels = read_paired_queries(path)
    assert queries == {"10": "alpha", "11": "beta"}
    assert qrels == {"10": {"a": 1}, "11": {"b": 1}}


def test_clirudit_tables_from_parquet(tmp_path):
    """CLIRudit ships queries (qid int, query) and qrels (qid, docid, rel) as separate tables."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"qid": [1, 2], "query": ["law; water; rights", "poetry; exile"]}), tmp_path / "queries.parquet"
    )
    pq.write_table(pa.table({"qid": [1, 1, 2], "docid": ["a", "b", "c"], "rel": [1, 1, 0]}), tmp_path / "qrels.parquet")
    assert read_queries(tmp_path / "queries.parquet", text_field="query") == {
        "1": "law; water; rights",
        "2": "poetry; exile",
    }
    assert read_qrels_table(tmp_path / "qrels.parquet") == {"1": {"a": 1, "b": 1}, "2": {"c": 0}}
    bad = _jsonl(tmp_path / "bad.jsonl", [{"qid": 1, "docid": "a", "rel": "high"}])
    with pytest.raises(CollectionError, match="must be an integer") as info:
        read_qrels_table(bad)
    assert info.value.line == 1


def test_paired_queries_errors(tmp_path):
    conflict = _jsonl(
        tmp_path / "c.jsonl", [{"qid": 1, "query": "a", "docid": "x"}, {"qid": 1, "query": "b", "docid": "y"}]
    )
    with pytest.raises(CollectionError, match="two different texts") as info:
        read_paired_queries(conflict)
    assert info.value.line == 2
    no_doc = _jsonl(tmp_path / "n.jsonl", [{"qid": 1, "query": "a", "docid": []}])
    with pytest.raises(CollectionError, match="at least one document"):
        read_paired_queries(no_doc)
