"""Text detection for burned-in subtitles (and, later, OCR): PP-OCRv6 small's detector
(PaddleOCR, Apache-2.0), the ONNX file shipped in the rapidocr 3.10 wheel (Apache-2.0),
copied at `models build` and checked by hash (rapidocr itself is not installed).

DB (differentiable binarisation) text detection: the network gives, per pixel, the
probability of being inside a text region; the service thresholds it into boxes
(rapidocr's defaults: pixel threshold 0.3, box score 0.5). Inputs are BGR (the model was
trained on OpenCV-decoded images), scaled to 0..1, normalised with mean 0.5 and std 0.5,
with height and width multiples of 32.
  x              FP32 [N, 3, H, W]  normalised BGR
  fetch_name_0   FP32 [N, 1, H, W]  text probability per pixel
"""
from __future__ import annotations

import numpy as np

from mediamesh.models.wheels import wheel_member

VERSION = "3.10.0"
MEMBER = "rapidocr/models/PP-OCRv6_det_small.onnx"
SHA256 = "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f"
INPUT, OUTPUT = "x", "fetch_name_0"
MULTIPLE = 32  # the network downsamples by 32: sides must be multiples of it
PIXEL_THRESHOLD = 0.3  # rapidocr's `thresh`


def build() -> bytes:
    """The ONNX bytes, from the rapidocr wheel (downloaded without its dependencies)."""
    return wheel_member(f"rapidocr=={VERSION}", MEMBER, SHA256)


def model_input(rgb: np.ndarray) -> np.ndarray:
    """FP32 [N, 3, H, W] of uint8 RGB [N, H, W, 3] whose sides are multiples of 32."""
    if rgb.shape[1] % MULTIPLE or rgb.shape[2] % MULTIPLE:
        raise ValueError(f"text detection needs sides that are multiples of {MULTIPLE}, "
                         f"got {rgb.shape[2]}x{rgb.shape[1]}")
    bgr = rgb[..., ::-1].astype(np.float32)
    return np.ascontiguousarray(((bgr / 255.0 - 0.5) / 0.5).transpose(0, 3, 1, 2))
