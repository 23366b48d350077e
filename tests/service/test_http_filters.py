"""Filters, paging and stored fields over HTTP, against a live server on the sample index (metadata: year,
topic): results obey the filter, pages continue each other, and every bad filter is a 422 naming it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

QUESTION = "How do glaciers melt?"


def search(http: httpx.Client, **body: Any) -> dict[str, Any]:
    response = http.post("/v1/search", json={"query": QUESTION, **body})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_hits_obey_the_filter_in_every_mode(http: httpx.Client, mode: str) -> None:
    body = search(
        http,
        mode=mode,
        k=20,
        filter={"year": {"gte": 2021}, "topic": {"in": ["climate", "nature"]}},
        fields=["metadata"],
    )
    assert body["filter_matches"] == 4  # fr-002, fr-013 (climate), de-012, de-015 (nature)
    assert body["hits"], body
    for hit in body["hits"]:
        assert hit["metadata"]["year"] >= 2021 and hit["metadata"]["topic"] in ("climate", "nature")
        assert set(hit) == {"id", "score", "metadata", "explanation"}


def test_a_filter_changes_the_answer_not_just_its_length(http: httpx.Client) -> None:
    unfiltered = [h["id"] for h in search(http, k=2)["hits"]]
    filtered = [h["id"] for h in search(http, k=2, filter={"year": {"gte": 2021}})["hits"]]
    assert "de-002" in unfiltered and "de-002" not in filtered  # its year is 2020
    assert filtered[0] == "fr-002"


def test_pages_continue_each_other(http: httpx.Client) -> None:
    whole = search(http, k=12, filter={"not": {"lang": "es"}})
    pages = [search(http, k=4, offset=offset, filter={"not": {"lang": "es"}}) for offset in (0, 4, 8)]
    assert [h["id"] for p in pages for h in p["hits"]] == [h["id"] for h in whole["hits"]]
    assert [p["offset"] for p in pages] == [0, 4, 8] and all(p["has_more"] for p in pages)
    last = search(http, k=10, offset=30, filter={"not": {"lang": "es"}})  # 32 documents allowed
    assert len(last["hits"]) == 2 and not last["has_more"]


def test_fields_choose_what_a_hit_carries(http: httpx.Client) -> None:
    default = search(http, k=1)["hits"][0]
    assert set(default) == {"id", "score", "lang", "title", "snippet", "sources", "explanation"}
    full = search(http, k=1, fields=["text", "views", "lang"])["hits"][0]
    assert set(full) == {"id", "score", "text", "views", "lang", "explanation"}
    assert full["text"].startswith(default["snippet"].rstrip("…")) and set(full["views"]) == {"en"}


def test_batch_and_get_take_a_filter(http: httpx.Client) -> None:
    response = http.post(
        "/v1/search/batch", json={"queries": [QUESTION, "strike"], "k": 3, "filter": {"topic": "transport"}}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["filter_matches"] for r in results] == [7, 7]
    params = {"q": QUESTION, "k": 3, "filter": '{"topic": "climate", "year": {"lt": 2021}}', "fields": "metadata"}
    got = http.get("/v1/search", params=params)
    assert got.status_code == 200, got.text
    assert [h["id"] for h in got.json()["hits"]] == ["de-002"]


BAD_FILTERS = [
    ({"year": {"gtx": 2015}}, "filter.year.gtx: unknown operator 'gtx'"),
    ({"year": None}, "filter.year"),
    ({}, "non-empty object"),
    ({"and": {"year": 2015}}, "filter.and: 'and' takes a non-empty list"),
    ({"topic": {"in": []}}, "filter.topic.in"),
    ("year>2015", "dict"),
    ({"yeer": 2015}, "filter.yeer: unknown field 'yeer'; this index can be filtered on lang (keyword), topic"),
    ({"year": "2015"}, "filter.year: 'year' is int: expected an integer"),
    ({"year": {"gte": 2015.5}}, "filter.year.gte"),
    ({"topic": {"gt": "a"}}, "filter.topic.gt: gt needs an int, float or date field"),
    ({"or": [{"lang": "fr"}, {"topic": 3}]}, "filter.or[1].topic: 'topic' is keyword: expected a string"),
    ({"not": {"lang": ["fr", None]}}, "filter.not.lang[1]"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_FILTERS)
def test_every_bad_filter_is_a_422_naming_it(http: httpx.Client, bad: Any, message: str) -> None:
    for path, body in (("/v1/search", {"query": QUESTION}), ("/v1/search/batch", {"queries": [QUESTION]})):
        response = http.post(path, json={**body, "filter": bad})
        assert response.status_code == 422, response.text
        assert message in str(response.json()["detail"]), response.text


@pytest.mark.parametrize(
    ("params", "message"),
    [({"filter": "{not json"}, "not valid JSON"), ({"offset": -1}, "offset"), ({"fields": "body"}, "fields")],
)
def test_bad_query_string_options_are_422(http: httpx.Client, params: dict[str, Any], message: str) -> None:
    response = http.get("/v1/search", params={"q": QUESTION, **params})
    assert response.status_code == 422 and message in response.text


def test_the_openapi_document_describes_filter_offset_and_fields(http: httpx.Client) -> None:
    schema = http.get("/openapi.json").json()["components"]["schemas"]["SearchRequest"]["properties"]
    assert "gte" in str(schema["filter"]) and schema["offset"]["minimum"] == 0
    assert "metadata" in str(schema["fields"])


def test_offset_is_bounded_by_max_depth(http: httpx.Client) -> None:
    from passerelle.service.api.settings import ServiceSettings

    limit = ServiceSettings().max_depth
    response = http.post("/v1/search", json={"query": QUESTION, "offset": limit + 1})
    assert response.status_code == 422 and "offset" in response.text
    assert search(http, offset=limit, k=1)["hits"] == []
