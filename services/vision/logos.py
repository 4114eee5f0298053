"""Static overlays (station logos, watermarks) found from per-frame gradients, in numpy.

The per-frame part (luma gradients at 320x180) is the `edge_features` graph on Triton.
Here: the per-pixel median of the gradient vectors over frames sampled across the video
keeps what is in the same place with the same direction in every frame and cancels the
moving scene (Dekel et al., CVPR 2017, on watermarks shared by many images). A pixel is
an overlay edge when that median is strong and *consistent*: |median| close to the mean
gradient magnitude, which the scene's edges, pointing every way over time, never are.
Edges close together are grouped into boxes. Two things keep static scenery out: the
picture around a box must change over the samples (a locked-off shot's window frames do
not), and the box must be small (a letterbox edge spans the frame).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from services.vision.regions import NormBox


@dataclass(frozen=True)
class LogoParams:
    """Thresholds; gradients are on a 0..1 luma scale (a black-to-white step is 1.0)."""

    min_strength: float = 0.05  # |median gradient| of an overlay edge
    min_consistency: float = 0.6  # |median gradient| / mean |gradient| over the samples
    min_area: float = 0.0004  # box area, fraction of the frame
    max_area: float = 0.10
    max_side: float = 0.5  # box width or height, fraction of the frame
    min_surround_change: float = 0.03  # median luma std over time around the box
    min_samples: int = 8  # fewer: too little to tell an overlay from the scene
    presence: float = 0.5  # cosine of a sample's gradients with the median: logo there
    group_px: int = 3  # edges this close (analysis pixels) belong to one overlay
    margin_px: int = 2  # box grown by this much (soft edges, shadows)


@dataclass(frozen=True)
class FoundLogo:
    box: NormBox
    start: float
    end: float
    confidence: float


def _grown(sl: tuple[slice, slice], by: int, h: int, w: int) -> tuple[slice, slice]:
    rows, cols = sl
    return (slice(max(0, rows.start - by), min(h, rows.stop + by)),
            slice(max(0, cols.start - by), min(w, cols.stop + by)))


def _span(times: np.ndarray, present: np.ndarray, duration: float) -> tuple[float, float]:
    """From half a sample step before the first sample that shows the logo to half a step
    after the last; from the start (to the end) when the first (last) sample shows it."""
    step = float(np.median(np.diff(times))) if len(times) > 1 else duration
    shown = np.flatnonzero(present)
    first, last = shown[0], shown[-1]
    start = 0.0 if first == 0 else max(0.0, float(times[first]) - step / 2)
    end = duration if last == len(times) - 1 else min(duration, float(times[last]) + step / 2)
    return start, end


def find_logos(times: np.ndarray, gradients: np.ndarray, luma: np.ndarray, duration: float,
               params: LogoParams = LogoParams()) -> list[FoundLogo]:
    """Overlays in `gradients` (N, H, W, 2) and `luma` (N, H, W) sampled at `times` (N,)
    seconds of a video `duration` s long, most confident first. Too few samples: none."""
    n, h, w = gradients.shape[:3]
    if n < params.min_samples:
        return []
    median = np.median(gradients, axis=0)
    strength = np.hypot(median[..., 0], median[..., 1])
    magnitude = np.hypot(gradients[..., 0], gradients[..., 1]).mean(axis=0)
    consistency = strength / (magnitude + 1e-6)
    change = luma.std(axis=0)  # how much the picture changes, per pixel
    edges = (strength >= params.min_strength) & (consistency >= params.min_consistency)
    groups = ndimage.binary_dilation(edges, iterations=params.group_px)
    labels, count = ndimage.label(groups, structure=np.ones((3, 3)))
    found = []
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        own = edges[sl] & (labels[sl] == index)
        rows, cols = np.nonzero(own)
        top, bottom = sl[0].start + rows.min(), sl[0].start + rows.max() + 1
        left, right = sl[1].start + cols.min(), sl[1].start + cols.max() + 1
        box_h, box_w = bottom - top, right - left
        if not (params.min_area <= box_h * box_w / (h * w) <= params.max_area) \
                or box_w > params.max_side * w or box_h > params.max_side * h:
            continue
        inner = (slice(top, bottom), slice(left, right))
        around = _grown(inner, max(box_h, box_w) // 2 + 2, h, w)
        ring = np.ones((around[0].stop - around[0].start, around[1].stop - around[1].start),
                       bool)
        ring[top - around[0].start:bottom - around[0].start,
             left - around[1].start:right - around[1].start] = False
        if ring.any() and float(np.median(change[around][ring])) < params.min_surround_change:
            continue  # the picture around it stands still: scenery, not an overlay
        mask = own[top - sl[0].start:bottom - sl[0].start, left - sl[1].start:right - sl[1].start]
        want = median[inner][mask].ravel()
        samples = gradients[:, inner[0], inner[1]][:, mask].reshape(n, -1)
        cosine = samples @ want / (np.linalg.norm(samples, axis=1) * np.linalg.norm(want) + 1e-9)
        present = cosine >= params.presence
        if not present.any():
            continue
        start, end = _span(times, present, duration)
        m = params.margin_px
        top, left = max(0, top - m), max(0, left - m)
        bottom, right = min(h, bottom + m), min(w, right + m)
        confidence = float(np.clip(consistency[inner][mask].mean() * present.mean(), 0, 1))
        found.append(FoundLogo(NormBox(left / w, top / h, (right - left) / w,
                                       (bottom - top) / h), start, end, confidence))
    return sorted(found, key=lambda logo: -logo.confidence)
