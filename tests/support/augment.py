"""Tiny randomly initialised seq2seq models (T5, Marian) saved to a folder, for the augmentation tests.

No model hub: a WordLevel tokenizer is fitted on a few sentences and wrapped in PreTrainedTokenizerFast;
the models have d_model 16 and one layer, so they load and generate in milliseconds. Their output is
gibberish made of the tokenizer's words: the tests check the plumbing, not the quality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SENTENCES = [
    "Generate a English question for this passage: bread bakery sourdough flour oven",
    "Generate a French question for this passage: glacier ice cave mountain snow",
    "la boulangerie le pain la farine le four la grotte de glace la montagne",
    "what where when who how why is the a of in river city train strike",
]
SPECIALS = ["<pad>", "</s>", "<unk>"]


def _tokenizer(folder: Path) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=SPECIALS))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(folder)
    return fast


def tiny_t5(folder: Path) -> Path:
    """A 1-layer, d_model 16 T5 (an mT5 doc2query stand-in) with its tokenizer, in ``folder``."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    folder.mkdir(parents=True, exist_ok=True)
    fast = _tokenizer(folder)
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(fast),
        d_model=16,
        d_kv=4,
        d_ff=32,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    T5ForConditionalGeneration(config).save_pretrained(folder)
    return folder


def tiny_marian(folder: Path) -> Path:
    """A 1-layer, d_model 16 Marian translation model with its tokenizer, in ``folder``."""
    import torch
    from transformers import MarianConfig, MarianMTModel

    folder.mkdir(parents=True, exist_ok=True)
    fast = _tokenizer(folder)
    torch.manual_seed(0)
    config = MarianConfig(
        vocab_size=len(fast),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=128,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        forced_eos_token_id=1,
    )
    MarianMTModel(config).save_pretrained(folder)
    return folder
