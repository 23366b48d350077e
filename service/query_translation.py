"""Query translation at search time (QT, as in CLIRudit): translate the query into the document languages.

BM25 then runs the translated query against each document-language view, where it matches the original
text with that language's analyzer. Translations are cached: an LRU keyed by ``(text, source, target)``,
shared by the threads of the service (a lock guards it; the model itself runs outside the lock, so two
threads may translate the same new text once each, and the second result simply replaces the first).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
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

    def covers(self, source_lang: str, target_lang: str) -> bool:
        """Whether a model translates ``source_lang`` into ``target_lang`` (a single model: always)."""
        covers = getattr(self.translator, "covers", None)
        return bool(covers(source_lang, target_lang)) if callable(covers) else True

    def stats(self) -> CacheStats:
        """Hits, misses and entries so far."""
        with self._lock:
            return CacheStats(hits=self.hits, misses=self.misses, size=len(self._cache))


def translated_views(
    translator: CachedQueryTranslator,
    query: str,
    query_lang: str,
    doc_langs: Iterable[str],
    sparse_views: Iterable[str],
) -> dict[str, str]:
    """Query text per BM25 view: the query translated into each document language that has a view, and
    the original query on a view in the query's own language (a document translation, DT), if any. A view
    whose language no configured model translates into gets the original query (BM25 as without QT)."""
    views = set(sparse_views)
    texts = {
        lang: translator.translate(query, query_lang, lang) if translator.covers(query_lang, lang) else query
        for lang in sorted(set(doc_langs))
        if lang != query_lang and lang in views
    }
    if query_lang in views:
        texts[query_lang] = query
    return texts


ROUTE_PATTERN = re.compile(r"^(\*|[a-z]{2,3}(-[a-z]{2,3})?)$")
"""A translation route key: ``src-tgt`` (en-fr), ``tgt`` (fr) or ``*``."""
TranslatorSetting = str | Mapping[str, str]
RoutesKey = tuple[tuple[str, str], ...]


class RoutedTranslator:
    """One translation model per language pair, as Marian models are (``opus-mt-en-fr`` does en→fr only).

    Routes are keyed ``"en-fr"`` (that pair), ``"fr"`` (any source into fr) or ``"*"`` (anything else),
    most specific first; each model loads on first use (or at :meth:`load`).
    """

    def __init__(self, routes: Mapping[str, Translator]) -> None:
        bad = [key for key in routes if not ROUTE_PATTERN.match(key)]
        if bad:
            raise ValueError(f"query translator routes must be 'src-tgt', 'tgt' or '*' (language codes), got {bad}")
        self.routes = dict(routes)

    def model_for(self, source_lang: str, target_lang: str) -> Translator | None:
        """The model of the most specific route covering the pair, or ``None``."""
        for key in (f"{source_lang}-{target_lang}", target_lang, "*"):
            if key in self.routes:
                return self.routes[key]
        return None

    def covers(self, source_lang: str, target_lang: str) -> bool:
        """Whether a route covers the pair."""
        return self.model_for(source_lang, target_lang) is not None

    def translate(self, texts: Sequence[str], source_lang: str, target_lang: str) -> list[str]:
        """Translate with the pair's model.

        Raises:
            ValueError: no route covers the pair (callers check :meth:`covers` first).
        """
        model = self.model_for(source_lang, target_lang)
        if model is None:
            raise ValueError(
                f"no query translation model for {source_lang}->{target_lang}; routes: {', '.join(sorted(self.routes))}"
            )
        return model.translate(texts, source_lang, target_lang)

    def load(self) -> None:
        """Load every model now."""
        for model in {id(m): m for m in self.routes.values()}.values():
            load = getattr(model, "load", None)
            if callable(load):
                load()


def routes_key(setting: TranslatorSetting) -> str | RoutesKey:
    """A hashable form of the ``service.query_translator`` setting (a model, or routes to models)."""
    return setting if isinstance(setting, str) else tuple(sorted(setting.items()))


@functools.lru_cache(maxsize=4)
def shared_query_translator(
    model: str | RoutesKey, device: str = "cpu", maxsize: int = DEFAULT_CACHE_SIZE
) -> CachedQueryTranslator:
    """One cached translator per process and setting (index reloads keep the cache); models load lazily.

    ``model`` is a Hugging Face id or a local directory (Marian, NLLB...: see ``passerelle augment``), or
    routes ``(("en-fr", model), ("de", model), ...)`` as :func:`routes_key` makes them (one model per pair).
    """
    from passerelle.indexing.augment.seq2seq import Seq2SeqConfig, Seq2SeqTranslator

    def seq2seq(name: str) -> Seq2SeqTranslator:
        return Seq2SeqTranslator(Seq2SeqConfig(model=name, device=device, batch_size=1))

    logger.info("query translation with %s (cache of %d entries)", model, maxsize)
    if isinstance(model, str):
        return CachedQueryTranslator(seq2seq(model), maxsize)
    models = {name: seq2seq(name) for name in {name for _, name in model}}  # a model serving two routes loads once
    return CachedQueryTranslator(RoutedTranslator({key: models[name] for key, name in model}), maxsize)
