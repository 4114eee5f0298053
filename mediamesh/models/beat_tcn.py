"""Beat and downbeat activations: a small temporal convolutional network (TCN), our weights.

Why a TCN trained here: the default model must allow commercial use, and madmom's weights
(CC BY-NC-SA) do not. Dilated 1-D convolutions see ~10 s of context (enough to hear where
chords change and where the bar starts), run in ~30 ms per minute of audio, and need no
recurrent state, so a song can be cut into fixed-size chunks that Triton batches.
The weights are trained by `tools/train_beat_tcn.py` (optional step, needs torch) on songs
that `mediamesh.synth.songs` renders, and committed as `beat_tcn.npz` (Apache-2.0) with the
training record; this module turns them into the ONNX graph, with no torch at build time.

Tensors (batched chunks of one fixed length, so the dynamic batcher joins them):
  features     FP32 [N, T, F]  `mediamesh.audio.spectral.features` frames
  activations  FP32 [N, T, 2]  beat and downbeat probability per frame
"""
from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from scipy.special import expit

OPSET = 17
WEIGHTS = "beat_tcn.npz"
#: Architecture (training and export agree through these).
CHANNELS = 32
DILATIONS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
KERNEL = 3
#: Frames of context either side that influence an output frame.
RECEPTIVE_HALF = (KERNEL - 1) // 2 * sum(DILATIONS)


def load_weights() -> dict[str, np.ndarray]:
    """The committed weights (float32 arrays by parameter name)."""
    with resources.files("mediamesh.models").joinpath(WEIGHTS).open("rb") as handle:
        data = np.load(handle)
        return {k: data[k].astype(np.float32) for k in data.files if k != "record"}


def training_record() -> dict[str, Any]:
    """How the committed weights were made (seeds, data, epochs, losses, versions)."""
    with resources.files("mediamesh.models").joinpath(WEIGHTS).open("rb") as handle:
        return dict(json.loads(str(np.load(handle)["record"])))


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, dilation: int = 1) -> np.ndarray:
    """'same' 1-D convolution of x (C, T) with w (M, C, K)."""
    k = w.shape[2]
    pad = dilation * (k - 1) // 2
    xp = np.pad(x, ((0, 0), (pad, pad)))
    t = x.shape[1]
    out = np.zeros((w.shape[0], t), np.float32) + b[:, None]
    for j in range(k):
        out += w[:, :, j] @ xp[:, j * dilation:j * dilation + t]
    return out


def reference(features: np.ndarray, weights: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The numpy definition of the network: (T, F) features -> (T, 2) activations."""
    w = weights or cached_weights()
    x = _elu(_conv(features.T, w["input.weight"], w["input.bias"]))
    for i, d in enumerate(DILATIONS):
        x = x + _elu(_conv(x, w[f"blocks.{i}.weight"], w[f"blocks.{i}.bias"], d))
    y = _conv(x, w["head.weight"], w["head.bias"])
    return expit(y).T.astype(np.float32)


@functools.cache
def cached_weights() -> dict[str, np.ndarray]:
    return load_weights()


def build_graph(weights: dict[str, np.ndarray] | None = None) -> onnx.ModelProto:
    """The ONNX graph of `reference`, with the weights as initializers."""
    w = weights or load_weights()
    n_features = w["input.weight"].shape[1]
    inits = [numpy_helper.from_array(v, name=k) for k, v in w.items()]
    nodes = [helper.make_node("Transpose", ["features"], ["x_in"], perm=[0, 2, 1]),
             helper.make_node("Conv", ["x_in", "input.weight", "input.bias"], ["c0"],
                              kernel_shape=[1], pads=[0, 0]),
             helper.make_node("Elu", ["c0"], ["h0"])]
    for i, d in enumerate(DILATIONS):
        pad = d * (KERNEL - 1) // 2
        nodes += [helper.make_node("Conv", [f"h{i}", f"blocks.{i}.weight", f"blocks.{i}.bias"],
                                   [f"c{i + 1}"], kernel_shape=[KERNEL], dilations=[d],
                                   pads=[pad, pad]),
                  helper.make_node("Elu", [f"c{i + 1}"], [f"e{i + 1}"]),
                  helper.make_node("Add", [f"h{i}", f"e{i + 1}"], [f"h{i + 1}"])]
    last = f"h{len(DILATIONS)}"
    nodes += [helper.make_node("Conv", [last, "head.weight", "head.bias"], ["logits"],
                               kernel_shape=[1], pads=[0, 0]),
              helper.make_node("Sigmoid", ["logits"], ["probs"]),
              helper.make_node("Transpose", ["probs"], ["activations"], perm=[0, 2, 1])]
    graph = helper.make_graph(
        nodes, "beat_tcn",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", "T", n_features])],
        [helper.make_tensor_value_info("activations", TensorProto.FLOAT, ["N", "T", 2])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="mediamesh")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
