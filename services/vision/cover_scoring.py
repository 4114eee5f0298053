"""Cover-frame scoring for SelectCover, and the highlight segments of a short summary.

Pure numpy/scipy over frames the caller has already sampled (~2 fps, ~320 px wide RGB
uint8), the face boxes of its detector and the shot boundaries it knows; no I/O.

Anchors: FFmpeg's `thumbnail` filter picks, in each batch of frames, the one whose colour
histogram is closest to the batch's average: a representativeness prior that skips flashes
but is blind to blur, bad exposure, faces and captions. We score those instead:
  - sharpness: RMS Laplacian of the sharpest fifth of the frame (a focused subject on a
    soft background counts as sharp), on luma resampled to a fixed working width;
  - exposure: luma histogram (clipped shadows/highlights, mean far from mid-grey), with
    letterbox bars cropped first so a 2.39:1 film is not "dark";
  - colourfulness: Hasler & Süsstrunk (2003), "Measuring colourfulness in natural images";
  - text: dense strokes of both polarities along rows, grouped into thin wide line blobs;
  - faces (the caller's boxes), transitions (the caller's shot boundaries).
Black/white/flat frames and frames inside a transition total 0, so they never win; the
per-shot diversity of `pick_candidates` replaces FFmpeg's batch-wise choice.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from mediamesh.errors import InvalidArgument

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)  # BT.601, as shots.py
WORK_WIDTH = 320  # every measure sees luma at this width: resolution-independent-ish
_SHARP_RMS = 0.12  # RMS Laplacian (luma 0..1) of the sharp region that maps to 0.63
_COLOUR_M = 45.0  # H&S metric of an "averagely colourful" image (their table) -> 0.63
_TEXT_COVER = 0.08  # text-line area fraction that maps to text penalty 0.63
_DARK, _BRIGHT = 0.07, 0.93  # luma of a pixel counted as black / white
# Weights of the positive terms (sum 1): focus and exposure matter most for a still;
# faces draw clicks; colour is a tie-breaker. Penalties multiply the weighted sum.
W_SHARPNESS, W_EXPOSURE, W_COLOUR, W_FACES = 0.35, 0.25, 0.15, 0.25
FACE_CUT_WEIGHT, TEXT_WEIGHT = 0.6, 0.5
FACE_EDGE_MARGIN = 0.02  # a face box this close to the frame edge counts as cut
MIN_FACE_SCORE = 0.3  # weaker detections are ignored (likely false positives)
TRANSITION_REACH = 0.5  # seconds after/before a transition over which its penalty fades


class FaceBox(NamedTuple):
    """A detected face: corners normalised 0..1 of the frame (may spill outside), score."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float
    score: float


@dataclass(frozen=True)
class FrameMeasures:
    """Image-only measures of one frame, each 0..1 (blank: black, white or flat)."""

    sharpness: float
    exposure: float
    colorfulness: float
    text: float
    blank: bool


@dataclass(frozen=True)
class CoverScore:
    """The contract's CoverScore components plus the combined `total`, all 0..1."""

    sharpness: float
    exposure: float
    colorfulness: float
    faces: float
    face_cut_penalty: float
    transition_penalty: float
    text_penalty: float
    total: float


def frame_measures(rgb: np.ndarray) -> FrameMeasures:
    """Measure an RGB frame, (H, W, 3) uint8 (float input is taken as 0..1)."""
    if rgb.ndim != 3 or rgb.shape[2] < 3 or min(rgb.shape[:2]) < 8:
        raise InvalidArgument(f"frame must be (H, W, 3) with H, W >= 8, got {rgb.shape}")
    img = rgb[..., :3].astype(np.float32)
    if rgb.dtype == np.uint8:
        img /= 255.0
    luma = img @ LUMA_WEIGHTS
    blank = _is_blank(ndimage.gaussian_filter(_resample_width(luma, WORK_WIDTH), 1.5))
    rows, cols = _picture_area(luma)
    img, luma = img[rows, cols], luma[rows, cols]
    work = _resample_width(luma, WORK_WIDTH)
    return FrameMeasures(sharpness=_sharpness(work), exposure=_exposure(luma),
                         colorfulness=_colourfulness(img), text=_text_likeness(work),
                         blank=blank)


