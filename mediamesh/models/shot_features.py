"""Per-frame features for shot detection as an ONNX graph (no weights: the graph is the
algorithm), so frames travel batched through Triton like every other model's inputs.

A frame is decoded straight to 128x72 (FFmpeg scales while converting to RGB, no dearer
than a full-size conversion, and 100x fewer bytes travel than at 720p). From it the graph
computes:
  - soft HSV histograms of its 64x36 half-size copy, in a 2x2 grid of regions: 16 hue
    bins (circular, weighted by chroma so grey pixels cast no hue vote), 8 saturation and
    16 value bins. Colour statistics barely move under camera motion, so the cut
    detector compares these; the grid adds coarse layout, so two shots with one palette
    still differ;
  - an 18x32 RGB thumbnail (4x4 block means). Block means are linear in the pixels, so a
    dissolve's frame is exactly a mix of its two shots' thumbnails and a fade a scaled
    one: the gradual-transition test and the motion measure work on these.
Soft (triangular) bins make a histogram change smoothly with the pixels: no jumps when
a colour sits on a bin edge, hence a low noise floor within shots. Histograms of the
half-size copy cost a quarter (the vote tensor is the graph's whole cost: 40 floats per
pixel) and are as good for telling shots apart.

Tensors (batched, so Triton's dynamic batcher can join frames):
  image  UINT8 [N, 72, 128, 3]     RGB frames at the analysis size
  hist   FP32  [N, 2, 2, 40]       per region: hue 16 | saturation 8 | value 16, each
                                   block a mean over the region's pixels (S and V sum to
                                   1; hue sums to the mean chroma)
  thumb  FP32  [N, 18, 32, 3]      RGB block means, 0..1
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from mediamesh.models.onnx_graph import const as _const
from mediamesh.models.onnx_graph import finish
from mediamesh.models.onnx_graph import scalar as _scalar

WIDTH, HEIGHT = 128, 72  # the analysis size frames are decoded to
GRID = 2  # regions per side
HUE_BINS, SAT_BINS, VAL_BINS = 16, 8, 16
BINS = HUE_BINS + SAT_BINS + VAL_BINS
HIST_POOL = 2  # histograms count the pixels of a half-size copy
HIST_H, HIST_W = HEIGHT // HIST_POOL, WIDTH // HIST_POOL
POOL = 4  # thumbnail block size, pixels
THUMB_H, THUMB_W = HEIGHT // POOL, WIDTH // POOL
_EPS = 1e-6


def _hsv(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hue (0..1), saturation, value and chroma of float RGB in 0..1, shaped (..., 1)."""
    r, g, b = x[..., 0:1], x[..., 1:2], x[..., 2:3]
    v = np.maximum(np.maximum(r, g), b)
    chroma = v - np.minimum(np.minimum(r, g), b)
    s = chroma / np.maximum(v, _EPS)
    cd = np.maximum(chroma, _EPS)
    hr = (g - b) / cd
    hr = np.where(hr < 0, hr + 6, hr)
    h6 = np.where(v == r, hr, np.where(v == g, (b - r) / cd + 2, (r - g) / cd + 4))
    return h6 / 6, s, v, chroma


