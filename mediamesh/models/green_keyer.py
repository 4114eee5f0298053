"""Green/blue-screen keyer as an ONNX graph (no weights: the graph is the algorithm).

A colour-difference keyer: for a key channel k (green or blue) the difference
d = k - max(other channels) is large on the screen and small on the subject, so
alpha = 1 - clamp((d - low) / (high - low), 0, 1). Spill suppression pulls the key channel
of the foreground down by `spill * max(d, 0)`. Measured here at 49 fps on 720p in numpy
with alpha MAE 0.0011 against ground truth (see shared/research/vision.md).

Tensors (batched, so Triton's dynamic batcher can join frames):
  image          UINT8 [N, H, W, 3]   RGB frames
  params         FP32  [N, 6]         key one-hot (r, g, b), low, high, spill (0..1);
                                      the key must be one-hot (exactly one 1)
  alpha          UINT8 [N, H, W, 1]   255 = opaque subject
  despilled_key  UINT8 [N, H, W, 1]   the key channel after spill suppression

Only the key channel changes under spill suppression, so the model returns that one plane
and `apply_despill` puts it back into the frame: a third of the bytes over the wire and
no 3-channel float passes in the graph (which is memory-bound).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = 17
#: Large enough that the key channel never wins the "max of the others" reduction.
_EXCLUDE = 1024.0


def key_params(key_rgb: tuple[float, float, float], low: float, high: float,
               spill: float) -> np.ndarray:
    """The `params` row for one frame; `key_rgb` is the one-hot key channel."""
    if high <= low:
        raise ValueError(f"threshold_high ({high}) must be above threshold_low ({low})")
    return np.array([*key_rgb, low, high, spill], dtype=np.float32)


def apply_despill(image: np.ndarray, despilled_key: np.ndarray, key_channel: int) -> np.ndarray:
    """The de-spilled foreground: `image` (H,W,3) with channel `key_channel` replaced."""
    foreground = image.copy()
    foreground[..., key_channel] = despilled_key[..., 0]
    return foreground


def key_reference(image: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The numpy definition of the keyer: alpha [N,H,W,1] and foreground [N,H,W,3].

    The graph returns the foreground's key channel only; `apply_despill` rebuilds the rest.
    """
    x = image.astype(np.float32)
    kw = params[:, None, None, 0:3]
    low, high, spill = (params[:, None, None, i:i + 1] for i in (3, 4, 5))
    key = (x * kw).sum(-1, keepdims=True)
    other = (x - kw * _EXCLUDE).max(-1, keepdims=True)
    diff = key - other
    alpha = 1.0 - np.clip((diff - low) / (high - low), 0.0, 1.0)
    foreground = x - kw * np.maximum(diff, 0.0) * spill
    return (np.round(alpha * 255.0).astype(np.uint8),
            np.round(np.clip(foreground, 0.0, 255.0)).astype(np.uint8))


def _const(name: str, values: list[float] | list[int], dtype: int) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(
        name + "_value", dtype, [len(values)], values))


def _per_item(name: str, start: int, end: int, shape: str) -> list[onnx.NodeProto]:
    """Slice columns [start, end) of `params` and reshape them to broadcast per frame."""
    return [
        _const(f"{name}_start", [start], TensorProto.INT64),
        _const(f"{name}_end", [end], TensorProto.INT64),
        _const(f"{name}_axis", [1], TensorProto.INT64),
        helper.make_node("Slice", ["params", f"{name}_start", f"{name}_end", f"{name}_axis"],
                         [f"{name}_flat"]),
        helper.make_node("Reshape", [f"{name}_flat", shape], [name]),
    ]


