"""Offline language identification (py3langid: langid.py's model, shipped inside the package)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SURE = 0.5
"""A language the model gives at least this probability, and no other language more, is taken as known."""


@dataclass(frozen=True)
class Detection:
    """A detected language and how far to trust it.

    ``probability`` is the model's probability for ``lang`` over all of its ~97 languages (never
    renormalized over a few candidates, which would make any two-language choice look certain).
    ``confidence`` is ``probability / max(SURE, best probability of any language)``: 1.0 when ``lang`` is
    the model's first choice with at least :data:`SURE`, lower when the text looks as much or more like
    another language or like none in particular.
    """

    lang: str
    confidence: float
    probability: float


_model_lock = threading.Lock()
_model: Any = None


def _shared_model() -> Any:
    """The langid model, loaded once per process (~0.3 s and tens of MiB of arrays): every detector and
    every reloaded index shares it (it is only read)."""
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

                _model = LanguageIdentifier.from_model_file(MODEL_DIR / MODEL_FILE, norm_probs=True)
    return _model


class LanguageDetector:
    """Detects the language of a text, optionally among a fixed set of candidates.

    With candidates, the answer is the candidate the model ranks highest (the same choice as a model
    restricted to them), and its confidence still says how it compares with every language.
    """

    def __init__(self, candidates: Iterable[str] | None = None) -> None:
        self.candidates = sorted({c.split("-")[0] for c in candidates}) if candidates else None

    def probabilities(self, text: str) -> dict[str, float]:
        """The model's probability of each of its languages for ``text`` (they sum to 1)."""
        return {str(lang): float(prob) for lang, prob in _shared_model().rank(text)}

    def detect(self, text: str, *, fallback: str | None = None, min_confidence: float = 0.5) -> Detection:
        """Most likely language of ``text`` (among the candidates when there are some).

        With ``fallback``, a blank text or a confidence below ``min_confidence`` gives ``fallback`` instead,
        with the model's own confidence in it (usually low: the fallback is a guess, not a detection).
        """
        probs = self.probabilities(text)
        ranked = sorted(probs, key=lambda lang: -probs[lang])
        usable = [lang for lang in ranked if self.candidates is None or lang in self.candidates]
        best = usable[0] if usable else (fallback or ranked[0])
        detection = self._scored(best, probs)
        if fallback is not None and (detection.confidence < min_confidence or not text.strip() or not usable):
            return self._scored(fallback, probs)
        return detection

    @staticmethod
    def _scored(lang: str, probs: dict[str, float]) -> Detection:
        probability = probs.get(lang, 0.0)
        return Detection(lang, probability / max(SURE, max(probs.values(), default=1.0)), probability)
