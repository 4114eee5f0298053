"""Burned-in subtitles out of a band of the frame, in numpy and OpenCV (no server): text
boxes from the text detector's probability map, then the pixels under them filled.

Boxes. The detector (PP-OCR's DB net, `text_detection` on Triton) marks a shrunk core of
each text line; as DB's own post-processing does, a connected region is kept when its mean
probability reaches BOX_SCORE and grown by `area * UNCLIP / perimeter` (the offset that
undoes the shrink), then by the outline's width, so the mask covers the glyphs' outline
and anti-aliasing.

Fill, temporal first. A `BackgroundPlate` remembers, per pixel of the band, the last value
seen while no text covered it. While the camera holds still (the band's uncovered pixels
agree with the plate), text pixels take the plate's value: the real background, seen
before the line appeared. Where the plate has nothing (the first line, a pan, a cut) the
rest is inpainted spatially (OpenCV's Telea fast marching or Navier-Stokes), or blurred.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
from scipy import ndimage

from mediamesh.models.text_detection import MULTIPLE, PIXEL_THRESHOLD
from services.vision.regions import NormBox, Style, obscure

BOX_SCORE = 0.5  # rapidocr's box_thresh: mean probability of a kept region
UNCLIP = 1.6  # rapidocr's unclip_ratio
ANALYSIS_HEIGHT = 64  # the band is detected at this height (text lines ~12-20 px)
MAX_ANALYSIS_WIDTH = 640
STATIC_DIFF = 3.0  # mean |ring - plate| (8-bit) below which the picture holds still
RING_PX = 6  # the ring around the text compared with the plate
COMMIT_DELAY = 3  # frames a pixel must stay clear of text before the plate learns it
PLATE_SECONDS = 4.0  # a remembered pixel older than this is not trusted
INPAINT_RADIUS = 3
MAX_LINE_HEIGHT = 0.12  # of the frame height: a taller "line" is scenery the net misread
MIN_LINE_ASPECT = 1.2  # width / height: a line of text is wider than tall (two CJK glyphs: 2)


class Method(StrEnum):
    TELEA = "telea"
    NAVIER_STOKES = "navier_stokes"
    BLUR = "blur"


@dataclass(frozen=True)
class Band:
    """Rows [top, bottom) and columns [left, right) of the source frame, pixels."""

    left: int
    top: int
    right: int
    bottom: int

    @classmethod
    def of(cls, box: NormBox, width: int, height: int) -> Band:
        left, top, right, bottom = box.pixels(width, height)
        return cls(left, top, right, bottom)

    @property
    def analysis_size(self) -> tuple[int, int]:
        """(width, height) the detector sees: 64 rows, the width in proportion (multiples of
        32, at most 640)."""
        w, h = self.right - self.left, self.bottom - self.top
        width = round(w * ANALYSIS_HEIGHT / h / MULTIPLE) * MULTIPLE
        return max(MULTIPLE, min(MAX_ANALYSIS_WIDTH, width)), ANALYSIS_HEIGHT

    def box(self, width: int, height: int) -> NormBox:
        return NormBox(self.left / width, self.top / height, (self.right - self.left) / width,
                       (self.bottom - self.top) / height)


def text_boxes(probability: np.ndarray, max_height: float = 1.0
               ) -> list[tuple[float, float, float, float]]:
    """Text line boxes (left, top, right, bottom) in 0..1 of the probability map's extent,
    unclipped as DB's post-processing does; regions taller than `max_height` (a fraction
    of the map) or not wider than tall are dropped: textures the net mistakes for text."""
    h, w = probability.shape
    labels, _ = ndimage.label(probability > PIXEL_THRESHOLD)
    boxes = []
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        region = labels[sl] == index
        if region.sum() < 4 or probability[sl][region].mean() < BOX_SCORE:
            continue
        rows, cols = sl
        bw, bh = cols.stop - cols.start, rows.stop - rows.start
        grow = bw * bh * UNCLIP / (2 * (bw + bh))
        if (bh + 2 * grow) / h > max_height or (bw + 2 * grow) < MIN_LINE_ASPECT * (bh + 2 * grow):
            continue
        boxes.append((max(0.0, (cols.start - grow) / w), max(0.0, (rows.start - grow) / h),
                      min(1.0, (cols.stop + grow) / w), min(1.0, (rows.stop + grow) / h)))
    return boxes


def line_height_limit(band_height: float) -> float:
    """MAX_LINE_HEIGHT as a fraction of a band `band_height` (fraction of the frame) tall."""
    return min(1.0, MAX_LINE_HEIGHT / band_height)


def text_mask(probability: np.ndarray, width: int, height: int, outline_px: int,
              max_height: float = 1.0) -> np.ndarray:
    """bool (height, width) over the band at source resolution: every text box (see
    `text_boxes`), grown by `outline_px` on each side."""
    mask = np.zeros((height, width), bool)
    for left, top, right, bottom in text_boxes(probability, max_height):
        x0 = max(0, math.floor(left * width) - outline_px)
        y0 = max(0, math.floor(top * height) - outline_px)
        x1 = min(width, math.ceil(right * width) + outline_px)
        y1 = min(height, math.ceil(bottom * height) + outline_px)
        mask[y0:y1, x0:x1] = True
    return mask


class BackgroundPlate:
    """Per pixel of the band, the last value seen uncovered and when: the temporal fill."""

    def __init__(self, height: int, width: int, enabled: bool = True) -> None:
        self.values = np.zeros((height, width, 3), np.uint8)
        self.seen = np.full((height, width), -math.inf)
        self.enabled = enabled
        self.pending: deque[tuple[np.ndarray, np.ndarray, float]] = deque()

    def fill(self, band: np.ndarray, mask: np.ndarray, seconds: float) -> np.ndarray:
        """bool mask of the text pixels filled from the plate (in `band`, in place): only
        when the picture right around the text matches the plate (the camera and the
        scene there hold still), and only from fresh pixels."""
        if not self.enabled or not mask.any():
            return np.zeros_like(mask)
        fresh = self.seen >= seconds - PLATE_SECONDS
        ring = ndimage.binary_dilation(mask, iterations=RING_PX) & ~mask & fresh
        if ring.sum() < RING_PX * 8:
            return np.zeros_like(mask)
        diff = np.abs(band[ring].astype(np.int16) - self.values[ring]).mean()
        if diff >= STATIC_DIFF:
            return np.zeros_like(mask)
        filled = mask & fresh
        band[filled] = self.values[filled]
        return filled

    def remember(self, band: np.ndarray, mask: np.ndarray, seconds: float) -> None:
        """Learn this frame's uncovered pixels, COMMIT_DELAY frames late: a pixel is kept
        only if the next frames do not find text on it either, so a line the detector
        catches a frame late never enters the plate as "background". The plate keeps `band`
        itself: pass a copy the caller will not change."""
        self.pending.append((band, mask, seconds))
        if len(self.pending) <= COMMIT_DELAY:
            return
        values, first, when = self.pending.popleft()
        veto = first.copy()
        for _, later, _ in self.pending:
            veto |= later
        clear = ~ndimage.binary_dilation(veto, iterations=RING_PX // 2) if veto.any() else ~veto
        self.values[clear] = values[clear]
        self.seen[clear] = when


def inpaint(band: np.ndarray, mask: np.ndarray, method: Method) -> None:
    """Fill the `mask` pixels of RGB `band` in place: spatially, or blur them."""
    if not mask.any():
        return
    if method is Method.BLUR:
        labels, _ = ndimage.label(mask)
        for rows, cols in ndimage.find_objects(labels):
            obscure(band, (cols.start, rows.start, cols.stop, rows.stop), Style.GAUSSIAN, 0.5)
        return
    flag = cv2.INPAINT_TELEA if method is Method.TELEA else cv2.INPAINT_NS
    band[:] = cv2.inpaint(np.ascontiguousarray(band), mask.astype(np.uint8) * 255,
                          INPAINT_RADIUS, flag)


def clean_band(band: np.ndarray, mask: np.ndarray, seconds: float, plate: BackgroundPlate,
               method: Method) -> None:
    """One frame's band without its text: plate first, then spatial; the plate learns the
    uncovered pixels (before any fill, so it only ever holds real background)."""
    original_clear = band.copy()
    filled = (plate.fill(band, mask, seconds) if method is not Method.BLUR
              else np.zeros_like(mask))
    inpaint(band, mask & ~filled, method)
    plate.remember(original_clear, mask, seconds)


def merge_spans(times: list[float], step: float, gap: float) -> list[tuple[float, float]]:
    """Frame times (sorted) as spans [t, t + step), joined across gaps up to `gap` s."""
    spans: list[list[float]] = []
    for t in times:
        if spans and t - spans[-1][1] <= gap + 1e-9:
            spans[-1][1] = t + step
        else:
            spans.append([t, t + step])
    return [(a, b) for a, b in spans]
