"""Per-frame luma gradients as an ONNX graph (no weights: the graph is the algorithm), so
sampled frames travel batched through Triton like every other model's input.

What it is for: finding static overlays (station logos, watermarks). A logo's edges sit in
the same place with the same direction in every frame while the picture under it changes,
so the per-pixel median of the gradient *vectors* over many frames keeps the logo's edges
and cancels the scene's (Dekel et al., "On the Effectiveness of Visible Watermarks",
CVPR 2017: the median of gradients reveals a watermark shared by many images). The
median and everything after it are numpy in the service (`services/vision/logos.py`);
this graph is the per-frame part, which is where the pixels are.

Frames are decoded straight to 320x180 (FFmpeg's scaler filters while it shrinks). The
luma (BT.601) goes through 3x3 Sobel filters with replicated edges, scaled by 1/4 so a
step of 1.0 (black to white) gives a gradient of 1.0.

Tensors (batched, so Triton's dynamic batcher can join frames):
  image     UINT8 [N, 180, 320, 3]  RGB frames at the analysis size
  gradient  FP32  [N, 180, 320, 2]  (d/dx, d/dy) of the luma, 0..1 scale per pixel step
  luma      FP32  [N, 180, 320, 1]  the luma itself, 0..1 (how much the scene changes)
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from mediamesh.models.onnx_graph import const, finish

WIDTH, HEIGHT = 320, 180  # the analysis size frames are decoded to
LUMA = (0.299, 0.587, 0.114)  # BT.601, as decoders use
_SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32) / 4
_SOBEL_Y = _SOBEL_X.T.copy()


def luma_reference(image: np.ndarray) -> np.ndarray:
    """BT.601 luma 0..1, [N, H, W], of uint8 RGB [N, H, W, 3]."""
    return image.astype(np.float32) @ (np.array(LUMA, np.float32) / 255.0)


def gradient_reference(image: np.ndarray) -> np.ndarray:
    """The numpy definition of the graph's gradient [N, H, W, 2] of uint8 RGB [N, H, W, 3]."""
    luma = luma_reference(image)
    padded = np.pad(luma, ((0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = luma.shape[1:]
    out = np.zeros(luma.shape + (2,), np.float32)
    for dy in range(3):
        for dx in range(3):
            window = padded[:, dy:dy + h, dx:dx + w]
            out[..., 0] += _SOBEL_X[dy, dx] * window
            out[..., 1] += _SOBEL_Y[dy, dx] * window
    return out


def build_graph() -> onnx.ModelProto:
    """The gradient graph; identical maths to `gradient_reference`."""
    f, i64 = TensorProto.FLOAT, TensorProto.INT64
    node = helper.make_node
    kernels = np.stack([_SOBEL_X, _SOBEL_Y])[:, None]  # [2 out, 1 in, 3, 3]
    nodes = [
        const("luma_weights", np.array(LUMA) / 255.0, f, [1, 1, 1, 3]),
        const("kernels", kernels, f, list(kernels.shape)),
        const("pads", [0, 0, 1, 1, 0, 0, 1, 1], i64),
        const("channel_axis", [3], i64),
        node("Cast", ["image"], ["x"], to=f),
        node("Mul", ["x", "luma_weights"], ["weighted"]),
        node("ReduceSum", ["weighted", "channel_axis"], ["luma"], keepdims=1),
        node("Transpose", ["luma"], ["luma_nchw"], perm=[0, 3, 1, 2]),
        node("Pad", ["luma_nchw", "pads"], ["padded"], mode="edge"),
        node("Conv", ["padded", "kernels"], ["grad_nchw"]),
        node("Transpose", ["grad_nchw"], ["gradient"], perm=[0, 2, 3, 1]),
    ]
    graph = helper.make_graph(
        nodes, "edge_features",
        inputs=[helper.make_tensor_value_info("image", TensorProto.UINT8,
                                              ["N", HEIGHT, WIDTH, 3])],
        outputs=[helper.make_tensor_value_info("gradient", f, ["N", HEIGHT, WIDTH, 2]),
                 helper.make_tensor_value_info("luma", f, ["N", HEIGHT, WIDTH, 1])])
    return finish(graph, __doc__)
