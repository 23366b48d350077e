"""Query translation at search time (QT, as in CLIRudit): translate the query into the document languages.

BM25 then runs the translated query against each document-language view, where it matches the original
text with that language's analyzer. Translations are cached: an LRU keyed by ``(text, source, target)``,
shared by the threads of the service (a lock guards it; the model itself runs outside the lock, so two
threads may translate the same new text once each, and the second result simply replaces the first).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from passerelle.indexing.augment.protocols import Translator

logger = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 4096


@dataclass(frozen=True)
class CacheStats:
    """Counters of a :class:`CachedQueryTranslator` (exposed for tests and metrics)."""

    hits: int
    misses: int
    size: int


class CachedQueryTranslator:
    """A :class:`Translator` with a thread-safe LRU cache in front of it."""

    def __init__(self, translator: Translator, maxsize: int = DEFAULT_CACHE_SIZE) -> None:
        self.translator = translator
        self.maxsize = max(0, maxsize)
        self._cache: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def translate(self, text: str, source_lang: str, target_lang: str) -> str:
        """The translation of one query (from the cache when it was translated before)."""
        key = (text, source_lang, target_lang)
        with self._lock:
            if key in self._cache:
                self.hits += 1
                self._cache.move_to_end(key)
                return self._cache[key]
            self.misses += 1
        (translated,) = self.translator.translate([text], source_lang, target_lang)
        translated = translated.strip() or text  # an empty translation would match nothing: keep the query
        with self._lock:
            self._cache[key] = translated
            self._cache.move_to_end(key)
            while len(self._cache) > self.maxsize:
                self._cache.popitem(last=False)
        return translated

    def warm_up(self) -> None:
        """Load the model now when the translator can (so the first query does not pay for it)."""
        load = getattr(self.translator, "load", None)
        if callable(load):
            load()

    def stats(self) -> CacheStats:
        """Hits, misses and entries so far."""
        with self._lock:
            return CacheStats(hits=self.hits, misses=self.misses, size=len(self._cache))


def translated_views(translator: CachedQueryTranslator, query: str, query_lang: str, doc_langs: Iterable[str],
                     sparse_views: Iterable[str]) -> dict[str, str]:
    """Query text per BM25 view: the query translated into each document language that has a view, and
    the original query on a view in the query's own language (a document translation, DT), if any."""
    views = set(sparse_views)
    texts = {lang: translator.translate(query, query_lang, lang)
             for lang in sorted(set(doc_langs)) if lang != query_lang and lang in views}
    if query_lang in views:
        texts[query_lang] = query
    return texts


@functools.lru_cache(maxsize=4)
def shared_query_translator(model: str, device: str = "cpu",
                            maxsize: int = DEFAULT_CACHE_SIZE) -> CachedQueryTranslator:
    """One cached translator per process and model (index reloads keep the cache); the model loads lazily.

    ``model`` is a Hugging Face id or a local directory (Marian, NLLB...): see ``passerelle augment``.
    """
    from passerelle.indexing.augment.seq2seq import Seq2SeqConfig, Seq2SeqTranslator

    logger.info("query translation with %s (cache of %d entries)", model, maxsize)
    return CachedQueryTranslator(Seq2SeqTranslator(Seq2SeqConfig(model=model, device=device, batch_size=1)), maxsize)
