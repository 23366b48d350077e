"""The filter language: JSON and command-line forms, checks against an index's fields (each error names
where it is), and evaluation over typed columns, missing values and multi-valued fields included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from passerelle.indexing.filter_table import FilterTable, build_table
from passerelle.indexing.metadata import parse_meta_fields
from passerelle.service.errors import FilterError
from passerelle.service.filter_eval import allowed_rows, bind, evaluate
from passerelle.service.filters import And, Condition, Not, Or, parse_filter, parse_filter_text

FIELDS = parse_meta_fields("year:int,score:float,journal:keyword,day:date,open:bool,authors:keyword[]")
DOCS = [
    ("a", "fr", {"year": 2010, "score": 1.5, "journal": "J1", "day": "2010-05-01", "open": True, "authors": ["X"]}),
    ("b", "fr", {"year": 2016, "journal": "J2", "authors": ["X", "Y"]}),
    ("c", "de", {"year": 2020, "score": 9.0, "journal": "J1", "day": "2020-01-31", "open": False}),
    ("d", "es", {}),
]


class Rows:
    def metadata_rows(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        yield from DOCS


@pytest.fixture(scope="module")
def table() -> FilterTable:
    return build_table(Rows(), None, FIELDS)


def ids(table: FilterTable, data: dict[str, Any]) -> list[str]:
    rows = allowed_rows(bind(parse_filter(data), table.fields), table)
    return [table.ids[r] for r in np.flatnonzero(rows.mask)]


def test_the_json_form_becomes_a_tree() -> None:
    assert parse_filter({"year": 2015}) == Condition("year", "eq", 2015)
    assert parse_filter({"journal": ["J1", "J2"]}) == Condition("journal", "in", ("J1", "J2"))
    assert parse_filter({"year": {"gte": 2015, "lt": 2020}, "open": True}) == And(
        (Condition("year", "gte", 2015), Condition("year", "lt", 2020), Condition("open", "eq", True))
    )
    assert parse_filter({"or": [{"year": 1}, {"not": {"authors": {"exists": True}}}]}) == Or(
        (Condition("year", "eq", 1), Not(Condition("authors", "exists", True)))
    )


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({}, "filter", "non-empty object"),
        ([{"year": 1}], "filter", "non-empty object"),
        ({"year": {"gtx": 1}}, "filter.year.gtx", "unknown operator 'gtx'"),
        ({"year": {}}, "filter.year", "no operator"),
        ({"year": None}, "filter.year", "exists"),
        ({"year": {"in": []}}, "filter.year.in", "non-empty list"),
        ({"year": {"in": [1, [2]]}}, "filter.year.in[1]", "string, number or boolean"),
        ({"and": {"year": 1}}, "filter.and", "non-empty list"),
        ({"or": [{"year": 1}, "x"]}, "filter.or[1]", "non-empty object"),
        ({"not": {"year": {"exists": "yes"}}}, "filter.not.year.exists", "true or false"),
    ],
)
def test_malformed_filters_name_where(data: Any, path: str, message: str) -> None:
    with pytest.raises(FilterError, match=message) as error:
        parse_filter(data)
    assert error.value.path == path and str(error.value).startswith(f"{path}: ")


def test_depth_and_size_are_bounded() -> None:
    deep: dict[str, Any] = {"year": 1}
    for _ in range(20):
        deep = {"not": deep}
    with pytest.raises(FilterError, match="nested deeper"):
        parse_filter(deep)
    with pytest.raises(FilterError, match="more than 256 conditions"):
        parse_filter({"or": [{"year": i} for i in range(300)]})


def test_the_command_line_form_reads_each_operator() -> None:
    node = parse_filter_text(
        ["year>=2015", "year < 2020", "journal = Revue A", "journal!=J2", 'authors in X, "Y, Z"', "open exists"]
    )
    assert node == And(
        (
            Condition("year", "gte", "2015"),
            Condition("year", "lt", "2020"),
            Condition("journal", "eq", "Revue A"),
            Not(Condition("journal", "eq", "J2")),
            Condition("authors", "in", ("X", "Y, Z")),
            Condition("open", "exists", True),
        )
    )
    assert parse_filter_text(["journal not in J1,J2"]) == Not(Condition("journal", "in", ("J1", "J2")))
    assert parse_filter_text(['{"year": {"lte": 2000}}']) == Condition("year", "lte", 2000)
    assert parse_filter_text([]) is None
    with pytest.raises(FilterError, match=r"--filter\[0\]: cannot read 'year 2015'"):
        parse_filter_text(["year 2015"])


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"yeer": 1}, "filter.yeer", "unknown field 'yeer'; this index can be filtered on authors"),
        ({"year": "2015"}, "filter.year", "'year' is int: expected an integer, got '2015'"),
        ({"year": {"gte": 2015.5}}, "filter.year.gte", "expected an integer"),
        ({"score": {"lt": "high"}}, "filter.score.lt", "expected a number"),
        ({"journal": 12}, "filter.journal", "expected a string"),
        ({"journal": {"gt": "J1"}}, "filter.journal.gt", "needs an int, float or date field"),
        ({"open": {"lt": True}}, "filter.open.lt", "needs an int, float or date field"),
        ({"open": "true"}, "filter.open", "expected true or false"),
        ({"day": {"gte": "May 2010"}}, "filter.day.gte", "YYYY-MM-DD"),
        ({"lang": ["fr", 3]}, "filter.lang[1]", "expected a string"),
        ({"lang": {"in": ["fr", 3]}}, "filter.lang.in[1]", "expected a string"),
        ({"or": [{"year": 1}, {"and": [{"nope": 1}]}]}, "filter.or[1].and[0].nope", "unknown field 'nope'"),
    ],
)
def test_filters_that_do_not_fit_the_index_name_the_field(
    table: FilterTable, data: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(FilterError, match=message) as error:
        bind(parse_filter(data), table.fields)
    assert error.value.path == path


def test_lenient_binding_reads_text_with_the_field_type(table: FilterTable) -> None:
    bound = bind(parse_filter_text(["year>=2015", "day<2015-01-01", "open=yes"]), table.fields, lenient=True)  # type: ignore[arg-type]
    assert bound == And((Condition("year", "gte", 2015), Condition("day", "lt", 16436), Condition("open", "eq", True)))
    with pytest.raises(FilterError, match="'year' is int: expected an integer, got 'soon'"):
        bind(parse_filter_text(["year>soon"]), table.fields, lenient=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"year": {"gte": 2016}}, ["b", "c"]),
        ({"year": [2010, 2020]}, ["a", "c"]),
        ({"score": {"gt": 1.5}}, ["c"]),  # b has no score: no range matches it
        ({"not": {"score": {"gt": 1.5}}}, ["a", "b", "d"]),  # ... and not matches it
        ({"journal": "J1"}, ["a", "c"]),
        ({"journal": "J9"}, []),
        ({"day": {"gte": "2015-01-01"}}, ["c"]),
        ({"open": False}, ["c"]),
        ({"authors": "Y"}, ["b"]),
        ({"authors": ["X", "Q"]}, ["a", "b"]),
        ({"authors": {"exists": False}}, ["c", "d"]),
        ({"lang": "fr"}, ["a", "b"]),
        ({"or": [{"lang": "es"}, {"and": [{"journal": "J1"}, {"year": {"lt": 2015}}]}]}, ["a", "d"]),
    ],
)
def test_evaluation(table: FilterTable, data: dict[str, Any], expected: list[str]) -> None:
    assert ids(table, data) == expected


def test_exclusion_is_used_when_fewer_documents_are_excluded(table: FilterTable) -> None:
    broad = allowed_rows(bind(parse_filter({"not": {"lang": "es"}}), table.fields), table)
    narrow = allowed_rows(bind(parse_filter({"lang": "es"}), table.fields), table)
    assert broad.sparse.exclude and len(broad.sparse.keys) == 1
    assert not narrow.sparse.exclude and len(narrow.sparse.keys) == 1
    assert broad.sparse.allows("a") and not broad.sparse.allows("d") and not broad.sparse.allows("zz")
    assert evaluate(Condition("lang", "exists", True), table).all()
