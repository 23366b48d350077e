"""Hugging Face seq2seq backend for both protocols (mT5 doc2query models, Marian and NLLB translators).

torch and transformers are imported on first use, and each model is loaded once per process
(:func:`load_seq2seq` is cached). Inputs are processed in batches; generation is reproducible: each
batch seeds torch from the configured seed and the batch's first input, so the same inputs with the same
seed give the same outputs on the same hardware and library versions.
"""

from __future__ import annotations

import functools
import logging
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from passerelle.indexing.augment.errors import AugmentConfigError, ModelLoadError
from passerelle.indexing.augment.protocols import DEFAULT_TRANSLATION_PROMPT, DEFAULT_XQG_PROMPT, language_name
from passerelle.indexing.defaults import MAX_INPUT_TOKENS, MAX_NEW_TOKENS, MODEL_BATCH, XQG_TOP_K
from passerelle.indexing.documents import Document
from passerelle.indexing.errors import model_location_hint

logger = logging.getLogger(__name__)

#: FLORES-200 codes NLLB tokenizers expect (used only when the tokenizer has a ``src_lang``).
NLLB_CODES = {
    "ar": "arb_Arab",
    "de": "deu_Latn",
    "en": "eng_Latn",
    "es": "spa_Latn",
    "fr": "fra_Latn",
    "it": "ita_Latn",
    "ja": "jpn_Jpan",
    "ko": "kor_Hang",
    "nl": "nld_Latn",
    "pt": "por_Latn",
    "ru": "rus_Cyrl",
    "zh": "zho_Hans",
}


@dataclass(frozen=True)
class Seq2SeqConfig:
    """How to run a seq2seq model.

    Attributes:
        model: Hugging Face hub id or local directory (``HF_HUB_OFFLINE=1`` with a path works offline).
        device: ``cpu``, ``cuda``, ``cuda:1`` ... or ``auto`` (CUDA when available).
        batch_size: inputs per forward pass.
        max_input_tokens / max_new_tokens: truncation of inputs, length of outputs.
        seed: base of the per-batch torch seed.
        top_k: top-k sampling for generated queries (n > 1 always samples; n = 1 too, as doc2query does).
        num_beams: beam width for translation (1: greedy).
        prompt: input template; xQG: ``{lang}``, ``{title}``, ``{passage}``; translation: ``{text}``,
            ``{source}``, ``{target}``.
    """

    model: str
    device: str = "auto"
    batch_size: int = MODEL_BATCH
    max_input_tokens: int = MAX_INPUT_TOKENS
    max_new_tokens: int = MAX_NEW_TOKENS
    seed: int = 0
    top_k: int = XQG_TOP_K
    num_beams: int = 1
    prompt: str | None = None

    def check(self) -> None:
        """Refuse values that cannot work.

        Raises:
            AugmentConfigError: naming the value.
        """
        for name in ("batch_size", "max_input_tokens", "max_new_tokens", "top_k", "num_beams"):
            if getattr(self, name) < 1:
                raise AugmentConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.model:
            raise AugmentConfigError("no model: pass a Hugging Face id or a local path (--model)")


@functools.lru_cache(maxsize=4)
def load_seq2seq(model: str, device: str = "auto") -> tuple[Any, Any, str]:
    """Tokenizer, model (eval mode) and resolved device for a hub id or path; loaded once per process.

    Raises:
        ModelLoadError: the files are missing (offline without a local copy) or not a seq2seq model.
    """
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    resolved = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    try:
        tokenizer = AutoTokenizer.from_pretrained(model)
        network = AutoModelForSeq2SeqLM.from_pretrained(model)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"cannot load seq2seq model {model!r}: {exc}.{model_location_hint(model)}") from exc
    network.to(resolved).eval()
    logger.info("loaded seq2seq model %s on %s", model, resolved)
    return tokenizer, network, resolved


