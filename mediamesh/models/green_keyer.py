"""Green/blue-screen keyer as an ONNX graph (no weights: the graph is the algorithm).

It keys the chroma planes of 4:2:0 video, the form H.264 decodes to, so no frame is ever
converted to RGB and only half the picture's bytes travel to Triton. For chroma offsets
c = (U - 128, V - 128) and the screen's unit chroma direction k:

  p = c . k                       how much of the screen's colour a pixel carries
  q = |c x k|                     how far its hue is off the screen's
  d = p - HUE_WEIGHT * q          the key signal: high on the screen, low on the subject,
                                  and linear in alpha where the two mix
  alpha = 1 - clamp((up(d) - low) / (high - low), 0, 1)

`up` is a bilinear 2x upsampling to the luma grid (chroma samples centred, as swscale
writes them). Thresholding the upsampled signal rather than upsampling the thresholded
alpha keeps the edge as sharp as the ramp makes it, below the chroma resolution's own
blur. `up` is linear, so the ramp's scale and offset (and the +0.5 that makes the final
truncation a rounding) are applied on the chroma grid, a quarter of the pixels: the luma
grid sees only the upsampling, the clamp and the cast. alpha_chroma, the weight for the
chroma planes, is the ramp clamped at the chroma samples themselves: where the ramp is
linear that equals the mean of the upsampled alpha over the sample's 2x2 block (bilinear
interpolation is exact on a plane), and it spares a pass over the luma grid (12% of the
graph's time). Spill suppression removes the key direction from the foreground's chroma:
c' = c - spill * max(p, 0) * k. The service picks k, low and high from the screen
(services.vision.keying.ScreenEstimate). Measured in shared/research and bench: alpha MAE
below FFmpeg chromakey's on the same decoded frames.

Tensors (batched, so Triton's dynamic batcher can join frames):
  chroma            UINT8 [N, 2, h, w]    U and V planes (h, w = half the luma size)
  params            FP32  [N, 5]          key chroma offset (u, v), low, high, spill (0..1)
  alpha             UINT8 [N, 1, 2h, 2w]  255 = opaque subject, on the luma grid
  alpha_chroma      UINT8 [N, 1, h, w]    alpha at the chroma samples: the weight for
                                          compositing the chroma planes
  despilled_chroma  UINT8 [N, 2, h, w]    U and V after spill suppression
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = 17
#: Weight of the hue error q against the projection p: a yellow or cyan subject shares
#: some of a green screen's direction but sits well off its hue (bench/vision_keying.py
#: tuned it on its tuning seed).
HUE_WEIGHT = 0.25
PARAM_COLUMNS = 5
#: Just under 255.5: the truncating cast of a value shifted by +0.5 rounds, and 255 stays
#: the top.
ALPHA_CEILING = 255.49


def key_params(key_uv: tuple[float, float], low: float, high: float,
               spill: float) -> np.ndarray:
    """The `params` row for one frame; `key_uv` is the screen's chroma offset from grey."""
    if high <= low:
        raise ValueError(f"threshold_high ({high}) must be above threshold_low ({low})")
    if np.hypot(*key_uv) == 0:
        raise ValueError("the key colour must have chroma (a grey screen cannot be keyed)")
    return np.array([*key_uv, low, high, spill], dtype=np.float32)


def unit_key(key_uv: np.ndarray) -> np.ndarray:
    """The key direction k = key / |key| for key offsets (..., 2), float32."""
    k = key_uv.astype(np.float32)
    return k / np.sqrt((k * k).sum(-1, keepdims=True))


