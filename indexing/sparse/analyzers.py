"""Which Lucene analyzer serves which language (Anserini's per-language analyzers)."""

from __future__ import annotations

from typing import Literal

from passerelle.indexing.errors import UnsupportedLanguageError

# Anserini 1.7 AnalyzerMap keys, plus "en" (its default English analyzer). A test checks this list
# against the jar, so it stays true; keeping it static lets us validate without starting the JVM.
ANSERINI_LANGUAGES: frozenset[str] = frozenset(
    {
        "ar",
        "bn",
        "da",
        "de",
        "en",
        "es",
        "fa",
        "fi",
        "fr",
        "hi",
        "hu",
        "id",
        "it",
        "ja",
        "ko",
        "nl",
        "no",
        "pl",
        "pt",
        "ru",
        "sv",
        "te",
        "th",
        "tr",
        "uk",
        "zh",
    }
)

# "standard": tokenize + lowercase, no stemming, no stopwords: a fair default for any script that
# separates words with spaces.
STANDARD = "standard"
Fallback = Literal["error", "standard", "skip"]


def analyzer_for(lang: str, fallback: Fallback = "error") -> str | None:
    """Name of the analyzer for ``lang``: the language itself when Anserini has one, else the fallback.

    Returns ``None`` when the fallback is ``skip`` (no sparse view for that language).

    Raises:
        UnsupportedLanguageError: when there is no analyzer and ``fallback`` is ``error``.
    """
    base = lang.lower().split("-")[0]
    if base in ANSERINI_LANGUAGES:
        return base
    if fallback == "standard":
        return STANDARD
    if fallback == "skip":
        return None
    raise UnsupportedLanguageError(
        f"no Lucene analyzer for language {lang!r} (supported: {', '.join(sorted(ANSERINI_LANGUAGES))}). "
        "Use --sparse-fallback standard (lowercase, no stemming) or --sparse-fallback skip."
    )


def indexer_language_args(analyzer: str) -> list[str]:
    """Anserini indexer arguments that select ``analyzer``."""
    if analyzer == STANDARD:
        return ["-language", "en", "-stemmer", "none", "-keepStopwords"]
    return ["-language", analyzer]
