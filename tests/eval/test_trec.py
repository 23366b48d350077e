"""TREC qrels and run files: parsing, round trips, and errors that name the file and line."""

from __future__ import annotations

import pytest

from passerelle.eval.errors import CollectionError
from passerelle.eval.trec import ranked, read_qrels, read_run, write_qrels, write_run


def test_read_qrels_parses_whitespace_separated_lines(tmp_path):
    path = tmp_path / "qrels.tsv"
    path.write_text("q1 0 d1 1\nq1\t0\td2\t0\n\nq2 0 d9 2\n", encoding="utf-8")
    assert read_qrels(path) == {"q1": {"d1": 1, "d2": 0}, "q2": {"d9": 2}}


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ("q1 0 d1 1\nq1 0 d2\n", 2, "expected 4 fields"),
        ("q1 0 d1 yes\n", 1, "relevance must be an integer"),
        ("q1 0 d1 1\nq2 0 d1 1\nq1 0 d1 2\n", 3, "twice"),
    ],
)
def test_read_qrels_errors_name_file_and_line(tmp_path, content, line, reason):
    path = tmp_path / "bad.qrels"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CollectionError) as info:
        read_qrels(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert reason in str(info.value)


def test_missing_file_is_a_collection_error(tmp_path):
    with pytest.raises(CollectionError, match="file not found"):
        read_qrels(tmp_path / "nope.tsv")


def test_write_then_read_run_round_trips_exact_scores_and_order(tmp_path):
    run = {"q1": {"a": 0.1 + 0.2, "b": 1e-17, "c": 0.30000000000000004, "d": -2.5}, "q2": {"x": 3.0}}
    path = write_run(run, tmp_path / "sub" / "run.trec", tag="sys")
    lines = path.read_text(encoding="utf-8").splitlines()
    # best first; a and c tie exactly (0.1 + 0.2 == 0.30000000000000004), a stays before c
    assert [line.split()[2:4] for line in lines[:4]] == [["a", "1"], ["c", "2"], ["b", "3"], ["d", "4"]]
    assert all(line.split()[1] == "Q0" and line.split()[5] == "sys" for line in lines)
    back = read_run(path)
    assert back == run
    assert list(back["q1"]) == ["a", "c", "b", "d"]
    assert not list(tmp_path.joinpath("sub").glob(".*.tmp"))


def test_read_run_orders_documents_by_rank_column(tmp_path):
    path = tmp_path / "run.trec"
    path.write_text("q1 Q0 b 2 5.0 t\nq1 Q0 a 1 5.0 t\nq1 Q0 c 3 1.0 t\n", encoding="utf-8")
    assert list(read_run(path)["q1"]) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ("q1 Q0 a 1 1.0\n", 1, "expected 6 fields"),
        ("q1 Q0 a 1 1.0 t\nq1 Q0 b one 1.0 t\n", 2, "rank must be an integer"),
        ("q1 Q0 a 1 nan t\n", 1, "finite"),
        ("q1 Q0 a 1 1.0 t\nq1 Q0 a 2 0.5 t\n", 2, "twice"),
    ],
)
def test_read_run_errors_name_file_and_line(tmp_path, content, line, reason):
    path = tmp_path / "bad.trec"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CollectionError, match=reason) as info:
        read_run(path)
    assert info.value.line == line


def test_write_run_refuses_ids_with_whitespace(tmp_path):
    with pytest.raises(CollectionError, match="whitespace"):
        write_run({"q1": {"doc one": 1.0}}, tmp_path / "run.trec")
    with pytest.raises(CollectionError, match="run tag"):
        write_run({"q1": {"d": 1.0}}, tmp_path / "run.trec", tag="my tag")
    assert not (tmp_path / "run.trec").exists()


def test_qrels_round_trip(tmp_path):
    qrels = {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 3}}
    assert read_qrels(write_qrels(qrels, tmp_path / "q.txt")) == qrels


def test_ranked_is_score_descending_and_stable():
    assert ranked({"x": 1.0, "y": 2.0, "z": 1.0}) == [("y", 2.0), ("x", 1.0), ("z", 1.0)]
