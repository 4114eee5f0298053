"""Regions to obscure, in numpy (no server): boxes over time and the two ways to hide what
is inside them. The BlurRegions job (to come) reads frames, asks `boxes_at` which boxes
are active at each frame's time, and applies `obscure` to each.

Boxes are normalised (x, y, width, height in 0..1 of the frame, as common.proto's Box);
a region's keyframes are linearly interpolated and held before the first / after the
last, and the region applies only inside its time range.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from mediamesh.boxes import NormBox, check_box
from mediamesh.errors import InvalidArgument

__all__ = ["NormBox", "Region", "Style", "boxes_at", "check_box", "obscure"]


class Style(StrEnum):
    GAUSSIAN = "gaussian"
    MOSAIC = "mosaic"


@dataclass(frozen=True)
class Region:
    """Keyframes (time s, box), time-sorted, active from `start` to `end` (None = open)."""

    keyframes: tuple[tuple[float, NormBox], ...]
    start: float = 0.0
    end: float | None = None

    @classmethod
    def checked(cls, keyframes: list[tuple[float, NormBox]], start: float, end: float | None,
                field_name: str) -> Region:
        """A region from request values; INVALID_ARGUMENT naming `field_name` when it has
        no keyframe, a box of no area or outside the frame, or times out of order."""
        if not keyframes:
            raise InvalidArgument(f"{field_name} has no keyframes: give at least one box",
                                  field_name=f"{field_name}.keyframes")
        for i, (when, box) in enumerate(keyframes):
            where = f"{field_name}.keyframes[{i}]"
            if not math.isfinite(when):
                raise InvalidArgument(f"{where}.time is not a number", field_name=f"{where}.time")
            check_box(box, f"{where}.box")
            if when < 0 or (i and when < keyframes[i - 1][0]):
                raise InvalidArgument(f"{where}.time {when:g} s: keyframe times must be >= 0 "
                                      "and in order", field_name=f"{where}.time")
        if end is not None and end <= start:
            raise InvalidArgument(f"{field_name}.range ends ({end:g} s) before it starts "
                                  f"({start:g} s)", field_name=f"{field_name}.range")
        return cls(tuple(keyframes), start, end)

    def box_at(self, seconds: float) -> NormBox | None:
        """The box at `seconds`, or None outside the region's range."""
        if seconds < self.start or (self.end is not None and seconds >= self.end):
            return None
        times = [t for t, _ in self.keyframes]
        after = int(np.searchsorted(times, seconds, side="right"))
        if after == 0:
            return self.keyframes[0][1]
        if after == len(times):
            return self.keyframes[-1][1]
        (t0, a), (t1, b) = self.keyframes[after - 1], self.keyframes[after]
        w = (seconds - t0) / (t1 - t0) if t1 > t0 else 1.0
        return NormBox(a.x + (b.x - a.x) * w, a.y + (b.y - a.y) * w,
                       a.width + (b.width - a.width) * w, a.height + (b.height - a.height) * w)


def boxes_at(regions: list[Region], seconds: float) -> list[NormBox]:
    """Every box active at `seconds`."""
    return [box for region in regions if (box := region.box_at(seconds)) is not None]


def obscure(frame: np.ndarray, box: tuple[int, int, int, int], style: Style,
            strength: float) -> None:
    """Hide the pixels of `box` (left, top, right, bottom) in `frame` (H, W, 3 uint8), in
    place. `strength` 0..1 scales with the box: a mosaic of cells 1/10 .. 2/5 of the box's
    shorter side (stronger = bigger cells), or a Gaussian of sigma 1/8 .. 1/2 of it. The
    default 0.5 (cells of 1/4, sigma 5/16) leaves no letter of a logo or feature of a face
    readable; at 0 the box is softened, not hidden."""
    left, top, right, bottom = box
    if right <= left or bottom <= top:
        return
    patch = frame[top:bottom, left:right]
    side = min(patch.shape[0], patch.shape[1])
    if style is Style.MOSAIC:
        cell = max(2, round(side * (0.1 + 0.3 * strength)))
        frame[top:bottom, left:right] = _mosaic(patch, cell)
    else:
        sigma = max(1.0, side * (0.125 + 0.375 * strength))
        blurred = gaussian_blur(patch.astype(np.float32), sigma)
        frame[top:bottom, left:right] = np.clip(blurred + 0.5, 0, 255).astype(np.uint8)


#: above this sigma (pixels) a Gaussian is approximated by box filters
EXACT_GAUSSIAN_MAX_SIGMA = 8.0
BOX_PASSES = 3


def gaussian_blur(patch: np.ndarray, sigma: float) -> np.ndarray:
    """`patch` (H, W, C float32) blurred by a Gaussian of `sigma` pixels over rows and
    columns. Why not always the exact filter: sigma grows with the box, and an exact kernel
    is 8 sigma wide, so its cost grows with the box's area times its side; a 2100 px box (a
    third of a 49 MP picture, sigma 656) took minutes. Past a few pixels three box filters
    per axis (running sums: the same cost at any sigma) with the Gaussian's variance are
    what the eye cannot tell apart from it (Kovesi, 2010)."""
    from scipy.ndimage import gaussian_filter, uniform_filter1d

    if sigma <= EXACT_GAUSSIAN_MAX_SIGMA:
        return gaussian_filter(patch, sigma=(sigma, sigma, 0), mode="nearest")
    blurred = patch
    for axis in (0, 1):
        for width in box_widths(sigma):
            blurred = uniform_filter1d(blurred, size=width, axis=axis, mode="nearest")
    return blurred


def box_widths(sigma: float, passes: int = BOX_PASSES) -> list[int]:
    """Odd widths of `passes` box filters whose convolution has variance sigma**2."""
    ideal = math.sqrt(12 * sigma * sigma / passes + 1)
    lower = int(ideal) - (1 if int(ideal) % 2 == 0 else 0)
    upper = lower + 2
    narrow = round((12 * sigma * sigma - passes * lower * lower - 4 * passes * lower
                    - 3 * passes) / (-4 * lower - 4))
    return [lower if i < narrow else upper for i in range(passes)]


def _mosaic(patch: np.ndarray, cell: int) -> np.ndarray:
    """Each cell x cell block replaced by its mean (partial blocks at the edges are padded
    by repeating the edge)."""
    h, w = patch.shape[:2]
    rows, cols = -(-h // cell), -(-w // cell)
    padded = np.pad(patch.astype(np.float32), ((0, rows * cell - h), (0, cols * cell - w),
                                               (0, 0)), mode="edge")
    means = padded.reshape(rows, cell, cols, cell, -1).mean(axis=(1, 3))
    big = np.repeat(np.repeat(means, cell, axis=0), cell, axis=1)[:h, :w]
    return np.clip(big + 0.5, 0, 255).astype(np.uint8)
