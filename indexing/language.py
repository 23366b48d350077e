"""Offline language identification (py3langid: langid.py's model, shipped inside the package)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Detection:
    """A detected language and the model's normalized probability for it."""

    lang: str
    confidence: float


class LanguageDetector:
    """Detects the language of a text, optionally among a fixed set of candidates.

    Short texts are ambiguous: callers should give a fallback for low confidence (see :meth:`detect`).
    """

    def __init__(self, candidates: Iterable[str] | None = None) -> None:
        self.candidates = sorted({c.split("-")[0] for c in candidates}) if candidates else None
        self._identifier: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        if self._identifier is None:
            with self._lock:
                if self._identifier is None:
                    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

                    identifier = LanguageIdentifier.from_model_file(MODEL_DIR / MODEL_FILE, norm_probs=True)
                    if self.candidates:
                        known = set(identifier.nb_classes)
                        usable = [c for c in self.candidates if c in known]
                        if usable:
                            identifier.set_languages(usable)
                    self._identifier = identifier
        return self._identifier

    def detect(self, text: str, *, fallback: str | None = None, min_confidence: float = 0.5) -> Detection:
        """Most likely language of ``text``; ``fallback`` (when given) below ``min_confidence``."""
        lang, prob = self._model().classify(text)
        if fallback is not None and (prob < min_confidence or not text.strip()):
            return Detection(fallback, float(prob))
        return Detection(str(lang), float(prob))
