"""Reframe planning (horizontal -> vertical, or any aspect) in numpy: per shot, a camera mode
and a crop path from per-sample detections. No I/O: the caller samples each shot at ~5 fps,
runs its detectors, hands over `Sample`s, and reads crops back with `crop_at`.

The scheme is AutoFlip's (MediaPipe): a shot's camera is STATIONARY (one fixed crop holds every
required box and the subject hardly wanders), PANNING (the subject's centre moves on a line:
the crop rides that line at a bounded speed) or TRACKING (a smoothed path follows it). Tracking
is a Whittaker smoother (second-difference penalty) then a speed limit applied inside the tube
of centres that keep the required boxes in: offline, the camera can start moving early; where
no speed-limited path can hold them (a jump across the frame) containment wins and the crop
cuts. Each axis (centre x, centre y) is solved alone, in units of the source's extent along it;
an axis the crop spans stays at 0.5. A required union wider than the crop cannot be held: the
shot is `padded` and that keyframe's box widens to the union (its centre is the union's), for
the caller to letterbox. Shots are independent: a hard cut resets the camera.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

from services.vision.regions import NormBox, Region

_TOL = 1e-6  # normalised units: how far a float path may miss a bound and still count as in


class CameraMode(StrEnum):
    STATIONARY = "stationary"
    PANNING = "panning"
    TRACKING = "tracking"


@dataclass(frozen=True)
class Detection:
    """One detected thing in a sample: a box normalised to the source, a relative importance
    (weight >= 0) and whether the crop must hold it."""

    box: NormBox
    weight: float = 1.0
    required: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise ValueError(f"detection weight must be a finite number >= 0, not {self.weight}")

    @classmethod
    def face(cls, box: NormBox, weight: float = 1.0) -> Detection:
        """A face: required, as a crop that cuts a face off is the failure viewers see."""
        return cls(box, weight, True)


@dataclass(frozen=True)
class Sample:
    time: float  # seconds
    detections: tuple[Detection, ...] = ()


class Shot(NamedTuple):
    start: float
    end: float
    samples: Sequence[Sample]


@dataclass(frozen=True)
class PathParams:
    max_pan_speed: float = 0.3
    """Fraction of the source's extent along the moving axis per second. 0.3 follows a person
    walking across a medium shot (~0.2-0.3 frame widths/s) without losing them, while a full
    16:9 -> 9:16 swing (0.68 of the width) still takes > 2 s: faster reads as a whip pan."""
    stationary_threshold: float = 0.1
    """How far (90th percentile) the focus centre may wander from its median, as a fraction of
    the crop's slack (1 - crop extent), for the shot to stay STATIONARY."""
    panning_r2: float = 0.9
    """R^2 a linear fit of focus centre vs time must reach for the shot to be PANNING."""
    panning_threshold: float = 0.1
    """Largest residual of that fit, as a fraction of the slack, for the shot to be PANNING."""
    smoothing: float = 0.5
    """TRACKING smoother time scale (s): motion faster than about this is smoothed away
    (penalty weight smoothing**4 on the second derivative, so it is independent of fps)."""
    forced_mode: CameraMode | None = None
    """None chooses per shot; a mode here is used for every shot, containment or not."""


@dataclass(frozen=True)
class ShotPlan:
    start: float
    end: float
    mode: CameraMode
    padded: bool  # some required union was wider than the crop: the caller letterboxes
    keyframes: tuple[tuple[float, NormBox], ...]  # (time s, crop), time-sorted, inside 0..1


@dataclass(frozen=True)
class Focus:
    """What one sample asks of the crop: where to look, and what it must hold."""

    centre: tuple[float, float] | None  # weighted centre of interest; None = nothing seen
    required: NormBox | None  # union of the required boxes; None = nothing required


