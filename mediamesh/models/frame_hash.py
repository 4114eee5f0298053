"""Per-frame perceptual hashing features as an ONNX graph (no weights: the graph is the
algorithm), so sampled frames travel batched through Triton like every other model's input.

The recipe is PDQ's (Facebook's perceptual hash, the frame hash inside TMK+PDQF): a 64x64
luma picture, its 2-D DCT, and the 16x16 lowest non-DC frequencies; a frame's hash is the
sign of each coefficient against the median of the 256 (done in the service, on these
floats: `services.vision.fingerprint.hash_bits`). Frames are decoded straight to 64x64 by
FFmpeg's scaler, which filters while it shrinks (PDQ's own tent filter does the same job),
so any resize of a video gives nearly the same picture here.

The graph also gives a quality signal in the spirit of PDQ's: the energy of the 8x8 lowest
coefficients, the part of the picture fingerprints compare. Flat frames (black, a fade's
end, a solid card) have none and fine noise or texture little: their hashes and signatures
are at the mercy of the encoder, and must not count as much evidence. (PDQ's own measure,
the gradient sum, calls a noise texture rich: measured on the evaluation's copies, such
shots matched their originals at cosine 0.2-0.7, shots with structure at 0.9-0.99.)

Tensors (batched, so Triton's dynamic batcher can join frames):
  image    UINT8 [N, 64, 64, 3]   RGB frames at the hashing size
  dct      FP32  [N, 16, 16]      DCT coefficients 1..16 x 1..16 of the luma (0..1 scale)
  quality  FP32  [N, 1]           L2 norm of the 8x8 lowest coefficients (flat frame: 0)
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from mediamesh.models.onnx_graph import const, finish

SIZE = 64  # frames are decoded to SIZE x SIZE
BANDS = 16  # DCT frequencies kept per axis (DC excluded)
LUMA = (0.299, 0.587, 0.114)  # BT.601, as PDQ
QUALITY_BANDS = 8  # quality = energy of the QUALITY_BANDS x QUALITY_BANDS lowest coefficients


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
    low = coefficients[:, :QUALITY_BANDS, :QUALITY_BANDS].reshape(len(image), -1)
    return coefficients.astype(np.float32), np.linalg.norm(low, axis=1)[:, None].astype(
        np.float32)


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
        const("low_start", [0, 0], i64), const("low_end", [QUALITY_BANDS, QUALITY_BANDS], i64),
        const("low_axes", [1, 2], i64),
        node("Slice", ["dct", "low_start", "low_end", "low_axes"], ["low"]),
        node("ReduceL2", ["low"], ["quality_flat"], axes=[1, 2], keepdims=0),
        node("Reshape", ["quality_flat", "one_axis"], ["quality"]),
    ]
    graph = helper.make_graph(
        nodes, "frame_hash",
        inputs=[helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", SIZE, SIZE, 3])],
        outputs=[helper.make_tensor_value_info("dct", f, ["N", BANDS, BANDS]),
                 helper.make_tensor_value_info("quality", f, ["N", 1])])
    return finish(graph, __doc__)
