"""Per-frame perceptual hashing features as an ONNX graph (no weights: the graph is the
algorithm), so sampled frames travel batched through Triton like every other model's input.

The recipe is PDQ's (Facebook's perceptual hash, the frame hash inside TMK+PDQF): a 64x64
luma picture, its 2-D DCT, and the 16x16 lowest non-DC frequencies; a frame's hash is the
sign of each coefficient against the median of the 256 (done in the service, on these
floats: `services.vision.fingerprint.hash_bits`). Frames are decoded straight to 64x64 by
FFmpeg's scaler, which filters while it shrinks (PDQ's own tent filter does the same job),
so any resize of a video gives nearly the same picture here.

The graph also gives PDQ's quality signal, the mean absolute luma gradient: flat frames
(black, a fade's end, a solid title card) hash to noise and must not count as evidence.

Tensors (batched, so Triton's dynamic batcher can join frames):
  image    UINT8 [N, 64, 64, 3]   RGB frames at the hashing size
  dct      FP32  [N, 16, 16]      DCT coefficients 1..16 x 1..16 of the luma (0..1 scale)
  quality  FP32  [N, 1]           mean |horizontal| + |vertical| luma step, 0..2
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from mediamesh.models.onnx_graph import const, finish

SIZE = 64  # frames are decoded to SIZE x SIZE
BANDS = 16  # DCT frequencies kept per axis (DC excluded)
LUMA = (0.299, 0.587, 0.114)  # BT.601, as PDQ


def dct_matrix() -> np.ndarray:
    """Rows 1..16 of the orthonormal DCT-II of length 64, float32 (16, 64)."""
    k = np.arange(1, BANDS + 1)[:, None]
    n = np.arange(SIZE)[None, :]
    return (np.sqrt(2.0 / SIZE) * np.cos(np.pi / (2 * SIZE) * k * (2 * n + 1))).astype(
        np.float32)


def hash_reference(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The numpy definition of the graph: (dct [N,16,16], quality [N,1])."""
    x = image.astype(np.float32) / np.float32(255.0)
    luma = x @ np.asarray(LUMA, dtype=np.float32)  # (N, 64, 64)
    d = dct_matrix()
    coefficients = d @ luma @ d.T
    dx = np.abs(np.diff(luma, axis=2)).mean(axis=(1, 2))
    dy = np.abs(np.diff(luma, axis=1)).mean(axis=(1, 2))
    return coefficients.astype(np.float32), (dx + dy)[:, None].astype(np.float32)


def build_graph() -> onnx.ModelProto:
    """The hashing graph; identical maths to `hash_reference`."""
    f, i64 = TensorProto.FLOAT, TensorProto.INT64
    node = helper.make_node
    d = dct_matrix()
    nodes = [
        const("u8max", [255.0], f, []),
        const("luma_weights", list(LUMA), f, [3, 1]),
        const("dct_rows", d, f, list(d.shape)),
        const("dct_t", d.T, f, list(d.T.shape)),
        const("plane", [-1, SIZE, SIZE], i64),
        const("one_axis", [-1, 1], i64),
        node("Cast", ["image"], ["x255"], to=f),
        node("Div", ["x255", "u8max"], ["x"]),
        node("MatMul", ["x", "luma_weights"], ["luma_c"]),  # (N, 64, 64, 1)
        node("Reshape", ["luma_c", "plane"], ["luma"]),
        node("MatMul", ["dct_rows", "luma"], ["rows"]),  # (N, 16, 64)
        node("MatMul", ["rows", "dct_t"], ["dct"]),  # (N, 16, 16)
    ]
    for axis, name in ((2, "dx"), (1, "dy")):
        nodes += [
            const(f"{name}_head", [0], i64), const(f"{name}_tail", [1], i64),
            const(f"{name}_stop", [SIZE - 1], i64), const(f"{name}_end", [SIZE], i64),
            const(f"{name}_axis", [axis], i64),
            node("Slice", ["luma", f"{name}_head", f"{name}_stop", f"{name}_axis"],
                 [f"{name}_a"]),
            node("Slice", ["luma", f"{name}_tail", f"{name}_end", f"{name}_axis"],
                 [f"{name}_b"]),
            node("Sub", [f"{name}_b", f"{name}_a"], [f"{name}_step"]),
            node("Abs", [f"{name}_step"], [f"{name}_abs"]),
            node("ReduceMean", [f"{name}_abs"], [f"{name}_mean"], axes=[1, 2], keepdims=0),
        ]
    nodes += [node("Add", ["dx_mean", "dy_mean"], ["quality_flat"]),
              node("Reshape", ["quality_flat", "one_axis"], ["quality"])]
    graph = helper.make_graph(
        nodes, "frame_hash",
        inputs=[helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", SIZE, SIZE, 3])],
        outputs=[helper.make_tensor_value_info("dct", f, ["N", BANDS, BANDS]),
                 helper.make_tensor_value_info("quality", f, ["N", 1])])
    return finish(graph, __doc__)