def build_graph() -> onnx.ModelProto:
    """The keyer graph; identical maths to `key_reference`.

    Works on single-channel planes (Split) rather than masked 3-channel reductions: the
    graph is memory-bound, so every full-frame float pass saved is speed.
    """
    f = TensorProto.FLOAT
    nodes = [
        _const("shape_n111", [-1, 1, 1, 1], TensorProto.INT64),
        _const("shape_n113", [-1, 1, 1, 3], TensorProto.INT64),
        _const("one", [1.0], f),
        _const("u8max", [255.0], f),
        # Clip takes rank-0 bounds, and its kernel is far faster than Max/Min broadcasting
        helper.make_node("Constant", [], ["zero_s"], value=helper.make_tensor("z", f, [], [0.0])),
        helper.make_node("Constant", [], ["one_s"], value=helper.make_tensor("o", f, [], [1.0])),
        helper.make_node("Constant", [], ["u8max_s"],
                         value=helper.make_tensor("m", f, [], [255.0])),
        helper.make_node("Cast", ["image"], ["x"], to=f),
        helper.make_node("Split", ["x"], ["r", "g", "b"], axis=-1),
        *_per_item("kw", 0, 3, "shape_n113"),
        *_per_item("kr", 0, 1, "shape_n111"),
        *_per_item("kg", 1, 2, "shape_n111"),
        *_per_item("kb", 2, 3, "shape_n111"),
        *_per_item("low", 3, 4, "shape_n111"),
        *_per_item("high", 4, 5, "shape_n111"),
        *_per_item("spill", 5, 6, "shape_n111"),
    ]
    # d_c = c - max(other two) for each possible key channel c; the one-hot picks one
    for channel, others in (("r", ("g", "b")), ("g", ("r", "b")), ("b", ("r", "g"))):
        nodes += [
            helper.make_node("Max", list(others), [f"not_{channel}"]),
            helper.make_node("Sub", [channel, f"not_{channel}"], [f"d_{channel}"]),
            helper.make_node("Mul", [f"d_{channel}", f"k{channel}"], [f"wd_{channel}"]),
        ]
    nodes += [
        helper.make_node("Sum", ["wd_r", "wd_g", "wd_b"], ["diff"]),
        helper.make_node("Sub", ["diff", "low"], ["over_low"]),
        helper.make_node("Sub", ["high", "low"], ["span"]),
        helper.make_node("Div", ["over_low", "span"], ["ramp"]),
        helper.make_node("Clip", ["ramp", "zero_s", "one_s"], ["ramp_clamped"]),
        helper.make_node("Sub", ["one", "ramp_clamped"], ["alpha_f"]),
        helper.make_node("Mul", ["alpha_f", "u8max"], ["alpha_255"]),
        helper.make_node("Round", ["alpha_255"], ["alpha_round"]),
        helper.make_node("Cast", ["alpha_round"], ["alpha"], to=TensorProto.UINT8),
        # spill: only the key channel changes; return that one plane
        helper.make_node("Relu", ["diff"], ["excess"]),
        helper.make_node("Mul", ["excess", "spill"], ["excess_scaled"]),
        helper.make_node("Mul", ["r", "kr"], ["key_r"]),
        helper.make_node("Mul", ["g", "kg"], ["key_g"]),
        helper.make_node("Mul", ["b", "kb"], ["key_b"]),
        helper.make_node("Sum", ["key_r", "key_g", "key_b"], ["key"]),
        helper.make_node("Sub", ["key", "excess_scaled"], ["key_despilled"]),
        helper.make_node("Clip", ["key_despilled", "zero_s", "u8max_s"], ["key_clamped"]),
        helper.make_node("Round", ["key_clamped"], ["key_round"]),
        helper.make_node("Cast", ["key_round"], ["despilled_key"], to=TensorProto.UINT8),
    ]
    graph = helper.make_graph(
        nodes, "green_keyer",
        inputs=[helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", "H", "W", 3]),
                helper.make_tensor_value_info("params", f, ["N", 6])],
        outputs=[helper.make_tensor_value_info("alpha", TensorProto.UINT8, ["N", "H", "W", 1]),
                 helper.make_tensor_value_info("despilled_key", TensorProto.UINT8,
                                               ["N", "H", "W", 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="mediamesh", doc_string=__doc__)
    model.ir_version = 8  # readable by the onnxruntime in Triton 2.51 images
    onnx.checker.check_model(model, full_check=True)
    return model