def crop_size(src_w: int, src_h: int, aspect_w: float, aspect_h: float) -> tuple[int, int]:
    """The largest crop of aspect `aspect_w:aspect_h` inside the source, in even pixels (as
    4:2:0 encoders need), at least 2 each: full height when the target is narrower."""
    if aspect_w <= 0 or aspect_h <= 0 or src_w <= 0 or src_h <= 0:
        raise ValueError(f"aspect {aspect_w}:{aspect_h} and source {src_w}x{src_h} must be > 0")
    if src_w * aspect_h >= src_h * aspect_w:
        width, height = math.floor(src_h * aspect_w / aspect_h + 1e-9), src_h
    else:
        width, height = src_w, math.floor(src_w * aspect_h / aspect_w + 1e-9)
    return max(2, width // 2 * 2), max(2, height // 2 * 2)


def _corners(box: NormBox) -> np.ndarray:
    return np.clip([box.x, box.y, box.x + box.width, box.y + box.height], 0.0, 1.0)


def focus_of(sample: Sample) -> Focus:
    """The sample's focus. The centre is the mean of detection centres weighted by `weight`
    alone, not by area: area would let a big low-value box (a body, a saliency blob) drown a
    small face, and containment of what matters is the required union's job, not the centre's."""
    if not sample.detections:
        return Focus(None, None)
    corners = np.array([_corners(d.box) for d in sample.detections])
    weights = np.array([d.weight for d in sample.detections], dtype=float)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)  # all weightless: none preferred, so all count alike
    cx, cy = weights @ ((corners[:, :2] + corners[:, 2:]) / 2) / weights.sum()
    needed = corners[[d.required for d in sample.detections]]
    if not len(needed):
        return Focus((float(cx), float(cy)), None)
    (x0, y0), (x1, y1) = needed[:, :2].min(axis=0), needed[:, 2:].max(axis=0)
    return Focus((float(cx), float(cy)), NormBox(float(x0), float(y0), float(x1 - x0),
                                                 float(y1 - y0)))


@dataclass(frozen=True)
class _Axis:
    """One axis of a shot, in units of the source's extent along it."""

    half: float  # half the crop's extent
    focus: np.ndarray  # focus centre per sample, gaps interpolated / held
    seen: np.ndarray  # bool: the sample had a focus of its own
    lo: np.ndarray  # per sample, the centres that hold the required union: lo..hi
    hi: np.ndarray
    union: np.ndarray  # (n, 2) required union's extent, NaN where nothing is required
    too_wide: np.ndarray  # bool: the union is wider than the crop (lo == hi == its centre)

    @property
    def slack(self) -> float:
        return 1.0 - 2.0 * self.half


def _axis(foci: list[Focus], times: np.ndarray, a: int, half: float) -> _Axis:
    f = np.array([fo.centre[a] if fo.centre else np.nan for fo in foci])
    seen = np.isfinite(f)
    f = np.interp(times, times[seen], f[seen]) if seen.any() else np.full(len(f), 0.5)
    union = np.full((len(foci), 2), np.nan)
    for i, fo in enumerate(foci):
        if (b := fo.required) is not None:
            union[i] = (b.x, b.x + b.width) if a == 0 else (b.y, b.y + b.height)
    free = np.isnan(union[:, 0])
    wide = ~free & (np.nan_to_num(union[:, 1] - union[:, 0]) > 2 * half + 1e-9)
    mid = np.clip(np.nan_to_num(union.mean(axis=1), nan=0.5), half, 1 - half)
    lo = np.where(free, half, np.where(wide, mid, np.maximum(half, union[:, 1] - half)))
    hi = np.where(free, 1 - half, np.where(wide, mid, np.minimum(1 - half, union[:, 0] + half)))
    return _Axis(half, f, seen, lo, hi, union, wide)


def _holds(ax: _Axis, path: np.ndarray) -> bool:
    """Whether `path` holds every required union that fits in the crop."""
    inside = (path >= ax.lo - _TOL) & (path <= ax.hi + _TOL)
    return bool(np.all(inside | ax.too_wide))


