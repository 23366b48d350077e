"""Query translation at search time: the cache, the searcher's BM25 views, and the HTTP API."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from support.augment import tiny_marian
from support.server import start_server, stop_server

from passerelle.service.api.http_errors import status_of
from passerelle.service.errors import QueryTranslationUnavailableError
from passerelle.service.query_translation import (
    CachedQueryTranslator,
    RoutedTranslator,
    routes_key,
    shared_query_translator,
    translated_views,
)


class Upper:
    """A deterministic translator: upper-cases and tags the target language (and its name); counts calls."""

    def __init__(self, name: str = "") -> None:
        self.calls = 0
        self.name = name

    def translate(self, texts: Sequence[str], source_lang: str, target_lang: str) -> list[str]:
        self.calls += 1
        return [f"{text.upper()} [{target_lang}{self.name}]" for text in texts]


def test_cache_hits_misses_and_lru_eviction() -> None:
    inner = Upper()
    cache = CachedQueryTranslator(inner, maxsize=2)
    assert cache.translate("pain", "en", "fr") == "PAIN [fr]"
    assert cache.translate("pain", "en", "fr") == "PAIN [fr]"
    assert cache.translate("pain", "en", "de") == "PAIN [de]"  # another target: another entry
    assert (cache.stats().hits, cache.stats().misses, inner.calls) == (1, 2, 2)
    cache.translate("glace", "en", "fr")  # a third entry evicts the least recently used one, (pain, fr)
    cache.translate("pain", "en", "de")
    assert cache.stats().hits == 2
    cache.translate("pain", "en", "fr")
    assert inner.calls == 4  # (pain, fr) had been evicted


def test_cache_is_thread_safe() -> None:
    inner = Upper()
    cache = CachedQueryTranslator(inner, maxsize=8)
    cache.translate("x", "en", "fr")
    results: list[str] = []

    def work() -> None:
        for _ in range(200):
            results.append(cache.translate("x", "en", "fr"))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(results) == {"X [fr]"} and inner.calls == 1
    assert cache.stats().hits == 8 * 200


def test_views_get_the_translation_and_the_query_language_view_the_original() -> None:
    cache = CachedQueryTranslator(Upper())
    texts = translated_views(cache, "bread", "en", ["fr", "de", "en"], ["fr", "en"])
    assert texts == {"fr": "BREAD [fr]", "en": "bread"}  # no German view: nothing to translate into


def test_routes_pick_the_most_specific_model_and_uncovered_views_keep_the_query() -> None:
    pair, into_de, anything = Upper(" en-fr"), Upper(" *-de"), Upper(" *")
    routed = RoutedTranslator({"en-fr": pair, "de": into_de})
    assert routed.translate(["bread"], "en", "fr") == ["BREAD [fr en-fr]"]
    assert routed.translate(["Brot"], "es", "de") == ["BROT [de *-de]"]
    assert not routed.covers("es", "fr")  # en-fr is a pair: it does not take Spanish
    with pytest.raises(ValueError, match="no query translation model for es->fr"):
        routed.translate(["pan"], "es", "fr")
    texts = translated_views(CachedQueryTranslator(routed), "pan", "es", ["fr", "de", "es"], ["fr", "de", "es"])
    assert texts == {"fr": "pan", "de": "PAN [de *-de]", "es": "pan"}  # fr: no route, the query as it is
    with_default = RoutedTranslator({"en-fr": pair, "*": anything})
    assert with_default.translate(["pan"], "es", "fr") == ["PAN [fr *]"]
    with pytest.raises(ValueError, match="'src-tgt', 'tgt' or '\\*'"):
        RoutedTranslator({"english-french": pair})


def test_query_translator_setting_takes_a_model_or_routes() -> None:
    from pydantic import ValidationError

    from passerelle.service.api.settings import ServiceSettings

    assert ServiceSettings(query_translator="some/model").query_translator == "some/model"
    routes = ServiceSettings(query_translator={"en-fr": "opus-mt-en-fr", "*": "nllb"}).query_translator
    assert routes_key(routes) == (("*", "nllb"), ("en-fr", "opus-mt-en-fr"))  # hashable, order-free
    for bad, message in (
        ({"en_fr": "m"}, "routes must be keyed"),
        ({"fr": " "}, "name no model"),
        ({}, "no route"),
        ("  ", "is empty"),
    ):
        with pytest.raises(ValidationError, match=message):
            ServiceSettings(query_translator=bad)


@pytest.mark.slow
def test_routed_setting_runs_the_real_model_and_loads_it_once(tmp_path: Path) -> None:
    marian = str(tiny_marian(tmp_path / "marian"))
    cache = shared_query_translator(routes_key({"en-fr": marian, "de": marian}))
    routed = cache.translator
    assert isinstance(routed, RoutedTranslator) and routed.routes["en-fr"] is routed.routes["de"]
    cache.warm_up()
    out = cache.translate("where is the bakery", "en", "fr")
    assert isinstance(out, str) and out  # gibberish from random weights: the plumbing is what is tested
    assert cache.covers("es", "de") and not cache.covers("es", "fr")


def test_without_a_translator_the_request_is_refused_with_400(sample_usem3_index: Path) -> None:
    from passerelle.service.searcher import Searcher, SearchParams

    searcher = Searcher.open(sample_usem3_index)
    try:
        with pytest.raises(QueryTranslationUnavailableError, match="query_translator") as info:
            searcher.search("bread", SearchParams(translate_query=True))
        assert status_of(info.value) == 400
    finally:
        searcher.close()


@pytest.fixture(scope="module")
def qt_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from passerelle.indexing.build import build_index
    from passerelle.indexing.options import BuildOptions
    from passerelle.service.api.app import create_app
    from passerelle.service.api.settings import ServiceSettings

    root = tmp_path_factory.mktemp("qt")
    marian = tiny_marian(root / "marian")
    corpus = root / "corpus.jsonl"
    docs = [
        {"id": f"f{i}", "lang": "fr", "title": "", "text": text}
        for i, text in enumerate(["la boulangerie le pain la farine le four", "la grotte de glace la montagne"])
    ]
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    build_index(corpus, root / "index", BuildOptions(encoder="usem3", progress=False))
    server = start_server(create_app(ServiceSettings(indexes=[root / "index"], query_translator=str(marian))))
    yield server, str(marian)
    stop_server(server)


@pytest.mark.slow
def test_translate_query_over_http_uses_the_cache(qt_server) -> None:  # type: ignore[no-untyped-def]
    server, marian = qt_server
    cache = shared_query_translator(marian)
    before = cache.stats()
    body = {"query": "where is the bakery", "query_lang": "en", "mode": "sparse", "translate_query": True}
    with server.client() as client:
        first = client.post("/v1/search", json=body)
        assert first.status_code == 200, first.text
        assert cache.stats().misses == before.misses + 1 and cache.stats().hits == before.hits
        second = client.post("/v1/search", json=body)
        assert second.status_code == 200
        assert cache.stats().hits == before.hits + 1 and cache.stats().misses == before.misses + 1
        assert second.json()["hits"] == first.json()["hits"]
        assert all(set(hit["sources"]) == {"sparse:fr"} for hit in first.json()["hits"])
        plain = client.post("/v1/search", json={**body, "translate_query": False})
        assert plain.status_code == 200 and cache.stats().hits == before.hits + 1  # no translation asked
        metrics = client.get("/metrics").text
    assert f'passerelle_query_translation_cache_lookups_total{{result="hit"}} {before.hits + 1}.0' in metrics
    assert f'passerelle_query_translation_cache_lookups_total{{result="miss"}} {before.misses + 1}.0' in metrics
    assert f"passerelle_query_translation_cache_entries {cache.stats().size}.0" in metrics


@pytest.mark.slow
def test_translate_query_is_in_the_api_schema(qt_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = qt_server
    with server.client() as client:
        schema = client.get("/openapi.json").json()
    assert schema["components"]["schemas"]["SearchRequest"]["properties"]["translate_query"]["type"] == "boolean"
