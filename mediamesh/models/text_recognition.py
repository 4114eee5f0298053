"""Text-line recognition for OCR: PP-OCRv6 small's recogniser (PaddleOCR, Apache-2.0), the
ONNX file shipped in the rapidocr 3.10 wheel (Apache-2.0), checked by hash at `models
build`, with the CTC decoder's first step appended to the graph.

The network reads one text line at a time: BGR scaled to 0..1 and normalised with mean 0.5
and std 0.5, height 48, any width; it gives a probability over 18,710 classes (blank, the
18,708 characters of its dictionary, space) for every 8 columns. Sending that whole table
back would cost ~3 MB a line, so `build` appends an ArgMax and a ReduceMax over the classes:
the service gets each step's best class and its probability, and finishes the greedy CTC
decoding (collapse repeats, drop blanks) itself.
  x        FP32  [N, 3, 48, W]  normalised BGR lines, padded to the widest
  indices  INT64 [N, W / 8]     best class per step (0 = blank)
  scores   FP32  [N, W / 8]     its probability

The dictionary lives in the ONNX file's metadata (`character`); it is committed as
`data/ppocrv6_dictionary.txt` (its sha256 below) so that a service reads it without the
model file, and `build` checks the two agree.
"""
from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

import numpy as np
import onnx
from onnx import helper

from mediamesh.models.wheels import wheel_member

VERSION = "3.10.0"
MEMBER = "rapidocr/models/PP-OCRv6_rec_small.onnx"
SHA256 = "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884"
DICTIONARY = "ppocrv6_dictionary.txt"
DICTIONARY_SHA256 = "f7aa897ca828a4c7c9e2739c30f9161a33306d532f020bcdb91dcfb664a5507e"
INPUT, PROBABILITIES = "x", "fetch_name_0"
OUTPUTS = ("indices", "scores")
HEIGHT = 48
STEP = 8  # input columns per output step
BLANK = 0


def _dictionary_text() -> str:
    return (resources.files("mediamesh.models") / "data" / DICTIONARY).read_text("utf-8")


@cache
def charset() -> tuple[str, ...]:
    """Class index -> text: blank (""), the dictionary's characters, then a space."""
    text = _dictionary_text()
    digest = hashlib.sha256(text.encode()).hexdigest()
    if digest != DICTIONARY_SHA256:
        raise RuntimeError(f"{DICTIONARY} has sha256 {digest}, expected {DICTIONARY_SHA256}")
    return ("", *text.split("\n"), " ")


def build() -> bytes:
    """The wheel's recogniser with ArgMax / ReduceMax over the classes appended."""
    model = onnx.load_from_string(wheel_member(f"rapidocr=={VERSION}", MEMBER, SHA256))
    metadata = {p.key: p.value for p in model.metadata_props}
    if metadata.get("character") != _dictionary_text():
        raise RuntimeError(f"the dictionary in {MEMBER} differs from data/{DICTIONARY}")
    graph = model.graph
    graph.node.extend([
        helper.make_node("ArgMax", [PROBABILITIES], ["indices"], axis=2, keepdims=0),
        helper.make_node("ReduceMax", [PROBABILITIES], ["scores"], axes=[2], keepdims=0),
    ])
    del graph.output[:]
    graph.output.extend([
        helper.make_tensor_value_info("indices", onnx.TensorProto.INT64, ["N", "T"]),
        helper.make_tensor_value_info("scores", onnx.TensorProto.FLOAT, ["N", "T"]),
    ])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def decode(indices: np.ndarray, scores: np.ndarray) -> tuple[str, float]:
    """Greedy CTC for one line: collapse repeats, drop blanks; confidence = the mean
    probability of the kept steps (0 when nothing is read)."""
    chars = charset()
    keep = indices != BLANK
    keep[1:] &= indices[1:] != indices[:-1]
    kept = indices[keep]
    text = "".join(chars[i] for i in kept if 0 <= i < len(chars))
    return text, float(scores[keep].mean()) if kept.size else 0.0


def model_input(lines: list[np.ndarray], width: int = 0) -> np.ndarray:
    """FP32 [N, 3, 48, W] of RGB uint8 line crops already HEIGHT tall, right-padded with
    zeros in normalised space (mid-grey), as PaddleOCR pads, to `width` (at least the
    widest)."""
    width = max(width, *(line.shape[1] for line in lines))
    batch = np.zeros((len(lines), 3, HEIGHT, width), np.float32)
    for i, line in enumerate(lines):
        bgr = line[..., ::-1].astype(np.float32)
        batch[i, :, :, :line.shape[1]] = ((bgr / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)
    return batch