def _is_blank(luma: np.ndarray) -> bool:
    """Black, white or one flat tone (a slate, the inside of a fade), allowing a small logo;
    given smoothed luma so sensor noise does not pass for content."""
    lo, hi = np.percentile(luma, [1, 99])
    return bool(hi - lo < 0.05 or np.mean(luma < _DARK) > 0.97 or np.mean(luma > _BRIGHT) > 0.97)


def _picture_area(luma: np.ndarray) -> tuple[slice, slice]:
    """Rows/columns left after cropping black letterbox/pillarbox bars (kept whole if the
    crop would leave under a tenth: a black frame has no picture area to find)."""
    def span(profile: np.ndarray) -> slice:
        idx = np.flatnonzero(profile >= _DARK)
        return slice(int(idx[0]), int(idx[-1]) + 1) if len(idx) else slice(0, len(profile))
    rows = span(np.percentile(luma, 98, axis=1))
    cols = span(np.percentile(luma, 98, axis=0))
    kept = (rows.stop - rows.start) * (cols.stop - cols.start)
    if kept < 0.1 * luma.size or min(rows.stop - rows.start, cols.stop - cols.start) < 8:
        return slice(None), slice(None)
    return rows, cols


def _resample_width(luma: np.ndarray, width: int) -> np.ndarray:
    """Bilinear resample to `width` columns, prefiltered when shrinking (sigma 0.35 x
    (factor - 1), between a box filter and skimage): 640 and 320 px copies then agree."""
    zoom = width / luma.shape[1]
    if abs(zoom - 1.0) < 1e-6:
        return luma
    if zoom < 1.0:
        luma = ndimage.gaussian_filter(luma, sigma=0.35 * (1.0 / zoom - 1.0))
    return ndimage.zoom(luma, zoom, order=1, grid_mode=True, mode="nearest")