class _Seq2Seq:
    """Shared batching and generation."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        config.check()
        self.config = config
        self._lock = threading.Lock()  # the tokenizer's src_lang is state: one generation at a time

    def load(self) -> None:
        """Load the model now (otherwise the first call does).

        Raises:
            ModelLoadError: the model cannot be loaded.
        """
        load_seq2seq(self.config.model, self.config.device)

    def _run(
        self,
        inputs: Sequence[str],
        *,
        sample: bool,
        n: int,
        forced_bos: str | None = None,
        source_code: str | None = None,
    ) -> list[list[str]]:
        with self._lock:
            return self._run_locked(inputs, sample=sample, n=n, forced_bos=forced_bos, source_code=source_code)

    def _run_locked(
        self, inputs: Sequence[str], *, sample: bool, n: int, forced_bos: str | None, source_code: str | None
    ) -> list[list[str]]:
        import torch

        tokenizer, model, device = load_seq2seq(self.config.model, self.config.device)
        if source_code is not None and hasattr(tokenizer, "src_lang"):
            tokenizer.src_lang = source_code
        extra: dict[str, Any] = {}
        if forced_bos is not None:
            extra["forced_bos_token_id"] = tokenizer.convert_tokens_to_ids(forced_bos)
        if sample:
            extra.update(do_sample=True, top_k=self.config.top_k, num_return_sequences=n)
        else:
            extra.update(do_sample=False, num_beams=max(self.config.num_beams, n), num_return_sequences=n)
        outputs: list[list[str]] = []
        size = self.config.batch_size
        for start in range(0, len(inputs), size):
            batch = list(inputs[start : start + size])
            torch.manual_seed((self.config.seed * 1_000_003 + zlib.crc32(batch[0].encode("utf-8"))) % 2**63)
            encoded = tokenizer(
                batch, return_tensors="pt", padding=True, truncation=True, max_length=self.config.max_input_tokens
            ).to(device)
            with torch.inference_mode():
                generated = model.generate(**encoded, max_new_tokens=self.config.max_new_tokens, **extra)
            texts = [t.strip() for t in tokenizer.batch_decode(generated, skip_special_tokens=True)]
            outputs.extend(texts[i * n : (i + 1) * n] for i in range(len(batch)))
        return outputs


class Seq2SeqQueryGenerator(_Seq2Seq):
    """xQG / doc2query with a seq2seq model (e.g. ``ielabgroup/xor-tydi-docTquery-mt5-base``)."""

    def prompt(self, doc: Document, lang: str) -> str:
        """The model input for one passage and target language."""
        template = self.config.prompt or DEFAULT_XQG_PROMPT
        return " ".join(template.format(lang=language_name(lang), title=doc.title, passage=doc.text).split())

    def generate(self, docs: Sequence[Document], lang: str, n: int) -> list[list[str]]:
        """``n`` sampled queries in ``lang`` per document."""
        if n < 1:
            raise AugmentConfigError(f"n (queries per language) must be at least 1, got {n}")
        return self._run([self.prompt(doc, lang) for doc in docs], sample=True, n=n)


class Seq2SeqTranslator(_Seq2Seq):
    """Translation with a seq2seq MT model (Marian ``Helsinki-NLP/opus-mt-en-fr``, NLLB, ...), greedy or beam."""

    def translate(self, texts: Sequence[str], source_lang: str, target_lang: str) -> list[str]:
        """One translation per text (beam search when ``num_beams`` > 1)."""
        template = self.config.prompt or DEFAULT_TRANSLATION_PROMPT
        inputs = [template.format(text=text, source=source_lang, target=target_lang) for text in texts]
        tokenizer, _, _ = load_seq2seq(self.config.model, self.config.device)
        nllb = (
            hasattr(tokenizer, "src_lang")
            and target_lang in NLLB_CODES
            and NLLB_CODES[target_lang] in tokenizer.get_vocab()
        )
        outputs = self._run(
            inputs,
            sample=False,
            n=1,
            forced_bos=NLLB_CODES[target_lang] if nllb else None,
            source_code=NLLB_CODES.get(source_lang) if nllb else None,
        )
        return [group[0] for group in outputs]
