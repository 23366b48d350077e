"""Language detection says how sure it is, measured against every language the model knows."""

from __future__ import annotations

import pytest

from passerelle.indexing.language import LanguageDetector

# English queries that langid finds more Portuguese / Pidgin-like or spread thin (from the XQuAD dev
# questions' style; written here): detected English, but not with enough confidence for full trust.
AMBIGUOUS_ENGLISH = ["Who do gurus control?", "WHat does UserDatagram Protocol gaurentee"]


def test_the_english_fallback_fires_on_a_two_language_index() -> None:
    """Among {fr, en}, an Italian question is neither: the fallback answers, with low confidence (the
    probabilities are not renormalized over the two candidates, which made any choice look certain)."""
    detector = LanguageDetector(["fr", "en"])
    detection = detector.detect("Dove si trova la stazione ferroviaria più vicina?", fallback="en")
    assert detection.lang == "en" and detection.confidence < 0.5


@pytest.mark.parametrize("query", AMBIGUOUS_ENGLISH)
def test_ambiguous_queries_are_detected_without_full_confidence(query: str) -> None:
    detection = LanguageDetector(["fr", "de", "es", "en"]).detect(query, fallback="en")
    assert detection.lang == "en" and detection.confidence < 0.5


def test_clear_texts_are_detected_with_full_confidence() -> None:
    detector = LanguageDetector(["fr", "de", "es", "en"])
    for text, lang in (
        ("Le conseil municipal a voté la rénovation de la gare et des quais", "fr"),
        ("Der Gemeinderat hat die Renovierung des Bahnhofs beschlossen", "de"),
        ("Which river flows through the capital of the country?", "en"),
    ):
        detection = detector.detect(text, fallback="en")
        assert (detection.lang, detection.confidence) == (lang, 1.0)


def test_every_detector_shares_one_loaded_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each served index (and each reload of it) has its own detector; loading the model per detector cost
    ~0.3 s per reload and left tens of MiB of fragmented heap behind each time (the soak's memory growth)."""
    from py3langid.langid import LanguageIdentifier

    from passerelle.indexing import language

    loads = []
    original = LanguageIdentifier.from_model_file

    def counted(*args: object, **kwargs: object) -> object:
        loads.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(language, "_model", None)
    monkeypatch.setattr(LanguageIdentifier, "from_model_file", counted)
    first, second = LanguageDetector(["en", "fr"]), LanguageDetector()
    assert first.detect("Les abeilles pollinisent les fleurs").lang == "fr"
    assert second.detect("Bees pollinate the flowers of the orchard").lang == "en"
    assert len(loads) == 1