def _sharpness(work: np.ndarray, tile: int = 16) -> float:
    """RMS Laplacian over the sharpest 20% of tiles, mapped 1 - exp(-rms / _SHARP_RMS):
    a shallow-focus portrait is sharp where it matters; a blurred or shaken frame is not."""
    lap = ndimage.laplace(work)
    tile = min(tile, *work.shape)
    h, w = (work.shape[0] // tile) * tile, (work.shape[1] // tile) * tile
    energy = (lap[:h, :w] ** 2).reshape(h // tile, tile, w // tile, tile).mean(axis=(1, 3))
    top = np.sort(energy.ravel())[-max(1, energy.size // 5):]
    return float(1.0 - math.exp(-math.sqrt(float(top.mean())) / _SHARP_RMS))


def _exposure(luma: np.ndarray) -> float:
    """Luma histogram: a mean in 0.35..0.65 is fine, falling quadratically to 0 at 0.02 /
    0.98; times 1 - clipped share / 0.4 (40% of pixels crushed or blown -> 0)."""
    hist = np.bincount(np.clip(luma * 255 + 0.5, 0, 255).astype(np.int32).ravel(),
                       minlength=256) / luma.size
    mean = float(hist @ (np.arange(256) / 255.0))
    clipped = float(hist[:6].sum() + hist[250:].sum())
    off = min(1.0, max(0.0, abs(mean - 0.5) - 0.15) / 0.33)
    return (1.0 - off ** 2) * (1.0 - min(1.0, clipped / 0.4))


def _colourfulness(img: np.ndarray) -> float:
    """Hasler & Süsstrunk's M = σ_rgyb + 0.3 μ_rgyb (RGB 0..255), mapped 1 - exp(-M / 45):
    their "averagely colourful" 45 -> 0.63, "highly colourful" 82 -> 0.84, grey -> 0."""
    rgb = img.reshape(-1, 3) * 255.0
    rg = rgb[:, 0] - rgb[:, 1]
    yb = 0.5 * (rgb[:, 0] + rgb[:, 1]) - rgb[:, 2]
    m = math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean())
    return float(1.0 - math.exp(-m / _COLOUR_M))


def _text_likeness(work: np.ndarray, edge: float = 0.12, window: int = 15) -> float:
    """Share of the frame in text-line-shaped blobs of strokes, mapped 1 - exp(-share / 0.08).

    Stroke-like: within `window` px along the row, >= 2 px rise and >= 2 px fall by more
    than `edge` (glyph strokes alternate; an object's contour does not). Joined, a blob
    counts as a text line if thin (4 px .. 15% of the height), >= 2.5x as wide and solid.
    Limits: dense fine texture (gravel, foliage, grilles) can pass as text, and text on it
    is missed; vertical (CJK) text, huge title letters and low-contrast captions are not
    seen; a single subtitle line scores low on purpose (~0.3).
    """
    gx = np.diff(work, axis=1, append=work[:, -1:])
    rise = ndimage.uniform_filter1d((gx > edge).astype(np.float32), window, axis=1)
    fall = ndimage.uniform_filter1d((gx < -edge).astype(np.float32), window, axis=1)
    strokes = (rise * window >= 1.9) & (fall * window >= 1.9)
    strokes = ndimage.binary_closing(strokes, structure=np.ones((3, 9), bool))
    labels, _ = ndimage.label(strokes)
    height = work.shape[0]
    covered = 0
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
        solid = np.count_nonzero(labels[box] == i) / (h * w)
        if 4 <= h <= max(6, 0.15 * height) and w >= 2.5 * h and solid >= 0.5:
            covered += h * w
    return float(1.0 - math.exp(-(covered / work.size) / _TEXT_COVER))


def face_components(faces: Sequence[FaceBox]) -> tuple[float, float]:
    """(faces score, face-cut penalty), each 0..1.

    Score: the best face's confidence x size (sqrt of area / 0.3, capped: a close-up is 1)
    x centrality (1 at (0.5, 0.4), 0.5 at a corner): the main face decides, a crowd of tiny
    faces is still tiny. Penalty: the worst cut face (`_cut_amount`) x its size relative to
    the largest (a cut-off passer-by matters less than a cut-off host).
    """
    faces = [f for f in faces if f.score >= MIN_FACE_SCORE and f.xmax > f.xmin and f.ymax > f.ymin]
    if not faces:
        return 0.0, 0.0
    sizes = [math.sqrt((f.xmax - f.xmin) * (f.ymax - f.ymin)) for f in faces]
    best, cut = 0.0, 0.0
    for f, size in zip(faces, sizes, strict=True):
        cx, cy = (f.xmin + f.xmax) / 2, (f.ymin + f.ymax) / 2
        centrality = 1.0 - 0.5 * min(1.0, math.hypot(cx - 0.5, cy - 0.4) / 0.65)
        best = max(best, min(1.0, f.score) * min(1.0, size / 0.3) * centrality)
        cut = max(cut, _cut_amount(f) * size / max(sizes))
    return best, cut


def _cut_amount(f: FaceBox) -> float:
    """0 if the box is clear of the edges; 0.7 touching (within the margin), +0.3 x the
    share of its area outside the frame over 1/2."""
    m = FACE_EDGE_MARGIN
    if f.xmin > m and f.ymin > m and f.xmax < 1 - m and f.ymax < 1 - m:
        return 0.0
    inside = (min(f.xmax, 1.0) - max(f.xmin, 0.0)) * (min(f.ymax, 1.0) - max(f.ymin, 0.0))
    outside = 1.0 - max(0.0, inside) / ((f.xmax - f.xmin) * (f.ymax - f.ymin))
    return 0.7 + 0.3 * min(1.0, outside / 0.5)


def transition_penalty(time: float, transitions: Sequence[tuple[float, float]],
                       fps: float) -> float:
    """1 inside a transition (start..end seconds; a cut has start == end) widened by half a
    frame at `fps` (the sampled frame may straddle it), falling as a raised cosine to 0 at
    TRANSITION_REACH s outside; the nearest transition counts."""
    slack = 0.5 / fps if fps > 0 else 0.0
    worst = 0.0
    for start, end in transitions:
        gap = max(0.0, min(start, end) - time, time - max(start, end)) - slack
        x = max(0.0, gap) / TRANSITION_REACH
        worst = max(worst, 0.5 * (1.0 + math.cos(math.pi * x)) if x < 1.0 else 0.0)
    return worst


def score(measures: FrameMeasures, faces: Sequence[FaceBox],
          transition_penalty: float) -> CoverScore:
    """Weighted sum of the positive terms (W_*), times (1 - 0.6 face cut) x (1 - 0.5 text)
    x (1 - transition): a frame mid-transition (penalty 1) and a blank frame total 0."""
    faces_score, cut = face_components(faces)
    tp = min(1.0, max(0.0, transition_penalty))
    base = (W_SHARPNESS * measures.sharpness + W_EXPOSURE * measures.exposure
            + W_COLOUR * measures.colorfulness + W_FACES * faces_score)
    total = base * (1 - FACE_CUT_WEIGHT * cut) * (1 - TEXT_WEIGHT * measures.text) * (1 - tp)
    return CoverScore(measures.sharpness, measures.exposure, measures.colorfulness,
                      faces_score, cut, tp, measures.text,
                      0.0 if measures.blank else min(1.0, max(0.0, total)))


def pick_candidates(times: Sequence[float], scores: Sequence[CoverScore],
                    shot_of: Sequence[int], top_k: int, min_gap: float = 1.0) -> list[int]:
    """Indices of up to `top_k` candidates, best first: each shot's best before any shot's
    second, never two within `min_gap` s (fewer than top_k rather than near-duplicates);
    zero-total frames only when nothing else exists (then the single best)."""
    if not len(times) == len(scores) == len(shot_of):
        raise InvalidArgument("times, scores and shot_of must have the same length")
    order = sorted(range(len(times)), key=lambda i: (-scores[i].total, i))
    pool = [i for i in order if scores[i].total > 0] or order[:1]
    chosen: list[int] = []
    used: set[int] = set()

    def take(i: int) -> None:
        if len(chosen) < top_k and i not in chosen and all(
                abs(times[i] - times[j]) >= min_gap for j in chosen):
            chosen.append(i)
            used.add(shot_of[i])

    for i in pool:
        if shot_of[i] not in used:
            take(i)
    for i in pool:
        take(i)
    return sorted(chosen, key=lambda i: (-scores[i].total, i))


def summary_plan(shots: Sequence[tuple[float, float]], sample_times: Sequence[float],
                 sample_scores: Sequence[float], target_duration: float = 5.0,
                 min_segment: float = 0.8, max_segments: int = 5, edge_margin: float = 0.2,
                 frame_rate: float = 25.0) -> list[tuple[float, float]]:
    """Highlight segments (start, end) s, chronological, one per chosen shot, clear of the
    first/last `edge_margin` s of the shot; lengths whole frames at `frame_rate` summing to
    floor(target x rate) frames (within a frame of the target, never over).

    Shots are chosen spread out (the best in each of n equal slices of the video, then the
    best left), the length shared equally (capped by what a shot holds), and each segment
    is its shot's best-scoring window (`sample_scores` are CoverScore totals at
    `sample_times`). A video no longer than the target is returned whole. When the chosen
    shots hold too little (fast cutting) the margin halves, down to 0.05 s; if even then
    they fall short, the roomiest shots are used whole.
    """
    if not shots or target_duration <= 0:
        return []
    first, last = min(s for s, _ in shots), max(e for _, e in shots)
    if last - first <= target_duration + 1e-9:
        return [(first, last)]
    if len(sample_times) != len(sample_scores):
        raise InvalidArgument("sample_times and sample_scores must have the same length")
    times, values = np.asarray(sample_times, float), np.asarray(sample_scores, float)
    by_time = np.argsort(times, kind="stable")  # np.interp needs increasing times
    times, values = times[by_time], values[by_time]
    total = math.floor(target_duration * frame_rate + 1e-9)
    least = max(1, math.ceil(min_segment * frame_rate - 1e-9))
    inner = [(s + edge_margin, e - edge_margin) for s, e in sorted(shots)]
    usable = [seg for seg in inner if (seg[1] - seg[0]) * frame_rate + 1e-9 >= least]
    if not usable:  # only very short shots: take what they hold
        least, usable = 1, [seg for seg in inner if (seg[1] - seg[0]) * frame_rate + 1e-9 >= 1]
    caps = [math.floor((b - a) * frame_rate + 1e-9) for a, b in usable]
    quality = [_best_window(seg, least / frame_rate, times, values)[1] for seg in usable]
    n = max(1, min(max_segments, total // least, len(usable)))
    order = _spread_order(usable, quality, n, first, last)
    chosen = order[:n]
    if sum(caps[i] for i in chosen) < total:
        if edge_margin > 0.05:
            return summary_plan(shots, sample_times, sample_scores, target_duration,
                                min_segment, max_segments, edge_margin / 2, frame_rate)
        chosen = sorted(range(len(usable)), key=lambda i: -caps[i])[:n]
    frames = _share(sorted(chosen, key=lambda i: caps[i]), caps, total)
    plan = []
    for i, count in frames.items():
        length = count / frame_rate
        start = _best_window(usable[i], length, times, values)[0]
        plan.append((start, start + length))
    return sorted(plan)


def _best_window(seg: tuple[float, float], length: float, times: np.ndarray,
                 values: np.ndarray) -> tuple[float, float]:
    """(start, mean score) of the best `length` s window in `seg` (starts on a 0.1 s grid,
    scores interpolated between samples); ties, or no samples, go to the middle."""
    a, b = seg
    span = max(0.0, b - a - length)
    starts = a + np.linspace(0.0, span, max(1, math.ceil(span / 0.1) + 1))
    if len(times):
        points = starts[:, None] + np.linspace(0.0, length, 9)[None, :]
        means = np.interp(points, times, values).mean(axis=1)
    else:
        means = np.zeros(len(starts))
    centred = means - 1e-6 * np.abs(starts - (a + span / 2))
    best = int(np.argmax(centred))
    return float(starts[best]), float(means[best])


def _spread_order(usable: Sequence[tuple[float, float]], quality: Sequence[float], n: int,
                  first: float, last: float) -> list[int]:
    """Shot indices in the order to use them: the best shot of each of n equal slices of
    the video (by shot middle), then the remaining ones best first."""
    slice_len = (last - first) / n
    picks: list[int] = []
    for k in range(n):
        inside = [i for i, (a, b) in enumerate(usable)
                  if min(n - 1, int(((a + b) / 2 - first) // slice_len)) == k]
        if inside:
            picks.append(max(inside, key=lambda i: quality[i]))
    rest = sorted((i for i in range(len(usable)) if i not in picks), key=lambda i: -quality[i])
    return picks + rest


def _share(by_capacity: Sequence[int], caps: Sequence[int], total: int) -> dict[int, int]:
    """Split `total` frames as equally as capacities allow: smallest first, each takes its
    fair share of what is left or all it holds."""
    left, out = total, dict[int, int]()
    for k, i in enumerate(by_capacity):
        out[i] = min(caps[i], -(-left // (len(by_capacity) - k)))
        left -= out[i]
    return out


def animated_window(best_time: float, shot: tuple[float, float], duration: float,
                    video_duration: float, edge_margin: float = 0.2) -> tuple[float, float]:
    """(start, end) s of an animated cover of `duration` s (capped at the video) around
    `best_time`: inside its shot (and clear of its edges when there is room) if the shot is
    long enough, else from the shot's start so the loop holds one cut, not two."""
    length = max(0.0, min(duration, video_duration))
    s, e = shot
    if e - s >= length:
        lo, hi = (s + edge_margin, e - edge_margin) if e - s - 2 * edge_margin >= length else (s, e)
        start = min(max(best_time - length / 2, lo), hi - length)
    else:
        start = s
    start = min(max(start, 0.0), video_duration - length)
    return start, start + length