def _stationary(ax: _Axis, p: PathParams) -> tuple[bool, float]:
    """(whether one fixed centre will do, the best fixed centre): the median focus, moved as
    little as needed to hold every union that fits (an outlier sample cannot drag it)."""
    if ax.slack <= 1e-9:
        return True, 0.5
    median = float(np.median(ax.focus[ax.seen])) if ax.seen.any() else 0.5
    fit = ~ax.too_wide
    lo, hi = ax.lo[fit].max(initial=ax.half), ax.hi[fit].min(initial=1 - ax.half)
    if lo > hi + _TOL:
        return False, float(np.clip(median, ax.half, 1 - ax.half))
    spread = np.percentile(np.abs(ax.focus[ax.seen] - median), 90) if ax.seen.any() else 0.0
    return bool(spread <= p.stationary_threshold * ax.slack), float(np.clip(median, lo, hi))


def _line(ax: _Axis, times: np.ndarray, p: PathParams) -> tuple[float, float, bool]:
    """(intercept, slope, whether to pan on it): a least-squares line through the focus, its
    slope capped at max_pan_speed (pivoting about the centroid). Panning needs >= 3 samples,
    R^2 and residuals within bounds, no capping, and every fitting union held by the line."""
    t, f = times[ax.seen], ax.focus[ax.seen]
    if len(t) < 2 or np.ptp(t) <= 0:
        return (float(f.mean()) if len(f) else 0.5), 0.0, False
    slope, intercept = np.polyfit(t, f, 1)
    residual = f - (intercept + slope * t)
    total = float(((f - f.mean()) ** 2).sum())
    r2 = 1.0 - float((residual ** 2).sum()) / total if total > 1e-12 else 1.0
    capped = float(np.clip(slope, -p.max_pan_speed, p.max_pan_speed))
    intercept = float(f.mean() - capped * t.mean())
    good = (len(t) >= 3 and r2 >= p.panning_r2 and capped == slope
            and float(np.abs(residual).max()) <= p.panning_threshold * ax.slack)
    path = np.clip(intercept + capped * times, ax.half, 1 - ax.half)
    return intercept, capped, good and _holds(ax, path)


def _smoothed(times: np.ndarray, ax: _Axis, tau: float) -> np.ndarray:
    """Whittaker smoother: argmin |x - y|^2 + tau^4 |D2 x|^2 (D2 = second divided differences,
    fine on uneven sampling), solved sparse; samples that leave their tube are pinned to its
    edge and it is solved again, so the curve bends smoothly round a constraint."""
    y = np.clip(ax.focus, ax.lo, ax.hi)
    n = len(times)
    if n < 3 or tau <= 0:
        return y
    dt = np.maximum(np.diff(times), 1e-3)  # a repeated time must not divide by zero
    h0, h1 = dt[:-1], dt[1:]
    rows = np.tile(np.arange(n - 2), 3)
    cols = np.concatenate([np.arange(n - 2) + k for k in range(3)])
    values = np.concatenate([2 / (h0 * (h0 + h1)), -2 / (h0 * h1), 2 / (h1 * (h0 + h1))])
    d2 = sparse.csr_matrix((values, (rows, cols)), shape=(n - 2, n))
    penalty = tau ** 4 * (d2.T @ d2)
    weight = np.ones(n)
    for _ in range(4):
        x = spsolve((sparse.diags(weight) + penalty).tocsc(), weight * y)
        out = (x < ax.lo - _TOL) | (x > ax.hi + _TOL)
        if not out.any():
            break
        y, weight = np.where(out, np.clip(x, ax.lo, ax.hi), y), np.where(out, 100.0, weight)
    return x


def _meet(a: float, b: float, c: float, d: float) -> tuple[float, float] | None:
    """The intersection of [a, b] and [c, d], or None (with float slack for touching ends)."""
    lo, hi = max(a, c), min(b, d)
    return (lo, max(lo, hi)) if lo <= hi + 1e-12 else None


