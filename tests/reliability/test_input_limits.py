"""Input limits and unicode edge cases over real HTTP: every limit answers a clear 4xx, at the limit works.

The server (``reliable_server``) runs with the small limits of ``support.reliability.LIMITS``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator

import httpx
import pytest
from support.reliability import LIMITS
from support.server import LiveServer

from passerelle.service.api.requests import LANG_PATTERN, SPACE, TEXT_PATTERN

pytestmark = pytest.mark.slow

MAX_CHARS, MAX_K, MAX_DEPTH, MAX_BATCH, MAX_BODY = (
    LIMITS[name] for name in ("max_query_chars", "max_k", "max_depth", "max_batch", "max_body_bytes")
)


@pytest.fixture(scope="module")
def http(reliable_server: LiveServer) -> Iterator[httpx.Client]:
    with reliable_server.client() as client:
        yield client


def _locs(response: httpx.Response) -> list[tuple[str, ...]]:
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "RequestValidationError"
    return [tuple(str(part) for part in entry["loc"][:2]) for entry in response.json()["detail"]]


@pytest.mark.parametrize("unit", ["a", "é", "🐝"])  # the limit counts characters (code points), not bytes
def test_query_length_limit(http: httpx.Client, unit: str) -> None:
    at_limit = http.post("/v1/search", json={"query": unit * MAX_CHARS, "mode": "dense", "k": 1})
    assert at_limit.status_code == 200, at_limit.text
    assert at_limit.json()["query"] == unit * MAX_CHARS
    assert ("body", "query") in _locs(http.post("/v1/search", json={"query": unit * (MAX_CHARS + 1)}))
    assert ("query", "q") in _locs(http.get("/v1/search", params={"q": unit * (MAX_CHARS + 1)}))


def test_k_and_depth_limits(http: httpx.Client) -> None:
    top = http.post("/v1/search", json={"query": "bees", "mode": "hybrid", "k": MAX_K, "depth": MAX_DEPTH})
    assert top.status_code == 200, top.text
    assert len(top.json()["hits"]) == MAX_K  # the sample has 40 documents, more than MAX_K
    assert ("body", "k") in _locs(http.post("/v1/search", json={"query": "bees", "k": MAX_K + 1}))
    assert ("body", "depth") in _locs(http.post("/v1/search", json={"query": "bees", "depth": MAX_DEPTH + 1}))
    assert ("query", "k") in _locs(http.get("/v1/search", params={"q": "bees", "k": MAX_K + 1}))
    for bad in (0, -1, True, "5", 2.5, 1e300):
        assert ("body", "k") in _locs(http.post("/v1/search", json={"query": "bees", "k": bad}))


def test_batch_size_limit(http: httpx.Client) -> None:
    queries = [f"question {i} about bees" for i in range(MAX_BATCH)]
    full = http.post("/v1/search/batch", json={"queries": queries, "mode": "dense", "k": 2})
    assert full.status_code == 200, full.text
    assert [r["query"] for r in full.json()["results"]] == queries
    assert ("body", "queries") in _locs(http.post("/v1/search/batch", json={"queries": queries + ["one more"]}))


def _padded(size: int) -> bytes:
    """A valid search body of exactly ``size`` bytes (JSON allows trailing spaces)."""
    body = json.dumps({"query": "bees", "mode": "dense", "k": 1}).encode()
    return body + b" " * (size - len(body))


def test_body_size_limit_with_content_length(http: httpx.Client, reliable_server: LiveServer) -> None:
    headers = {"Content-Type": "application/json"}
    assert http.post("/v1/search", content=_padded(MAX_BODY), headers=headers).status_code == 200
    too_big = http.post("/v1/search", content=_padded(MAX_BODY + 1), headers=headers)
    assert too_big.status_code == 413
    assert too_big.json()["error"] == "RequestTooLargeError"
    assert f"{MAX_BODY + 1} bytes" in too_big.json()["detail"] and "max_body_bytes" in too_big.json()["detail"]
    huge = http.post("/v1/search/batch", content=b"x" * (50 * MAX_BODY), headers=headers)
    assert huge.status_code == 413
    with reliable_server.client() as fresh:  # the server goes on serving after refusing
        assert fresh.get("/healthz").status_code == 200
        metrics = fresh.get("/metrics").text
    assert re.search(r'passerelle_errors_total\{error="RequestTooLargeError",status="413"\} [2-9]', metrics)


def test_body_size_limit_when_chunked(http: httpx.Client) -> None:
    def chunks(body: bytes, size: int = 1000) -> Iterator[bytes]:
        for start in range(0, len(body), size):
            yield body[start : start + size]

    headers = {"Content-Type": "application/json"}
    small = http.post("/v1/search", content=chunks(_padded(MAX_BODY)), headers=headers)
    assert small.request.headers.get("transfer-encoding") == "chunked"
    assert small.status_code == 200, small.text
    assert small.json()["query"] == "bees"
    big = http.post("/v1/search", content=chunks(_padded(MAX_BODY + 1)), headers=headers)
    assert big.status_code == 413
    assert "chunked" in big.json()["detail"]


def test_default_body_limit_holds_a_full_default_batch() -> None:
    from passerelle.service.api.settings import ServiceSettings

    settings = ServiceSettings()
    widest = json.dumps({"queries": ["é" * settings.max_query_chars] * settings.max_batch, "mode": "hybrid"})
    assert len(widest.encode()) <= settings.max_body_bytes  # json.dumps writes é as the 6 bytes \u00e9


QUERIES = {
    "arabic (RTL)": "كيف يعالج النحالون خلايا النحل ضد الفاروا؟",
    "hebrew (RTL) with latin": "דבורים and varroa",
    "bidi override": "\u202ebees honey\u202c",
    "combining marks (NFD)": "Cafe\u0301 cre\u0300me bru\u0302le\u0301e",
    "zalgo": "b\u0334\u0301e\u0335\u0308e\u0336\u0303s",
    "emoji ZWJ and flags": "🐝🍯 👩\u200d👩\u200d👧 🇫🇷🇩🇪",
    "astral CJK": "𠀋𠂉 蜜蜂",
    "zero-width only": "\u200b\u200c\u200d",
    "byte order mark": "\ufeffbees",
    "private use": "\ue000\uf8ff bees",
    "noncharacters": "\ufffe\uffff bees",
}


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
@pytest.mark.parametrize("query", list(QUERIES.values()), ids=list(QUERIES))
def test_unicode_queries_answer_200(http: httpx.Client, query: str, mode: str) -> None:
    response = http.post("/v1/search", json={"query": query, "mode": mode, "k": 3})
    assert response.status_code == 200, response.text
    assert response.json()["query"] == unicodedata.normalize("NFC", query)  # searched (and echoed) as NFC
    assert response.json()["mode"] == mode


@pytest.mark.parametrize("mode", ["sparse", "hybrid", "dense"])
def test_decomposed_accents_find_what_composed_ones_find(http: httpx.Client, mode: str) -> None:
    composed = "Quelle boulangère nourrit son levain à la Croix-Rousse ?"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    results = [
        http.post("/v1/search", json={"query": q, "mode": mode, "k": 5, "query_lang": "fr"}).json()
        for q in (composed, decomposed)
    ]
    assert results[0]["hits"] and results[0]["hits"][0]["id"] == "fr-001"
    assert [h["id"] for h in results[1]["hits"]] == [h["id"] for h in results[0]["hits"]]
    assert [h["score"] for h in results[1]["hits"]] == [h["score"] for h in results[0]["hits"]]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (r'{"query": "bees\u0000"}', "control character U+0000"),
        (r'{"query": "\u0007bell"}', "control character U+0007"),
        (r'{"query": "bees \ud800"}', "valid string"),  # lone high surrogate
        (r'{"query": "\udc00 bees"}', "valid string"),  # lone low surrogate
        (r'{"query": "\udc00\ud800"}', "valid string"),  # surrogates in the wrong order
        (r'{"query": "\u2003\u3000\u0085"}', "query is empty"),  # only spaces (unicode ones)
    ],
)
def test_bad_text_is_a_clear_422_naming_the_field(http: httpx.Client, raw: str, words: str) -> None:
    response = http.post("/v1/search", content=raw.encode(), headers={"Content-Type": "application/json"})
    assert ("body", "query") in _locs(response)
    assert words in response.text


def test_bad_text_in_a_batch_names_the_position(http: httpx.Client) -> None:
    response = http.post("/v1/search/batch", json={"queries": ["bees", "ok", "nul\u0000"]})
    assert ("body", "queries") in _locs(response)
    assert "queries[2] contains the control character U+0000" in response.text


def test_bad_bytes_on_the_wire(http: httpx.Client) -> None:
    not_utf8 = http.post("/v1/search", content=b'{"query": "caf\xe9"}', headers={"Content-Type": "application/json"})
    assert not_utf8.status_code == 400 and not_utf8.json()["error"] == "HTTPException"
    nul = http.get("/v1/search?q=bees%00")
    assert ("query", "q") in _locs(nul)
    # a query string that is not UTF-8 is decoded with U+FFFD replacement characters, then searched
    replaced = http.get("/v1/search?q=caf%E9&mode=dense&k=1")
    assert replaced.status_code == 200 and replaced.json()["query"] == "caf\ufffd"


def test_schema_patterns_state_exactly_what_the_server_checks() -> None:
    every = "".join(map(chr, range(0x110000)))
    assert set(re.findall(f"[{SPACE}]", every)) == {c for c in every if c.isspace()}  # == what strip() drops
    text = re.compile(TEXT_PATTERN)
    for sample, valid in [
        ("bees", True),
        (" bees ", True),
        ("a\nb", True),
        ("\ufeff", True),
        (" \u3000", False),
        ("bees\x00", False),
        ("\x1f", False),
        ("", False),
    ]:
        assert bool(text.fullmatch(sample)) is valid, sample
    lang = re.compile(LANG_PATTERN)
    assert [bool(lang.fullmatch(code)) for code in ("fr", " FR ", "deu", "french", "f", "\u212ak")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
