"""OCR around the two PP-OCRv6 models: the steps that are not the networks (shared: TextService
reads pictures and subtitles with them, VisionService the titles of lecture slides).

detect: picture -> detector input (short side 736, sides multiples of 32, as rapidocr)
  -> probability map -> `text_quads` (DB post-processing: threshold, contours, rotated
  rectangles scored by their mean probability and grown by the unclip distance)
recognise: each quad -> `line_crop` (perspective-warped upright, 48 px tall) -> the
  recogniser on Triton -> greedy CTC (mediamesh.models.text_recognition.decode)
Lines come back in reading order (`reading_order`). Pure numpy and OpenCV: the service
calls Triton between the steps; the tests run the steps on arrays alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from mediamesh.models import text_detection, text_recognition

DETECT_SHORT_SIDE = 736  # rapidocr's limit_side_len with limit_type "min"
DETECT_MAX_SIDE = 2048  # a huge image is scaled down to this long side first
BAND_MAX_SIDE = 1280  # a subtitle band's long side
BOX_THRESHOLD = 0.5  # mean probability inside a box (rapidocr's box_thresh)
UNCLIP_RATIO = 1.6  # DB grows each shrunk text kernel by area * ratio / perimeter
MIN_SIDE_PX = 3  # shorter rotated rectangles are noise (on the detector's grid)
MIN_CONFIDENCE = 0.5  # recognised lines below this are dropped
MIN_LINE_WIDTH = 320  # the recogniser's trained width: narrower lines are padded to it
MAX_LINE_WIDTH = 48 * 40  # a longer line is squeezed to this (aspect 40:1)


@dataclass(frozen=True)
class Quad:
    """A text line's outline in the picture's pixels: 4 corners (x, y), clockwise from the
    top-left, and the detector's mean probability inside it."""

    corners: np.ndarray  # float32 (4, 2)
    score: float

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) pixels."""
        xs, ys = self.corners[:, 0], self.corners[:, 1]
        return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def detector_size(width: int, height: int, max_side: int = DETECT_MAX_SIDE
                  ) -> tuple[int, int]:
    """(width, height) the detector reads a width x height picture at: short side
    DETECT_SHORT_SIDE, long side at most `max_side` (a subtitle band, wide and short,
    needs the cap: rapidocr caps it at 1280)."""
    scale = DETECT_SHORT_SIDE / min(width, height)
    scale = min(scale, max_side / max(width, height))
    multiple = text_detection.MULTIPLE
    return (max(multiple, round(width * scale / multiple) * multiple),
            max(multiple, round(height * scale / multiple) * multiple))


def detector_input(rgb: np.ndarray, max_side: int = DETECT_MAX_SIDE) -> np.ndarray:
    """FP32 [1, 3, H, W] for the detector."""
    w, h = detector_size(rgb.shape[1], rgb.shape[0], max_side)
    resized = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
    return text_detection.model_input(resized[None])


def _corners_clockwise(rect: tuple) -> np.ndarray:
    """cv2.minAreaRect's box as (4, 2) corners from the top-left, clockwise."""
    points = cv2.boxPoints(rect)
    by_x = points[np.argsort(points[:, 0])]
    left, right = by_x[:2], by_x[2:]
    top_left, bottom_left = left[np.argsort(left[:, 1])]
    top_right, bottom_right = right[np.argsort(right[:, 1])]
    return np.array([top_left, top_right, bottom_right, bottom_left], np.float32)


def _mean_inside(probability: np.ndarray, corners: np.ndarray) -> float:
    h, w = probability.shape
    left, top = np.clip(np.floor(corners.min(0)).astype(int), 0, [w - 1, h - 1])
    right, bottom = np.clip(np.ceil(corners.max(0)).astype(int), 0, [w - 1, h - 1])
    mask = np.zeros((bottom - top + 1, right - left + 1), np.uint8)
    cv2.fillPoly(mask, [np.round(corners - [left, top]).astype(np.int32)], 1)
    window = probability[top:bottom + 1, left:right + 1]
    return float(window[mask > 0].mean()) if mask.any() else 0.0


def text_quads(probability: np.ndarray, width: int, height: int) -> list[Quad]:
    """Text lines in a detector probability map (H, W), as quads in a width x height
    picture's pixels."""
    ph, pw = probability.shape
    binary = (probability > text_detection.PIXEL_THRESHOLD).astype(np.uint8)
    binary = cv2.dilate(binary, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    quads = []
    for contour in contours:
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < MIN_SIDE_PX:
            continue
        corners = _corners_clockwise(rect)
        score = _mean_inside(probability, corners)
        if score < BOX_THRESHOLD:
            continue
        (cx, cy), (rw, rh), angle = rect
        grow = rw * rh * UNCLIP_RATIO / (2 * (rw + rh))  # DB's unclip distance
        grown = ((cx, cy), (rw + 2 * grow, rh + 2 * grow), angle)
        if min(grown[1]) < MIN_SIDE_PX + 2:
            continue
        corners = _corners_clockwise(grown) * [width / pw, height / ph]
        corners[:, 0] = np.clip(corners[:, 0], 0, width)
        corners[:, 1] = np.clip(corners[:, 1], 0, height)
        quads.append(Quad(corners.astype(np.float32), score))
    return reading_order(quads)


def reading_order(quads: list[Quad]) -> list[Quad]:
    """Top to bottom; lines whose vertical centres lie within half a line's height of each
    other read left to right."""
    rows: list[list[Quad]] = []
    for quad in sorted(quads, key=lambda q: (q.bounds[1] + q.bounds[3]) / 2):
        _, top, _, bottom = quad.bounds
        centre, half = (top + bottom) / 2, (bottom - top) / 2
        if rows:
            _, rtop, _, rbottom = rows[-1][0].bounds
            if abs(centre - (rtop + rbottom) / 2) <= max(half, (rbottom - rtop) / 2):
                rows[-1].append(quad)
                continue
        rows.append([quad])
    return [q for row in rows for q in sorted(row, key=lambda q: q.bounds[0])]


def line_crop(rgb: np.ndarray, quad: Quad) -> np.ndarray:
    """The quad's pixels warped upright (a tall one turned a quarter), then scaled to the
    recogniser's height, width kept in proportion (at most MAX_LINE_WIDTH)."""
    tl, tr, br, bl = quad.corners
    w = max(1, round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))))
    h = max(1, round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))))
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad.corners, target)
    crop = cv2.warpPerspective(rgb, matrix, (w, h), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)
    if h >= 1.5 * w:  # vertical text: read it turned
        crop = np.ascontiguousarray(np.rot90(crop))
        w, h = h, w
    height = text_recognition.HEIGHT
    width = min(MAX_LINE_WIDTH, max(1, math.ceil(height * w / h)))
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)


def recogniser_batches(crops: list[np.ndarray], size: int = 8) -> list[list[int]]:
    """Indices of `crops` in batches of similar width (less padding per batch)."""
    order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1])
    return [order[i:i + size] for i in range(0, len(order), size)]


def padded_width(crops: list[np.ndarray]) -> int:
    """The width a batch of crops is padded to: the widest, at least MIN_LINE_WIDTH."""
    return max(MIN_LINE_WIDTH, *(c.shape[1] for c in crops))