def features_reference(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The numpy definition of the graph: (hist [N,2,2,40], thumb [N,18,32,3])."""
    n = image.shape[0]
    x = image.astype(np.float32) / np.float32(255.0)
    half = x.reshape(n, HIST_H, HIST_POOL, HIST_W, HIST_POOL, 3).mean(axis=(2, 4))
    h, s, v, chroma = _hsv(half)
    hue_d = np.abs(h - np.arange(HUE_BINS, dtype=np.float32) / HUE_BINS)
    hue_d = np.minimum(hue_d, 1 - hue_d)
    votes = np.concatenate([
        np.maximum(1 - HUE_BINS * hue_d, 0) * chroma,
        np.maximum(1 - np.abs((SAT_BINS - 1) * s - np.arange(SAT_BINS, dtype=np.float32)), 0),
        np.maximum(1 - np.abs((VAL_BINS - 1) * v - np.arange(VAL_BINS, dtype=np.float32)), 0),
    ], axis=-1)
    regions = votes.reshape(n, GRID, HIST_H // GRID, GRID, HIST_W // GRID, BINS)
    thumb = x.reshape(n, THUMB_H, POOL, THUMB_W, POOL, 3).mean(axis=(2, 4))
    return regions.mean(axis=(2, 4)).astype(np.float32), thumb.astype(np.float32)


def build_graph() -> onnx.ModelProto:
    """The feature graph; identical maths to `features_reference`."""
    f, i64 = TensorProto.FLOAT, TensorProto.INT64
    node = helper.make_node
    nodes = [
        _scalar("zero", 0.0), _scalar("one", 1.0), _scalar("two", 2.0), _scalar("four", 4.0),
        _scalar("six", 6.0), _scalar("eps", _EPS), _scalar("u8max", 255.0),
        _const("hue_centres", np.arange(HUE_BINS) / HUE_BINS, f),
        _const("sat_centres", np.arange(SAT_BINS), f),
        _const("val_centres", np.arange(VAL_BINS), f),
        _scalar("hue_bins", float(HUE_BINS)), _scalar("sat_scale", float(SAT_BINS - 1)),
        _scalar("val_scale", float(VAL_BINS - 1)),
        _const("half_shape", [-1, HIST_H, HIST_POOL, HIST_W, HIST_POOL, 3], i64),
        _const("region_shape", [-1, GRID, HIST_H // GRID, GRID, HIST_W // GRID, BINS], i64),
        _const("thumb_shape", [-1, THUMB_H, POOL, THUMB_W, POOL, 3], i64),
        node("Cast", ["image"], ["x255"], to=f),
        node("Div", ["x255", "u8max"], ["x"]),
        node("Reshape", ["x", "half_shape"], ["x_pairs"]),
        node("ReduceMean", ["x_pairs"], ["half"], axes=[2, 4], keepdims=0),
        node("Split", ["half"], ["r", "g", "b"], axis=-1),
        # HSV, as _hsv
        node("Max", ["r", "g", "b"], ["v"]),
        node("Min", ["r", "g", "b"], ["mn"]),
        node("Sub", ["v", "mn"], ["chroma"]),
        node("Max", ["v", "eps"], ["v_safe"]),
        node("Div", ["chroma", "v_safe"], ["s"]),
        node("Max", ["chroma", "eps"], ["cd"]),
        node("Sub", ["g", "b"], ["g_b"]), node("Div", ["g_b", "cd"], ["hr0"]),
        node("Less", ["hr0", "zero"], ["hr_neg"]), node("Add", ["hr0", "six"], ["hr6"]),
        node("Where", ["hr_neg", "hr6", "hr0"], ["hr"]),
        node("Sub", ["b", "r"], ["b_r"]), node("Div", ["b_r", "cd"], ["hg0"]),
        node("Add", ["hg0", "two"], ["hg"]),
        node("Sub", ["r", "g"], ["r_g"]), node("Div", ["r_g", "cd"], ["hb0"]),
        node("Add", ["hb0", "four"], ["hb"]),
        node("Equal", ["v", "r"], ["is_r"]), node("Equal", ["v", "g"], ["is_g"]),
        node("Where", ["is_g", "hg", "hb"], ["h_gb"]),
        node("Where", ["is_r", "hr", "h_gb"], ["h6"]),
        node("Div", ["h6", "six"], ["h"]),
        # hue votes: triangular on the circle, weighted by chroma
        node("Sub", ["h", "hue_centres"], ["hue_diff"]),
        node("Abs", ["hue_diff"], ["hue_abs"]),
        node("Sub", ["one", "hue_abs"], ["hue_wrap"]),
        node("Min", ["hue_abs", "hue_wrap"], ["hue_d"]),
        node("Mul", ["hue_d", "hue_bins"], ["hue_dn"]),
        node("Sub", ["one", "hue_dn"], ["hue_tri"]),
        node("Relu", ["hue_tri"], ["hue_w"]),
        node("Mul", ["hue_w", "chroma"], ["hue_votes"]),
    ]
    for name, value, scale in (("sat", "s", "sat_scale"), ("val", "v", "val_scale")):
        nodes += [
            node("Mul", [value, scale], [f"{name}_x"]),
            node("Sub", [f"{name}_x", f"{name}_centres"], [f"{name}_diff"]),
            node("Abs", [f"{name}_diff"], [f"{name}_abs"]),
            node("Sub", ["one", f"{name}_abs"], [f"{name}_tri"]),
            node("Relu", [f"{name}_tri"], [f"{name}_votes"]),
        ]
    nodes += [
        node("Concat", ["hue_votes", "sat_votes", "val_votes"], ["votes"], axis=-1),
        node("Reshape", ["votes", "region_shape"], ["votes_regions"]),
        node("ReduceMean", ["votes_regions"], ["hist"], axes=[2, 4], keepdims=0),
        node("Reshape", ["x", "thumb_shape"], ["x_blocks"]),
        node("ReduceMean", ["x_blocks"], ["thumb"], axes=[2, 4], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "shot_features",
        inputs=[helper.make_tensor_value_info("image", TensorProto.UINT8,
                                              ["N", HEIGHT, WIDTH, 3])],
        outputs=[helper.make_tensor_value_info("hist", f, ["N", GRID, GRID, BINS]),
                 helper.make_tensor_value_info("thumb", f, ["N", THUMB_H, THUMB_W, 3])])
    return finish(graph, __doc__)
