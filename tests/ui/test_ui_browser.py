"""The search page in a real browser: Debian's Chromium, headless, against a live server on the sample index.

What the page shows is checked against what the API answers for the same request, so the page cannot
drift from the service. ``PASSERELLE_UPDATE_SCREENSHOT=1`` writes the README's screenshot to
docs/screenshot.png; otherwise it goes to the test's tmp_path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import REPO

pytestmark = pytest.mark.slow

QUESTION = "Why do barges on the Rhine have to sail partly empty during droughts?"
RELEVANT = "de-005"  # data/sample/qrels.dev.tsv, q18: a German document for an English question
DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}

SHOWN_HITS = """hits => hits.map(hit => ({
    id: hit.dataset.docId,
    lang: hit.querySelector('.badge').textContent,
    title: hit.querySelector('.hit-title').textContent,
    snippet: hit.querySelector('.snippet').textContent,
    score: hit.querySelector('.score b').textContent,
    sources: Object.fromEntries([...hit.querySelectorAll('.source')].map(
        s => [s.dataset.source, Number(s.querySelector('.rank-of').dataset.rank)])),
}))"""


@pytest.fixture
def page(browser: Any, ui_server: Any) -> Iterator[Any]:
    """A fresh desktop page; after the test, no script error and no request outside the server."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    yield page
    context.close()
    assert errors == []
    assert requests and all(url.startswith(ui_server.url + "/") for url in requests), requests


def api_search(ui_server: Any, **options: Any) -> dict[str, Any]:
    """What the API answers for the page's request (the page always asks for explanations)."""
    body = {"query": QUESTION, "k": 10, "explain": True, **options}
    response = ui_server.api.post("/v1/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def expected_hits(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": hit["id"],
            "lang": hit["lang"],
            "title": hit["title"],
            "snippet": hit["snippet"],
            "sources": {name: source["rank"] for name, source in hit["sources"].items()},
        }
        for hit in answer["hits"]
    ]


def shown_hits(page: Any) -> list[dict[str, Any]]:
    hits = page.eval_on_selector_all("#results .hit", SHOWN_HITS)
    return [{key: value for key, value in hit.items() if key != "score"} for hit in hits]


def wait_for_results(page: Any, pattern: str) -> None:
    """Wait until the status line matches ``pattern`` (it is rewritten when an answer is shown)."""
    from playwright.sync_api import expect

    expect(page.locator("#status")).to_have_text(re.compile(pattern))
    expect(page.locator("#results-section")).not_to_have_attribute("aria-busy", "true")


def ask(page: Any, ui_server: Any, question: str = QUESTION) -> None:
    page.goto(ui_server.url + "/")
    page.wait_for_selector("#langs input")  # the languages come from GET /v1/indexes
    page.get_by_role("searchbox", name="Question").fill(question)
    page.get_by_role("searchbox", name="Question").press("Enter")


def screenshot_path(tmp_path: Path) -> Path:
    if os.environ.get("PASSERELLE_UPDATE_SCREENSHOT") == "1":
        return REPO / "docs" / "screenshot.png"
    return tmp_path / "screenshot.png"


