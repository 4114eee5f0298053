"""Slide changes in a screen-recorded lecture, on small grey frames (numpy and OpenCV).

Every frame is compared with the last *sample* (SlideParams.sample_fps) on a grid of
CELL x CELL pixel cells. At the end:
- the presenter's picture-in-picture is the area whose cells change in a large share of
  sample pairs (a talking head never stops moving); its bounding boxes are masked;
- cells that keep changing around a pair (in LOCAL_SHARE of the LOCAL_PAIRS pairs each
  side, the neighbours left out for transitions) are motion there: a clip playing in a
  slide, a presenter who turns the camera on for part of the lecture;
- in each sample pair, changed cells form components; cursor-sized ones are dropped (a
  pointer moving over a still slide touches a cell or two where it was and where it is);
- a run of consecutive pairs with enough changed cells left is one change (a fade spans
  several samples), unless every pair of it only *adds* ink where the previous frame was
  blank and covers little of the screen: a slide build (a bullet appearing) stays in its
  chapter;
- each change is placed on the first frame after its run's first sample that shows
  half of the run's first pair; changes closer together than min_segment_s keep the later one.
Why cells and not a global difference: a title-only change on a template deck is a few
percent of the pixels, as large as the presenter's motion; cells separate where from how
much.
"""
from __future__ import annotations

import array
import bisect
from dataclasses import dataclass, field

import cv2
import numpy as np

ANALYSIS_WIDTH = 256
CELL = 8  # pixels of the analysis frame
PIXEL_DELTA = 24  # grey levels: a pixel changed (capture and compression noise stay below)
CELL_SHARE = 0.04  # of a cell's pixels changed: the cell changed
PERSISTENT_SHARE = 0.3  # of sample pairs a cell changes in: it is the presenter's picture
LOCAL_PAIRS = 5  # sample pairs each side of a pair that tell local motion (a clip playing)
LOCAL_SHARE = 0.5  # of those pairs a cell changes in: it is moving there, not a slide
MIN_PERSISTENT_CELLS = 4  # a persistent component smaller than this is no picture-in-picture
CURSOR_CELLS = 6  # a component at most this many cells wide and high, and ...
CURSOR_PIXELS = 120  # ... with fewer changed pixels is a pointer (where it was and is)
MIN_CHANGED_SHARE = 0.01  # of the unmasked cells that must change (at least MIN_CHANGED_CELLS)
MIN_CHANGED_CELLS = 5
FLAT_STD = 6.0  # grey levels of a 5x5 window's deviation: the slide is blank there
BUILD_FLAT_SHARE = 0.9  # of a change's pixels that were blank before: ink only added
BUILD_MAX_AREA = 0.2  # of the unmasked cells: a build adds a line, not a new screen
SETTLE_MARGIN_S = 0.5  # a chapter's key frame is this far from its ends, where possible


@dataclass(frozen=True)
class SlideParams:
    """How the detector samples and what the shortest chapter is (seconds)."""

    sample_fps: float = 3.0
    min_segment_s: float = 2.0


@dataclass(frozen=True)
class Segment:
    """One chapter: [start, end) seconds and the time of a settled frame inside it."""

    start: float
    end: float
    key_time: float


@dataclass(frozen=True)
class SlideSplit:
    """The detector's answer: the segments, the changes it ignored as builds (seconds),
    and the masked presenter area as boxes (x, y, w, h) in fractions of the frame."""

    segments: list[Segment]
    builds: list[float]
    masked: list[tuple[float, float, float, float]]


