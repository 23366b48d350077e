"""The two pluggable augmentation parts: a query generator (xQG / doc2query) and a translator (DT / QT)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from passerelle.indexing.documents import Document

#: The xQG paper's prompt (Zhuang et al., SIGIR 2023); ``{lang}`` is the language's English name.
DEFAULT_XQG_PROMPT = "Generate a {lang} question for this passage: {title} {passage}"
#: Translation input as is (Marian en-fr); multi-target Marian models want e.g. ``">>{target}<< {text}"``.
DEFAULT_TRANSLATION_PROMPT = "{text}"

LANGUAGE_NAMES = {
    "ar": "Arabic",
    "bn": "Bengali",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "fi": "Finnish",
    "fr": "French",
    "hi": "Hindi",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sw": "Swahili",
    "te": "Telugu",
    "th": "Thai",
    "tr": "Turkish",
    "vi": "Vietnamese",
    "zh": "Chinese",
}


def language_name(code: str) -> str:
    """English name of a language code for prompts (the code itself when unknown)."""
    return LANGUAGE_NAMES.get(code.split("-")[0].lower(), code)


@runtime_checkable
class QueryGenerator(Protocol):
    """Generates queries in a target language for passages (any source language)."""

    def generate(self, docs: Sequence[Document], lang: str, n: int) -> list[list[str]]:
        """``n`` queries in ``lang`` for each document, in input order."""
        ...


@runtime_checkable
class Translator(Protocol):
    """Translates texts from one language into another."""

    def translate(self, texts: Sequence[str], source_lang: str, target_lang: str) -> list[str]:
        """One translation per text, in input order."""
        ...