def _speed_limited(times: np.ndarray, wanted: np.ndarray, ax: _Axis, speed: float) -> np.ndarray:
    """The path nearest `wanted`, step by step, that moves at most `speed` per second and stays
    in each sample's tube lo..hi. A forward then a backward pass shrink each tube to the centres
    from which every past and future tube is reachable, so the camera sets off early for a
    jump; where no such centre exists the tube is kept whole and the crop jumps the least it
    must (containment beats the speed limit, and only there)."""
    step = speed * np.diff(times)
    lo, hi = ax.lo.copy(), ax.hi.copy()
    for i in range(1, len(times)):
        if (m := _meet(lo[i], hi[i], lo[i - 1] - step[i - 1], hi[i - 1] + step[i - 1])):
            lo[i], hi[i] = m
    for i in range(len(times) - 2, -1, -1):
        if (m := _meet(lo[i], hi[i], lo[i + 1] - step[i], hi[i + 1] + step[i])):
            lo[i], hi[i] = m
    x = np.empty(len(times))
    x[0] = np.clip(wanted[0], lo[0], hi[0])
    for i in range(1, len(times)):
        m = _meet(lo[i], hi[i], x[i - 1] - step[i - 1], x[i - 1] + step[i - 1])
        x[i] = np.clip(wanted[i], *m) if m else np.clip(x[i - 1], lo[i], hi[i])
    return x


def _choose(still: list[tuple[bool, float]], lines: list[tuple[float, float, bool]]) -> CameraMode:
    if all(ok for ok, _ in still):
        return CameraMode.STATIONARY
    if all(s[0] or ln[2] for s, ln in zip(still, lines)):
        return CameraMode.PANNING
    return CameraMode.TRACKING


def _box(centre: Sequence[float], halves: Sequence[float]) -> NormBox:
    """The crop of half-extents `halves` at `centre`, pinned inside the frame."""
    (x, y), (hx, hy) = centre, halves
    return NormBox(min(max(x - hx, 0.0), 1 - 2 * hx), min(max(y - hy, 0.0), 1 - 2 * hy),
                   2 * hx, 2 * hy)


def _widened(box: NormBox, axes: list[_Axis], i: int) -> NormBox:
    """`box` stretched to the required union along each axis where that union is too wide."""
    kept = ((box.x, box.width), (box.y, box.height))
    (x, w), (y, h) = [(ax.union[i, 0], ax.union[i, 1] - ax.union[i, 0]) if ax.too_wide[i]
                      else old for ax, old in zip(axes, kept)]
    return NormBox(float(x), float(y), float(w), float(h))


def plan_shot(start: float, end: float, samples: Sequence[Sample], src_w: int, src_h: int,
              crop_w: int, crop_h: int, params: PathParams = PathParams()) -> ShotPlan:
    """The camera mode and crop keyframes (at shot start, each sample, shot end) of one shot.
    Samples are expected inside start..end; a shot with nothing seen gets a still centre crop."""
    if not (end >= start and 0 < crop_w <= src_w and 0 < crop_h <= src_h):
        raise ValueError(f"shot {start}..{end} s, crop {crop_w}x{crop_h} in {src_w}x{src_h}: "
                         "need end >= start and a crop inside the source")
    halves = (crop_w / src_w / 2, crop_h / src_h / 2)
    samples = sorted(samples, key=lambda s: s.time)
    foci = [focus_of(s) for s in samples]
    if not any(fo.centre for fo in foci):
        box = _box((0.5, 0.5), halves)
        edges = ((start, box), (end, box)) if end > start else ((start, box),)
        return ShotPlan(start, end, params.forced_mode or CameraMode.STATIONARY, False, edges)
    times = np.array([s.time for s in samples], dtype=float)
    axes = [_axis(foci, times, a, halves[a]) for a in (0, 1)]
    still = [_stationary(ax, params) for ax in axes]
    lines = [_line(ax, times, params) for ax in axes]
    mode = params.forced_mode or _choose(still, lines)

    def centre(a: int, when: np.ndarray) -> np.ndarray:
        ax = axes[a]
        if mode is CameraMode.STATIONARY or (mode is CameraMode.PANNING and still[a][0]):
            return np.full(len(when), still[a][1])
        if mode is CameraMode.PANNING:
            return np.clip(lines[a][0] + lines[a][1] * when, ax.half, 1 - ax.half)
        wanted = _smoothed(times, ax, params.smoothing)
        path = _speed_limited(times, wanted, ax, params.max_pan_speed)
        return np.interp(when, times, path)  # held before the first / after the last sample

    def boxes(when: np.ndarray) -> list[NormBox]:
        cx, cy = centre(0, when), centre(1, when)
        return [_box((float(x), float(y)), halves) for x, y in zip(cx, cy)]

    at_samples = boxes(times)
    keyframes = [(float(t), _widened(at_samples[i], axes, i)) for i, t in enumerate(times)]
    if start < times[0]:
        first = boxes(np.array([start]))[0] if mode is CameraMode.PANNING else keyframes[0][1]
        keyframes.insert(0, (start, first))
    if end > times[-1]:
        last = boxes(np.array([end]))[0] if mode is CameraMode.PANNING else keyframes[-1][1]
        keyframes.append((end, last))
    padded = bool(axes[0].too_wide.any() or axes[1].too_wide.any())
    return ShotPlan(start, end, mode, padded, tuple(keyframes))