def test_english_question_finds_the_german_document_with_its_reasons(page: Any, ui_server: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    ask(page, ui_server)
    answer = api_search(ui_server, mode="hybrid", fusion="auto")
    wait_for_results(page, rf"^{len(answer['hits'])} results for a question in English · hybrid \(auto\) · \d+ ms$")

    (index,) = ui_server.api.get("/v1/indexes").json()["indexes"]
    languages = sorted(index["manifest"]["languages"])
    assert page.locator("#langs input").evaluate_all("inputs => inputs.map(i => i.value)") == languages
    expect(page.get_by_role("checkbox", name="DE German")).not_to_be_checked()
    expect(page.locator("#index-info")).to_have_text(
        f"Index {index['name']} · {index['manifest']['doc_count']} documents · {', '.join(languages)}"
    )

    shown = shown_hits(page)
    assert shown == expected_hits(answer)
    assert shown[0]["id"] == RELEVANT
    assert shown[0]["lang"] == "de"
    assert set(shown[0]["sources"]) == {"dense", "sparse:en", "latent"}  # every retriever that found it
    first = page.locator("#results .hit").first
    expect(first.locator(".badge")).to_have_attribute("title", "German")
    # what each retriever adds to the fused score (weight x normalized score), three significant digits
    contributions = answer["hits"][0]["explanation"]["contributions"]
    for name in shown[0]["sources"]:
        value = contributions[name]["value"]  # the page shows JavaScript's toPrecision(3)
        expect(first.locator(f'.source[data-source="{name}"] .adds')).to_have_text(f"+{value:#.3g}")
    scores = page.eval_on_selector_all("#results .hit", SHOWN_HITS)
    assert [float(hit["score"]) for hit in scores] == pytest.approx([hit["score"] for hit in answer["hits"]], rel=5e-3)
    assert page.url == f"{ui_server.url}/?q={QUESTION.replace(' ', '+').replace('?', '%3F')}&mode=hybrid&fusion=auto"

    page.locator("#q").blur()
    page.screenshot(path=str(screenshot_path(tmp_path)))


def test_switching_mode_fusion_and_languages_searches_again(page: Any, ui_server: Any) -> None:
    from playwright.sync_api import expect

    ask(page, ui_server)
    wait_for_results(page, r"· hybrid \(auto\) ·")
    page.locator("label[for=fusion-rrf]").click()
    wait_for_results(page, r"· hybrid \(RRF\) ·")
    rrf = api_search(ui_server, mode="hybrid", fusion="rrf")
    first = page.locator("#results .hit").first
    # what each retriever adds to the RRF score: 1 / (60 + rank), shown to three significant digits
    for name, rank in shown_hits(page)[0]["sources"].items():
        expect(first.locator(f'.source[data-source="{name}"] .adds')).to_have_text(f"+{1 / (60 + rank):.3g}")
    assert shown_hits(page) == expected_hits(rrf)

    page.locator("label[for=mode-dense]").click()
    wait_for_results(page, r"· dense ·")
    expect(page.get_by_role("radio", name="Dense")).to_be_checked()
    expect(page.get_by_role("radio", name="Linear")).to_be_disabled()  # fusion is for hybrid mode only
    shown = shown_hits(page)
    assert shown == expected_hits(api_search(ui_server, mode="dense"))
    assert shown[0]["id"] == RELEVANT
    assert all(set(hit["sources"]) == {"dense"} for hit in shown)

    page.locator("label[for=mode-hybrid]").click()
    wait_for_results(page, r"· hybrid \(RRF\) ·")
    page.locator("label[for=fusion-linear]").click()
    wait_for_results(page, r"· hybrid \(linear\) ·")
    linear = api_search(ui_server, mode="hybrid", fusion="linear")
    assert shown_hits(page) == expected_hits(linear)
    top_score = page.locator("#results .hit .score b").first.text_content()
    assert float(top_score) == pytest.approx(linear["hits"][0]["score"], rel=5e-3)

    page.locator("label[for=lang-de]").click()
    wait_for_results(page, r"results in German for a question in English · hybrid \(linear\)")
    expect(page.get_by_role("checkbox", name="DE German")).to_be_checked()
    shown = shown_hits(page)
    assert shown == expected_hits(api_search(ui_server, mode="hybrid", fusion="linear", doc_langs=["de"]))
    assert {hit["lang"] for hit in shown} == {"de"}

    page.locator("label[for=mode-sparse]").click()
    wait_for_results(page, r"results in German for a question in English · sparse ·")
    shown = shown_hits(page)
    assert shown == expected_hits(api_search(ui_server, mode="sparse", doc_langs=["de"]))
    assert shown and all(name.startswith("sparse:") for hit in shown for name in hit["sources"])

    page.locator("label[for=mode-hybrid]").click()
    wait_for_results(page, r"results in German for a question in English · hybrid \(linear\)")
    page.get_by_role("combobox", name="Results").select_option("5")
    wait_for_results(page, r"^5 results in German")
    assert shown_hits(page) == expected_hits(
        api_search(ui_server, mode="hybrid", fusion="linear", doc_langs=["de"], k=5)
    )


def test_keyboard_only_search_open_and_close_a_document(page: Any, ui_server: Any) -> None:
    from playwright.sync_api import expect

    page.goto(ui_server.url + "/")
    page.wait_for_selector("#langs input")
    expect(page.get_by_role("searchbox", name="Question")).to_be_focused()  # autofocus: type at once
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    wait_for_results(page, r"^10 results")

    links = page.locator("#results .hit-title a")
    page.get_by_role("combobox", name="Results").focus()  # the last control: the next Tab stop is the first result
    page.keyboard.press("Tab")
    expect(links.nth(0)).to_be_focused()
    assert links.nth(0).evaluate("a => getComputedStyle(a).outlineStyle") != "none"  # a visible focus ring
    page.keyboard.press("Tab")
    expect(links.nth(1)).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(links.nth(0)).to_be_focused()

    page.keyboard.press("Enter")
    doc = ui_server.api.get(f"/v1/documents/{RELEVANT}").json()
    dialog = page.get_by_role("dialog", name=doc["title"])
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name=doc["title"])).to_be_visible()
    expect(dialog.locator(".doc-text.original p")).to_have_text(doc["text"])
    assert doc["views"], "the sample documents carry an English view"
    views = dialog.locator(".doc-text:not(.original) p")
    assert views.all_text_contents() == [text for _, text in sorted(doc["views"].items())]
    expect(dialog.locator(".doc-text.original h3")).to_have_text("deGerman · original")
    expect(dialog.get_by_role("button", name="Close document (Escape)")).to_be_visible()

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(links.nth(0)).to_be_focused()  # focus returns to the result that opened it

    links.nth(1).click()  # and with the mouse; the close button works too
    second = page.get_by_role("dialog")
    expect(second.locator(".doc-meta code")).to_have_text(shown_hits(page)[1]["id"])
    second.get_by_role("button", name="Close document (Escape)").click()
    expect(second).to_be_hidden()


