"""Request validation, conversions to and from the searcher's types, and the OpenAPI document."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from passerelle.service.api import requests, schemas
from passerelle.service.api.requests import request_models
from passerelle.service.api.schemas import SearchResponse, plain
from passerelle.service.api.settings import ServiceSettings
from passerelle.service.searcher import Hit, SearchParams, SearchResult, SourceHit

MODELS = request_models(
    ServiceSettings(
        max_k=20, max_query_chars=30, max_batch=3, default_k=5, default_mode="dense", default_depth=50, max_depth=200
    )
)


def _locs(error: ValidationError) -> list[tuple]:
    return [e["loc"] for e in error.errors()]


def test_defaults_come_from_the_settings() -> None:
    request = MODELS.search(query="bees")
    assert (request.k, request.mode, request.depth) == (5, "dense", 50)
    assert MODELS.query_params(q="bees").k == 5
    assert MODELS.batch(queries=["a"]).mode == "dense"


@pytest.mark.parametrize(
    ("values", "loc"),
    [
        ({"query": "x" * 31}, ("query",)),
        ({"query": "bees", "k": 21}, ("k",)),
        ({"query": "bees", "depth": 201}, ("depth",)),
        ({"query": "bees", "k": 10, "depth": 9}, ("depth",)),
        ({"query": "a\x00b"}, ("query",)),
    ],
)
def test_limits_from_the_settings(values: dict, loc: tuple) -> None:
    with pytest.raises(ValidationError) as info:
        MODELS.search(**values)
    assert loc in _locs(info.value)


def test_batch_limits() -> None:
    with pytest.raises(ValidationError) as info:
        MODELS.batch(queries=["a", "b", "c", "d"])
    assert ("queries",) in _locs(info.value)
    with pytest.raises(ValidationError, match=r"queries\[1\] is empty"):
        MODELS.batch(queries=["a", "\t"])


def test_depth_defaults_to_at_least_k() -> None:
    assert MODELS.search(query="bees", k=20).depth == 50
    big = request_models(ServiceSettings(max_k=500, default_depth=100))
    assert big.search(query="bees", k=300).depth == 300  # default depth raised to k, not an error


def test_language_codes_are_normalized() -> None:
    request = MODELS.search(query="bees", query_lang=" FR", doc_langs=["De", "es"])
    assert request.query_lang == "fr"
    assert request.doc_langs == ["de", "es"]


def test_to_params() -> None:
    request = MODELS.search(
        query="bees",
        mode="hybrid",
        k=7,
        query_lang="en",
        doc_langs=["fr", "de"],
        fusion="linear",
        normalization="dbsf",
        weights={"dense": 0.8},
        rrf_k=10,
        depth=70,
        explain=True,
        index="sample",
    )
    assert request.to_params() == SearchParams(
        mode="hybrid",
        k=7,
        query_lang="en",
        doc_langs=frozenset({"fr", "de"}),
        fusion="linear",
        normalization="dbsf",
        weights={"dense": 0.8},
        rrf_k=10,
        depth=70,
        explain=True,
    )


def test_from_result() -> None:
    result = SearchResult(
        query="bees",
        query_lang="en",
        mode="hybrid",
        timings_ms=MappingProxyType({"dense": 1.5}),
        warnings=("BM25 is unavailable",),
        hits=[
            Hit(
                doc_id="fr-004",
                score=0.5,
                lang="fr",
                title="T",
                snippet="S",
                sources=MappingProxyType({"dense": SourceHit(rank=1, score=np.float32(0.25))}),
                explanation=MappingProxyType(
                    {"contributions": MappingProxyType({"dense": {"value": 0.5}}), "langs": frozenset({"fr", "de"})}
                ),
            )
        ],
    )
    response = SearchResponse.from_result("sample", result)
    assert response.model_dump(exclude_unset=True) == {  # what the routes send
        "index": "sample",
        "query": "bees",
        "query_lang": "en",
        "mode": "hybrid",
        "offset": 0,
        "has_more": False,
        "timings_ms": {"dense": 1.5},
        "warnings": ["BM25 is unavailable"],
        "hits": [
            {
                "id": "fr-004",
                "score": 0.5,
                "lang": "fr",
                "title": "T",
                "snippet": "S",
                "sources": {"dense": {"rank": 1, "score": 0.25}},
                "explanation": {"contributions": {"dense": {"value": 0.5}}, "langs": ["de", "fr"]},
            }
        ],
    }


def test_hits_carry_the_fields_asked_for() -> None:
    hit = Hit(
        doc_id="fr-004",
        score=0.5,
        lang="fr",
        title="T",
        snippet="S",
        sources={},
        text="Full text.",
        views={"en": "English."},
        metadata={"year": np.int64(2019)},
    )
    result = SearchResult(query="q", query_lang="en", mode="dense", hits=[hit], offset=10, has_more=True)
    sent = SearchResponse.from_result("sample", result, ("title", "text", "metadata")).model_dump(exclude_unset=True)
    assert sent["hits"] == [
        {
            "id": "fr-004",
            "score": 0.5,
            "title": "T",
            "text": "Full text.",
            "metadata": {"year": 2019},
            "explanation": None,
        }
    ]
    assert (sent["offset"], sent["has_more"], "filter_matches" in sent) == (10, True, False)


def test_plain() -> None:
    assert plain({"a": (1, np.int64(2)), 3: {np.float64(0.5)}, "n": math.nan}) == {"a": [1, 2], "3": [0.5], "n": None}


def _all_models() -> list[type[BaseModel]]:
    return [
        obj
        for module in (requests, schemas)
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, BaseModel)
        and obj.__module__ == module.__name__
        and obj is not requests.SearchOptions
    ]


@pytest.mark.parametrize("model", _all_models(), ids=lambda m: m.__name__)
def test_every_model_has_a_valid_example(model: type[BaseModel]) -> None:
    examples = model.model_json_schema().get("examples")
    assert examples, f"{model.__name__} has no example"
    for example in examples:
        model.model_validate(example)


def test_openapi_documents_every_route_with_examples(searcher: Any) -> None:
    from fastapi.testclient import TestClient

    from passerelle.service.api.app import create_app

    app = create_app(ServiceSettings(max_k=42), searchers={"sample": searcher})
    spec = TestClient(app).get("/openapi.json").json()
    assert set(spec["paths"]) == {
        "/v1/search",
        "/v1/search/batch",
        "/v1/documents/{doc_id}",
        "/v1/indexes",
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/admin/reload",
    }
    components = spec["components"]["schemas"]
    assert components["SearchRequest"]["properties"]["k"]["maximum"] == 42
    for name, schema in components.items():
        if name not in {"HTTPValidationError", "ValidationError"}:
            assert schema.get("examples"), f"{name} has no example in the OpenAPI document"
    get_params = {p["name"] for p in spec["paths"]["/v1/search"]["get"]["parameters"]}
    assert {"q", "k", "mode", "doc_langs", "index"} <= get_params


def test_docs_can_be_turned_off(searcher: Any) -> None:
    from fastapi.testclient import TestClient

    from passerelle.service.api.app import create_app

    client = TestClient(create_app(ServiceSettings(docs_enabled=False), searchers={"sample": searcher}))
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/docs").status_code == 404


@pytest.mark.parametrize(("origins", "allowed"), [([], False), (["https://app.example.org"], True)])
def test_cors(searcher: Any, origins: list[str], allowed: bool) -> None:
    from fastapi.testclient import TestClient

    from passerelle.service.api.app import create_app

    client = TestClient(create_app(ServiceSettings(cors_origins=origins), searchers={"sample": searcher}))
    response = client.options(
        "/v1/search", headers={"Origin": "https://app.example.org", "Access-Control-Request-Method": "POST"}
    )
    assert (response.headers.get("access-control-allow-origin") == "https://app.example.org") is allowed
    other = client.options(
        "/v1/search", headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in other.headers


def test_nothing_to_serve() -> None:
    from passerelle.indexing.errors import ConfigError
    from passerelle.service.api.app import create_app

    with pytest.raises(ConfigError, match="nothing to serve"):
        create_app(ServiceSettings())