def plan_video(shots: Sequence[tuple[float, float, Sequence[Sample]]], src_w: int, src_h: int,
               crop_w: int, crop_h: int, params: PathParams = PathParams()) -> list[ShotPlan]:
    """One plan per shot, each planned alone: a hard cut resets the camera."""
    return [plan_shot(start, end, samples, src_w, src_h, crop_w, crop_h, params)
            for start, end, samples in shots]


def crop_at(plan: ShotPlan, t: float) -> NormBox:
    """The crop at `t` s: keyframes linearly interpolated, held before the first / after the
    last (interpolating boxes inside the frame stays inside it)."""
    box = Region(plan.keyframes, start=-math.inf).box_at(t)
    assert box is not None  # an open-ended region is active at every time
    return box


def _inside(box: NormBox, crop: NormBox, tolerance: float) -> bool:
    return (box.x >= crop.x - tolerance and box.y >= crop.y - tolerance
            and box.x + box.width <= crop.x + crop.width + tolerance
            and box.y + box.height <= crop.y + crop.height + tolerance)


def containment(plan_or_crops: ShotPlan | Sequence[NormBox], boxes: Sequence[NormBox | None],
                times: Sequence[float] | None = None, tolerance: float = 0.0) -> float:
    """Fraction of samples whose box lies fully inside the crop, give or take `tolerance`
    (normalised units). Crops are given one per box, or as a plan read at `times`; a None box
    (nothing to hold) is not counted; no box at all scores 1."""
    if isinstance(plan_or_crops, ShotPlan):
        if times is None:
            raise ValueError("containment of a plan needs the sample times")
        crops = [crop_at(plan_or_crops, t) for t in times]
    else:
        crops = list(plan_or_crops)
    if len(crops) != len(boxes):
        raise ValueError(f"{len(crops)} crops for {len(boxes)} boxes")
    held = [_inside(b, c, tolerance) for b, c in zip(boxes, crops) if b is not None]
    return float(np.mean(held)) if held else 1.0


def path_jerk(times: Sequence[float], centres: Sequence[float] | np.ndarray) -> float:
    """Mean absolute third derivative of a path (normalised units / s^3): 6 x the third divided
    difference, exact for cubics on any spacing. Jerk is what the eye reads as a lurching or
    shaking camera: a hold or a steady pan has none, jitter and sudden starts a lot. `centres`
    is (n,) or (n, k) (then the norm per sample); times strictly increasing; < 4 points: 0."""
    t = np.asarray(times, dtype=float)
    d = np.asarray(centres, dtype=float).reshape(len(t), -1)
    if len(t) < 4:
        return 0.0
    if np.any(np.diff(t) <= 0):
        raise ValueError("path_jerk needs strictly increasing times")
    for k in (1, 2, 3):
        d = np.diff(d, axis=0) / (t[k:] - t[:-k])[:, None]
    return float(np.mean(np.linalg.norm(6.0 * d, axis=1)))