def analysis_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) frames are analysed at: ANALYSIS_WIDTH wide, whole cells."""
    w = ANALYSIS_WIDTH
    h = max(CELL, round(w * height / max(1, width) / CELL) * CELL)
    return w, h


def grey(rgb: np.ndarray) -> np.ndarray:
    """uint8 luma of an RGB frame."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def _cells(values: np.ndarray) -> np.ndarray:
    """Sum of a (H, W) array over CELL x CELL cells -> (H // CELL, W // CELL)."""
    h, w = values.shape[0] // CELL * CELL, values.shape[1] // CELL * CELL
    v = values[:h, :w].astype(np.int32)
    return v.reshape(h // CELL, CELL, w // CELL, CELL).sum(axis=(1, 3))


def changed_pixels(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Pixels whose grey level moved by more than PIXEL_DELTA, bool (H, W)."""
    a = cv2.GaussianBlur(previous, (3, 3), 0)
    b = cv2.GaussianBlur(current, (3, 3), 0)
    return cv2.absdiff(a, b) > PIXEL_DELTA


def flat_pixels(frame: np.ndarray) -> np.ndarray:
    """Pixels in a blank neighbourhood (5x5 deviation below FLAT_STD), bool (H, W)."""
    f = frame.astype(np.float32)
    mean = cv2.blur(f, (5, 5))
    var = cv2.blur(f * f, (5, 5)) - mean * mean
    return var < FLAT_STD ** 2


@dataclass
class _Pair:
    """Two consecutive samples, compared cell by cell."""

    time: float  # the later sample's
    changed: np.ndarray  # (rows, cols) uint8 changed pixels per cell (at most CELL**2)
    on_flat: np.ndarray  # (rows, cols) uint8 of those, blank in the earlier sample


@dataclass
class SlideChangeDetector:
    """Feed every frame (grey, analysis size) in time order with `process`; `split` then
    gives the chapters. Memory: about 90 bytes per frame and 1.2 kB per sample (an hour
    at 30 fps, sampled at 3 fps: 23 MB)."""

    params: SlideParams = field(default_factory=SlideParams)
    _sample: np.ndarray | None = None
    _sample_flat: np.ndarray | None = None
    _next_tick: float = 0.0
    _pairs: list[_Pair] = field(default_factory=list)
    _sample_times: list[float] = field(default_factory=list)
    # every frame: its time, the pair it leads to, its changed cells packed to bits
    _frame_times: array.array[float] = field(default_factory=lambda: array.array("d"))
    _frame_pairs: array.array[int] = field(default_factory=lambda: array.array("l"))
    _frame_cells: bytearray = field(default_factory=bytearray)
    _end: float = 0.0

    def process(self, time: float, frame: np.ndarray) -> None:
        """One frame at `time` seconds, uint8 (H, W) at analysis_size."""
        self._end = time
        if self._sample is None:
            self._take_sample(time, frame)
            return
        changed = changed_pixels(self._sample, frame)
        cells = _cells(changed) >= CELL_SHARE * CELL * CELL
        # frames between samples keep which cells differ from the last sample (refinement)
        self._frame_times.append(time)
        self._frame_pairs.append(len(self._pairs))
        self._frame_cells += np.packbits(cells).tobytes()
        if time + 1e-6 >= self._next_tick:
            assert self._sample_flat is not None
            self._pairs.append(_Pair(time, _cells(changed).astype(np.uint8),
                                     _cells(changed & self._sample_flat).astype(np.uint8)))
            self._take_sample(time, frame)

    def _take_sample(self, time: float, frame: np.ndarray) -> None:
        self._sample = frame
        self._sample_flat = flat_pixels(frame)
        self._sample_times.append(time)
        step = 1.0 / self.params.sample_fps
        while self._next_tick <= time + 1e-6:
            self._next_tick += step

    def split(self, duration: float | None = None) -> SlideSplit:
        """The chapters of everything processed; `duration` (seconds) ends the last one
        (default: the last frame's time)."""
        end = max(duration or 0.0, self._end)
        if not self._pairs:
            start = self._sample_times[0] if self._sample_times else 0.0
            return SlideSplit([Segment(0.0, end, start)], [], [])
        rows, cols = self._pairs[0].changed.shape
        flagged = np.stack([p.changed >= CELL_SHARE * CELL * CELL for p in self._pairs])
        mask, boxes = presenter_mask(flagged)
        unmasked = max(1, int((~mask).sum()))
        min_cells = max(MIN_CHANGED_CELLS, round(MIN_CHANGED_SHARE * unmasked))
        moving = local_motion(flagged)
        significant = [slide_cells(f & ~m, p.changed, mask) for f, m, p in
                       zip(flagged, moving, self._pairs, strict=True)]
        changes: list[float] = []
        builds: list[float] = []
        for run in _runs([int(c.sum()) >= min_cells for c in significant]):
            # consecutive changed pairs are one event (a fade spans several samples); it
            # is a build only if every pair only adds ink (a fade's start looks like that)
            when = self._refine(run[0], significant[run[0]])
            if all(is_build(self._pairs[i], significant[i], unmasked) for i in run):
                builds.append(when)
            else:
                changes.append(when)
        times = _spaced(changes, end, self.params.min_segment_s)
        starts = [0.0, *times]
        ends = [*times, end]
        stable = [self._sample_times[0]] + [
            p.time for p, cells in zip(self._pairs, significant, strict=True)
            if int(cells.sum()) == 0]
        segments = [Segment(a, b, _key_time(a, b, stable)) for a, b in
                    zip(starts, ends, strict=True)]
        return SlideSplit(segments, builds,
                          [(x / cols, y / rows, w / cols, h / rows) for x, y, w, h in boxes])

    def _refine(self, pair: int, cells: np.ndarray) -> float:
        """The first frame after the pair's earlier sample showing at least half of the
        change's cells (the later sample's time when none does)."""
        need = max(1, int(cells.sum()) // 2)
        size = cells.size
        stride = (size + 7) // 8
        first = bisect.bisect_left(self._frame_pairs, pair)
        last = bisect.bisect_right(self._frame_pairs, pair)
        for k in range(first, last):
            packed = np.frombuffer(self._frame_cells, np.uint8, stride, k * stride)
            seen = np.unpackbits(packed, count=size).reshape(cells.shape).astype(bool)
            if int((seen & cells).sum()) >= need:
                return float(self._frame_times[k])
        return self._pairs[pair].time


def presenter_mask(flagged: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Cells to ignore, (rows, cols) bool, and their boxes (x, y, w, h) in cells: the
    bounding boxes, grown by a cell, of the components of cells that change in at least
    PERSISTENT_SHARE of the sample pairs (`flagged`: (pairs, rows, cols) bool)."""
    rows, cols = flagged.shape[1:]
    mask = np.zeros((rows, cols), bool)
    if len(flagged) < 4:  # too few pairs to tell motion from changes
        return mask, []
    persistent = (flagged.mean(axis=0) >= PERSISTENT_SHARE).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(persistent, connectivity=8)
    boxes = []
    for x, y, w, h, area in stats[1:count]:
        if area < MIN_PERSISTENT_CELLS:
            continue
        x0, y0 = max(0, x - 1), max(0, y - 1)
        x1, y1 = min(cols, x + w + 1), min(rows, y + h + 1)
        mask[y0:y1, x0:x1] = True
        boxes.append((int(x0), int(y0), int(x1 - x0), int(y1 - y0)))
    return mask, boxes


def local_motion(flagged: np.ndarray) -> np.ndarray:
    """(pairs, rows, cols) bool: cells that change in at least LOCAL_SHARE of the up to
    LOCAL_PAIRS pairs before and after each pair, the adjacent pairs not counted (a
    dissolve spans two or three pairs). Fewer than three such pairs: no motion known."""
    n = len(flagged)
    totals = np.concatenate([np.zeros((1, *flagged.shape[1:]), np.int32),
                             np.cumsum(flagged, axis=0, dtype=np.int32)])
    moving = np.zeros_like(flagged)
    for i in range(n):
        lo, hi = max(0, i - LOCAL_PAIRS), min(n, i + LOCAL_PAIRS + 1)
        before = totals[max(lo, i - 1)] - totals[lo]  # pairs lo .. i-2
        after = totals[hi] - totals[min(hi, i + 2)]  # pairs i+2 .. hi-1
        count = max(0, i - 1 - lo) + max(0, hi - i - 2)
        if count >= 3:
            moving[i] = before + after >= LOCAL_SHARE * count
    return moving


def slide_cells(changed: np.ndarray, pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Changed cells (`changed`, bool) outside `mask` that belong to components larger
    than a pointer: wider or taller than CURSOR_CELLS, or with CURSOR_PIXELS changed
    pixels or more (`pixels`: changed pixels per cell)."""
    cells = (changed & ~mask).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(cells, connectivity=8)
    ink = np.bincount(labels.ravel(), weights=pixels.ravel(), minlength=count)
    keep = np.zeros(count, bool)
    for k in range(1, count):
        _, _, w, h, _ = stats[k]
        keep[k] = w > CURSOR_CELLS or h > CURSOR_CELLS or ink[k] >= CURSOR_PIXELS
    return keep[labels] & (cells > 0)


def is_build(pair: _Pair, cells: np.ndarray, unmasked: int) -> bool:
    """A change that only adds ink where the earlier sample was blank, over a small part
    of the screen (a bullet appearing), not a new slide."""
    changed = int(pair.changed[cells].sum())
    on_flat = int(pair.on_flat[cells].sum())
    return changed > 0 and on_flat >= BUILD_FLAT_SHARE * changed \
        and int(cells.sum()) <= BUILD_MAX_AREA * unmasked


def _runs(flags: list[bool]) -> list[list[int]]:
    """Indices of the runs of consecutive True values."""
    runs: list[list[int]] = []
    for i, flag in enumerate(flags):
        if flag:
            if runs and runs[-1][-1] == i - 1:
                runs[-1].append(i)
            else:
                runs.append([i])
    return runs


def _spaced(times: list[float], end: float, min_gap: float) -> list[float]:
    """Changes at least `min_gap` seconds from the start, the end and each other; of two
    too close, the later stays (the earlier slide was only flicked past)."""
    kept: list[float] = []
    for t in times:
        if t < min_gap or end - t < min_gap:
            continue
        while kept and t - kept[-1] < min_gap:
            kept.pop()
        kept.append(t)
    return kept


def _key_time(start: float, end: float, stable: list[float]) -> float:
    """A settled moment of [start, end): the latest sample no different from the one
    before it, at least SETTLE_MARGIN_S from both ends (the whole build shown); the
    middle when none is."""
    lo, hi = start + SETTLE_MARGIN_S, end - SETTLE_MARGIN_S
    inside = [t for t in stable if lo <= t <= hi]
    return inside[-1] if inside else (start + end) / 2