def offset_signal(c: np.ndarray, key_uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d, p) for float chroma offsets from grey (..., 2, h, w) and a key offset (..., 2)."""
    k = unit_key(key_uv)
    ku, kv = k[..., 0, None, None], k[..., 1, None, None]
    cu, cv = c[..., 0, :, :], c[..., 1, :, :]
    p = cu * ku + cv * kv
    q = np.abs(cv * ku - cu * kv)
    return p - np.float32(HUE_WEIGHT) * q, p


def _as_u8(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0.0, 255.0)).astype(np.uint8)


def upsample2(plane: np.ndarray) -> np.ndarray:
    """Bilinear 2x upsampling of (..., h, w) with centred samples and clamped edges: what
    ONNX Resize does in linear / half_pixel mode."""
    def along(x: np.ndarray, axis: int) -> np.ndarray:
        n = x.shape[axis]
        before = np.take(x, np.maximum(np.arange(n) - 1, 0), axis=axis)
        after = np.take(x, np.minimum(np.arange(n) + 1, n - 1), axis=axis)
        even = np.float32(0.75) * x + np.float32(0.25) * before
        odd = np.float32(0.75) * x + np.float32(0.25) * after
        out = np.stack([even, odd], axis=axis + 1)
        shape = list(x.shape)
        shape[axis] *= 2
        return out.reshape(shape)
    return along(along(plane, plane.ndim - 2), plane.ndim - 1)


def key_reference(chroma: np.ndarray, params: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The numpy definition of the graph: alpha, alpha_chroma, despilled_chroma."""
    c = chroma.astype(np.float32) - np.float32(128.0)
    d, p = offset_signal(c, params[:, 0:2])
    low, high, spill = (params[:, i, None, None] for i in (2, 3, 4))
    # 255 * (1 - (d - low) / (high - low)) + 0.5, clamped on the luma grid and truncated
    shifted = (high - d) * (np.float32(255.0) / (high - low)) + np.float32(0.5)
    alpha = np.clip(upsample2(shifted), 0.0, ALPHA_CEILING)
    block = np.clip(shifted, 0.0, ALPHA_CEILING)
    k = unit_key(params[:, 0:2])
    despilled = c - (spill * np.maximum(p, 0.0))[:, None] * k[:, :, None, None]
    return (alpha.astype(np.uint8)[:, None], block.astype(np.uint8)[:, None],
            _as_u8(despilled + 128.0))


def _const(name: str, values: list[float] | list[int], dtype: int) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(
        name + "_value", dtype, [len(values)], values))


def _scalar(name: str, value: float) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(
        name + "_value", TensorProto.FLOAT, [], [value]))


def _column(name: str, start: int, end: int) -> list[onnx.NodeProto]:
    """params[:, start:end] reshaped to (N, end - start, 1, 1) to broadcast over planes."""
    return [
        _const(f"{name}_start", [start], TensorProto.INT64),
        _const(f"{name}_end", [end], TensorProto.INT64),
        helper.make_node("Slice", ["params", f"{name}_start", f"{name}_end", "axis1"],
                         [f"{name}_flat"]),
        helper.make_node("Unsqueeze", [f"{name}_flat", "axes23"], [name]),
    ]


