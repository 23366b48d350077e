"""Search over HTTP against a live uvicorn server on the real sample index."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

# English questions whose one relevant document is French or German (data/sample/qrels.dev.tsv)
CROSS_LINGUAL = [
    ("How long is the bread dough left to rise in the cold at a bakery in Lyon?", "fr-001"),
    ("How many stairs do tourists now have to climb down to get to the ice grotto near Chamonix?", "fr-002"),
    ("Why is the cathedral in Cologne always covered in scaffolding?", "de-007"),
    ("Why do barges on the Rhine have to sail partly empty during droughts?", "de-005"),
]


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
@pytest.mark.parametrize(("query", "relevant"), CROSS_LINGUAL)
def test_english_query_finds_its_foreign_document(http: httpx.Client, query: str, relevant: str, mode: str) -> None:
    response = http.post("/v1/search", json={"query": query, "mode": mode, "k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == mode
    assert body["query_lang"] == "en"
    assert body["index"] == "sample"
    ids = [hit["id"] for hit in body["hits"]]
    assert len(ids) == 3
    assert relevant in ids
    assert relevant[:2] in {"fr", "de"}
    hit = body["hits"][ids.index(relevant)]
    assert hit["lang"] == relevant[:2]
    assert hit["title"] and hit["snippet"]


def test_scores_are_sorted_and_sources_name_retrievers(http: httpx.Client) -> None:
    body = http.post("/v1/search", json={"query": CROSS_LINGUAL[0][0], "mode": "hybrid", "k": 10}).json()
    scores = [hit["score"] for hit in body["hits"]]
    assert scores == sorted(scores, reverse=True)
    names = {name for hit in body["hits"] for name in hit["sources"]}
    assert "dense" in names
    assert any(name.startswith("sparse:") for name in names)
    assert set(body["timings_ms"]) >= {"detect"}


@pytest.mark.parametrize(
    "options",
    [
        {"fusion": "rrf", "rrf_k": 60},
        {"fusion": "rrf", "rrf_k": 5, "weights": {"dense": 2.0, "sparse": 0.5}},
        {"fusion": "linear", "normalization": "minmax", "weights": {"dense": 0.7, "sparse": 0.3}},
        {"fusion": "linear", "normalization": "zscore", "weights": {"sparse:en": 3.0, "sparse": 0.5}},
        {"fusion": "linear", "normalization": "dbsf"},
    ],
)
def test_explain_matches_the_fused_score(http: httpx.Client, options: dict) -> None:
    body = http.post(
        "/v1/search", json={"query": CROSS_LINGUAL[2][0], "mode": "hybrid", "k": 10, "explain": True, **options}
    ).json()
    assert body["hits"]
    weights = options.get("weights", {})
    for hit in body["hits"]:
        explanation = hit["explanation"]
        contributions = explanation["contributions"]
        assert explanation["method"] == options["fusion"]
        assert explanation["fused_score"] == pytest.approx(hit["score"], rel=1e-12)
        assert sum(c["value"] for c in contributions.values()) == pytest.approx(hit["score"], rel=1e-12)
        assert set(contributions) == set(hit["sources"])
        for name, c in contributions.items():
            assert c["rank"] == hit["sources"][name]["rank"]
            assert c["raw_score"] == pytest.approx(hit["sources"][name]["score"], rel=1e-6)
            assert c["weight"] == weights.get(name, weights.get(name.split(":")[0], 1.0))
            if options["fusion"] == "rrf":
                assert c["value"] == pytest.approx(c["weight"] / (options["rrf_k"] + c["rank"]), rel=1e-12)
            else:
                assert c["value"] == pytest.approx(c["weight"] * c["normalized"], rel=1e-12)


def test_no_explanation_unless_asked(http: httpx.Client) -> None:
    body = http.post("/v1/search", json={"query": "chess", "k": 2}).json()
    assert all(hit["explanation"] is None for hit in body["hits"])


def test_get_equals_post(http: httpx.Client) -> None:
    query = CROSS_LINGUAL[1][0]
    got = http.get("/v1/search", params={"q": query, "mode": "dense", "k": 5, "doc_langs": ["fr", "de"]})
    posted = http.post("/v1/search", json={"query": query, "mode": "dense", "k": 5, "doc_langs": ["fr", "de"]})
    assert got.status_code == posted.status_code == 200
    assert [h["id"] for h in got.json()["hits"]] == [h["id"] for h in posted.json()["hits"]]
    assert {h["lang"] for h in got.json()["hits"]} <= {"fr", "de"}


def test_doc_langs_filter(http: httpx.Client) -> None:
    body = http.post("/v1/search", json={"query": "cathedral", "doc_langs": ["es"], "k": 20}).json()
    assert body["hits"]
    assert {hit["lang"] for hit in body["hits"]} == {"es"}


def test_batch_equals_single_searches(http: httpx.Client) -> None:
    queries = [q for q, _ in CROSS_LINGUAL]
    batch = http.post("/v1/search/batch", json={"queries": queries, "mode": "hybrid", "k": 4})
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [r["query"] for r in results] == queries
    for query, result in zip(queries, results, strict=True):
        single = http.post("/v1/search", json={"query": query, "mode": "hybrid", "k": 4}).json()
        assert [h["id"] for h in result["hits"]] == [h["id"] for h in single["hits"]]
        assert [h["score"] for h in result["hits"]] == pytest.approx([h["score"] for h in single["hits"]])


def test_k_larger_than_the_corpus(http: httpx.Client) -> None:
    body = http.post("/v1/search", json={"query": "solar panels", "mode": "dense", "k": 50}).json()
    assert len(body["hits"]) == 40  # every document of the sample, once
    assert len({hit["id"] for hit in body["hits"]}) == 40


def test_document_and_indexes(http: httpx.Client, sample_index: Path) -> None:
    doc = http.get("/v1/documents/de-007")
    assert doc.status_code == 200
    assert doc.json()["id"] == "de-007"
    assert doc.json()["lang"] == "de"
    assert doc.json()["index"] == "sample"
    assert "en" in doc.json()["views"]
    indexes = http.get("/v1/indexes").json()["indexes"]
    assert [(i["name"], i["default"]) for i in indexes] == [("sample", True)]
    assert indexes[0]["manifest"]["doc_count"] == 40
    assert Path(indexes[0]["path"]) == sample_index.resolve()


def test_health_and_readiness(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "indexes": ["sample"]}


def test_metrics(http: httpx.Client) -> None:
    http.post("/v1/search", json={"query": "olive oil", "mode": "sparse", "k": 1})
    http.get("/v1/documents/nope")
    text = http.get("/metrics").text
    assert 'passerelle_http_requests_total{method="POST",route="/v1/search",status="200"}' in text
    assert 'passerelle_search_duration_seconds_count{index="sample",mode="sparse"}' in text
    assert 'route="/v1/documents/{doc_id:path}",status="404"' in text  # template, not the raw path
    assert 'passerelle_errors_total{error="DocumentNotFoundError",status="404"}' in text


def test_auto_fusion_explains_profile_weights_and_signals(http: httpx.Client) -> None:
    body = http.post(
        "/v1/search", json={"query": CROSS_LINGUAL[2][0], "mode": "hybrid", "k": 5, "explain": True}
    ).json()
    hit = body["hits"][0]
    explanation = hit["explanation"]
    assert explanation["method"] == "auto" and explanation["profile"] == "default"
    assert explanation["normalization"] == {"dense": "minmax", "sparse": "max"}
    signals = explanation["signals"]["sparse:en"]
    assert signals["match"] == 1.0 and body["query_lang"] == "en"  # the English translation view, trusted
    for name, c in explanation["contributions"].items():
        assert c["weight"] == explanation["weights"][name]
        assert c["value"] == pytest.approx(c["weight"] * c["normalized"], rel=1e-12)
    assert sum(c["value"] for c in explanation["contributions"].values()) == pytest.approx(hit["score"])


def test_single_retriever_explanation_says_nothing_was_fused(http: httpx.Client) -> None:
    body = http.post("/v1/search", json={"query": "chess", "mode": "dense", "k": 2, "explain": True}).json()
    explanation = body["hits"][0]["explanation"]
    assert explanation["method"] == "none" and explanation["fused_score"] == body["hits"][0]["score"]


def test_without_a_translation_model_the_schema_and_the_api_refuse_translate_query(http: httpx.Client) -> None:
    schema = http.get("/openapi.json").json()["components"]["schemas"]["SearchRequest"]["properties"]
    assert schema["translate_query"]["enum"] == [False]
    refused = http.post("/v1/search", json={"query": "bread", "translate_query": True})
    assert refused.status_code == 422 and "translate_query" in refused.text
    assert http.post("/v1/search", json={"query": "bread", "translate_query": False}).status_code == 200