def test_api_errors_are_shown_readably(page: Any, ui_server: Any) -> None:
    from playwright.sync_api import expect

    alert = page.get_by_role("alert")
    for question in ("   ", "x" * (ui_server.max_query_chars + 1)):
        response = ui_server.api.post("/v1/search", json={"query": question})
        assert response.status_code == 422
        (entry,) = response.json()["detail"]
        assert entry["loc"] == ["body", "query"]
        message = entry["msg"].removeprefix("Value error, ")
        ask(page, ui_server, question)
        expect(alert).to_have_text(f"The search request was not accepted (HTTP 422)query: {message}")
        expect(page.locator("#results .hit")).to_have_count(0)
    assert f"at most {ui_server.max_query_chars} characters" in alert.text_content()

    page.get_by_role("searchbox", name="Question").fill(QUESTION)
    page.get_by_role("button", name="Search").click()
    wait_for_results(page, r"^10 results")
    expect(alert).to_be_hidden()


def test_page_fits_a_phone_and_restores_a_shared_link(browser: Any, ui_server: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(f"{ui_server.url}/?q={QUESTION}&mode=dense&langs=de")
    wait_for_results(page, r"results in German for a question in English · dense ·")
    expect(page.get_by_role("searchbox", name="Question")).to_have_value(QUESTION)
    expect(page.get_by_role("radio", name="Dense")).to_be_checked()
    expect(page.get_by_role("checkbox", name="DE German")).to_be_checked()
    assert shown_hits(page)[0]["id"] == RELEVANT
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    page.screenshot(path=str(tmp_path / "phone.png"))

    page.locator("#results .hit-title a").first.tap()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator(".doc-text")).to_have_count(2)
    box = dialog.bounding_box()
    assert box is not None and box["width"] == PHONE["width"]  # the document view fills the screen
    context.close()


def test_filters_on_metadata_fields_and_paging(page: Any, ui_server: Any) -> None:
    from playwright.sync_api import expect

    ask(page, ui_server)
    wait_for_results(page, r"^10 results for a question in English · hybrid \(auto\) · \d+ ms$")
    (index,) = ui_server.api.get("/v1/indexes").json()["indexes"]
    fields = [field["name"] for field in index["manifest"]["meta_fields"]]
    assert fields == ["year", "topic"]
    expect(page.get_by_role("group", name="Filters")).to_be_visible()

    page.get_by_label("year from").fill("2020")
    page.get_by_label("year from").press("Enter")
    wait_for_results(page, r"· 20 documents match the filters$")
    answer = api_search(ui_server, mode="hybrid", fusion="auto", filter={"year": {"gte": 2020}})
    assert shown_hits(page) == expected_hits(answer)
    years = page.locator("#results .meta").evaluate_all(
        "lists => lists.map(l => Number(l.querySelector('dd').textContent))"
    )
    assert years and min(years) >= 2020

    page.get_by_label("topic").fill("transport, energy")
    page.get_by_label("topic").press("Enter")
    wait_for_results(page, r"· 7 documents match the filters$")
    both = {"year": {"gte": 2020}, "topic": ["transport", "energy"]}
    assert shown_hits(page) == expected_hits(api_search(ui_server, mode="hybrid", fusion="auto", filter=both))

    page.get_by_role("combobox", name="Results").select_option("5")
    wait_for_results(page, r"^5 results .* 7 documents match the filters$")
    pager = page.get_by_role("navigation", name="Result pages")
    expect(pager.get_by_role("button", name="← Previous")).to_be_disabled()
    pager.get_by_role("button", name="Next →").click()
    wait_for_results(page, r"^results 6–7 for a question")
    second = api_search(ui_server, mode="hybrid", fusion="auto", filter=both, k=5, offset=5)
    assert shown_hits(page) == expected_hits(second)
    expect(page.locator("#results .hit .rank").first).to_have_text("6")
    expect(pager.get_by_role("button", name="Next →")).to_be_disabled()
    assert "offset=5" in page.url and "filter=" in page.url

    page.reload()  # a shared link restores the filters and the page
    wait_for_results(page, r"^results 6–7 for a question")
    expect(page.get_by_label("year from")).to_have_value("2020")
    expect(page.get_by_label("topic")).to_have_value("transport, energy")
    pager.get_by_role("button", name="← Previous").click()
    wait_for_results(page, r"^5 results")

    page.get_by_label("year from").fill("2020.5")
    page.get_by_label("year from").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("filter.year.gte")