def build_graph() -> onnx.ModelProto:
    """The keyer graph; the same maths as `key_reference`."""
    f = TensorProto.FLOAT
    nodes = [
        _const("axis1", [1], TensorProto.INT64),
        _const("axes23", [2, 3], TensorProto.INT64),
        _const("scales", [1.0, 1.0, 2.0, 2.0], f),
        _scalar("zero", 0.0), _scalar("u8max", 255.0),
        _scalar("grey", 128.0), _scalar("hue_weight", HUE_WEIGHT), _scalar("half", 0.5),
        _scalar("alpha_ceiling", ALPHA_CEILING),
        helper.make_node("Cast", ["chroma"], ["chroma_f"], to=f),
        helper.make_node("Sub", ["chroma_f", "grey"], ["c"]),
        helper.make_node("Split", ["c"], ["cu", "cv"], axis=1),
        *_column("key", 0, 2), *_column("low", 2, 3), *_column("high", 3, 4),
        *_column("spill", 4, 5),
        # the unit key direction k = key / |key|, (N, 2, 1, 1)
        helper.make_node("Mul", ["key", "key"], ["key_sq"]),
        helper.make_node("ReduceSum", ["key_sq", "axis1"], ["key_norm_sq"], keepdims=1),
        helper.make_node("Sqrt", ["key_norm_sq"], ["key_norm"]),
        helper.make_node("Div", ["key", "key_norm"], ["k"]),
        helper.make_node("Split", ["k"], ["ku", "kv"], axis=1),
        # p = c . k, q = |c x k|, d = p - w q on the chroma grid
        helper.make_node("Mul", ["cu", "ku"], ["cu_ku"]),
        helper.make_node("Mul", ["cv", "kv"], ["cv_kv"]),
        helper.make_node("Add", ["cu_ku", "cv_kv"], ["p"]),
        helper.make_node("Mul", ["cv", "ku"], ["cv_ku"]),
        helper.make_node("Mul", ["cu", "kv"], ["cu_kv"]),
        helper.make_node("Sub", ["cv_ku", "cu_kv"], ["cross"]),
        helper.make_node("Abs", ["cross"], ["q"]),
        helper.make_node("Mul", ["q", "hue_weight"], ["q_weighted"]),
        helper.make_node("Sub", ["p", "q_weighted"], ["d"]),
        # the ramp, scaled to 0..255 and shifted by +0.5, on the chroma grid
        helper.make_node("Sub", ["high", "low"], ["span"]),
        helper.make_node("Div", ["u8max", "span"], ["gain"]),
        helper.make_node("Sub", ["high", "d"], ["below_high"]),
        helper.make_node("Mul", ["below_high", "gain"], ["ramp_255"]),
        helper.make_node("Add", ["ramp_255", "half"], ["ramp_shifted"]),
        # upsampled, clamped and truncated on the luma grid
        helper.make_node("Resize", ["ramp_shifted", "", "scales"], ["ramp_up"], mode="linear",
                         coordinate_transformation_mode="half_pixel"),
        helper.make_node("Clip", ["ramp_up", "zero", "alpha_ceiling"], ["alpha_f"]),
        helper.make_node("Cast", ["alpha_f"], ["alpha"], to=TensorProto.UINT8),
        helper.make_node("Clip", ["ramp_shifted", "zero", "alpha_ceiling"], ["block_f"]),
        helper.make_node("Cast", ["block_f"], ["alpha_chroma"], to=TensorProto.UINT8),
        # spill: c' = c - spill * max(p, 0) * k
        helper.make_node("Relu", ["p"], ["excess"]),
        helper.make_node("Mul", ["excess", "spill"], ["excess_scaled"]),
        helper.make_node("Mul", ["excess_scaled", "k"], ["spill_chroma"]),
        helper.make_node("Sub", ["chroma_f", "spill_chroma"], ["despilled_f"]),
        helper.make_node("Clip", ["despilled_f", "zero", "u8max"], ["despilled_clamped"]),
        helper.make_node("Round", ["despilled_clamped"], ["despilled_round"]),
        helper.make_node("Cast", ["despilled_round"], ["despilled_chroma"],
                         to=TensorProto.UINT8),
    ]
    graph = helper.make_graph(
        nodes, "green_keyer",
        inputs=[helper.make_tensor_value_info("chroma", TensorProto.UINT8, ["N", 2, "h", "w"]),
                helper.make_tensor_value_info("params", f, ["N", PARAM_COLUMNS])],
        outputs=[
            helper.make_tensor_value_info("alpha", TensorProto.UINT8, ["N", 1, "H", "W"]),
            helper.make_tensor_value_info("alpha_chroma", TensorProto.UINT8, ["N", 1, "h", "w"]),
            helper.make_tensor_value_info("despilled_chroma", TensorProto.UINT8,
                                          ["N", 2, "h", "w"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="mediamesh", doc_string=__doc__)
    model.ir_version = 8  # readable by the onnxruntime in Triton 2.51 images
    onnx.checker.check_model(model, full_check=True)
    return model
