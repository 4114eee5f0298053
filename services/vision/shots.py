"""Shot boundaries from per-frame features: hard cuts, dissolves and fades; flashes and
camera motion are not boundaries.

Pure numpy over the `shot_features` model's outputs (one row per frame), so every rule is
tested on feature sequences without a server. The stages:
  1. signals: histogram change to the previous frame (colour statistics, which camera
     motion barely moves), luma thumbnails, and which frames are blank (black or white:
     the inside of a fade or a flash);
  2. blank runs: a short one between matching content is a flash; any other is a
     transition through black/white, its boundary on the first frame after it, typed by
     whether the next shot fades in or the previous one faded out;
  3. hard cuts: histogram change far above its neighbourhood (an adaptive threshold, so
     a fast pan's steady change is not a cut), unless the content returns within a few
     frames (a flash, a passing object);
  4. dissolves: windows in which every frame is a linear mix of the window's first and
     last frames (thumbnails are block means, so a cross-dissolve is exactly that), the
     mix weight falling smoothly from 1 to 0, and the two ends different shots;
  5. boundaries closer than the minimum shot length merge; each shot gets its mean luma,
     motion and a representative frame.
Frame numbers are 0-based positions in the analysed sequence; a shot covers [start, end).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mediamesh.errors import InvalidArgument
from mediamesh.models.shot_features import HUE_BINS as _HUE_BINS
from mediamesh.models.shot_features import SAT_BINS as _SAT_BINS

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)  # BT.601, as decoders use
_BLACK, _WHITE, _FLAT = 0.1, 0.9, 0.03  # blank: every thumbnail block dark / light, flat
_MOTION_SCALE = 0.02  # mean luma change per frame that maps to motion 0.63
_JUMP = 0.2  # histogram change of a flash's edge: left out of a shot's motion


class Transition(StrEnum):
    """How a shot begins (the contract's TransitionType)."""

    NONE = "none"
    CUT = "cut"
    DISSOLVE = "dissolve"
    FADE_IN = "fade_in"  # this shot fades in from black/white
    FADE_OUT = "fade_out"  # the previous shot faded out, then this one cut in


@dataclass(frozen=True)
class FrameFeatures:
    """What `shot_features` returns for N frames, in frame order."""

    hist: np.ndarray  # float32 (N, R, R, B): per-region HSV histograms
    thumb: np.ndarray  # float32 (N, h, w, 3): RGB block means, 0..1

    def __post_init__(self) -> None:
        if self.hist.ndim != 4 or self.thumb.ndim != 4 or len(self.hist) != len(self.thumb):
            raise ValueError(f"features need hist (N,R,R,B) and thumb (N,h,w,3) of one N, got "
                             f"{self.hist.shape} and {self.thumb.shape}")

    def __len__(self) -> int:
        return len(self.hist)

    @staticmethod
    def concat(parts: Sequence[FrameFeatures]) -> FrameFeatures:
        return FrameFeatures(np.concatenate([p.hist for p in parts]),
                             np.concatenate([p.thumb for p in parts]))


@dataclass(frozen=True)
class ShotParams:
    """Detector thresholds. Changes are histogram distances, 0 (same) .. 1 (disjoint)."""

    detect_gradual: bool = True
    cut_min: float = 0.25  # a cut changes the histogram at least this much ...
    cut_ratio: float = 3.0  # ... and this many times its neighbourhood's change
    cut_sharpness: float = 0.5  # the jump is this share of the change across +-3 frames
    window: int = 12  # frames either side that set the neighbourhood
    flash_frames: int = 4  # content returning within this many frames: not a cut
    flash_return: float = 0.4  # "returning": the change across is below this x the jump
    dissolve_min_change: float = 0.2  # a dissolve's two ends differ at least this much
    dissolve_palette: float = 0.25  # ... also in palette (a fade keeps its palette)
    dissolve_misfit: float = 0.2  # a window this close to a mix is a dissolve (MixFit.misfit)
    dissolve_misfit_dip: float = 0.32  # ... or this close if its contrast dips
    dissolve_dip: float = 0.8  # (MixFit.dip at most this)
    dissolve_half_lengths: tuple[int, ...] = (4, 5, 6, 7, 8, 10, 12, 14, 16)
    fade_look: int = 10  # frames inspected for a fade in/out next to a blank run
    min_shot: int = 8  # frames; closer boundaries merge

    @classmethod
    def from_sensitivity(cls, sensitivity: float, detect_gradual: bool) -> ShotParams:
        """`sensitivity` 0..1, higher = more boundaries; 0 means the default (0.5).
        Thresholds scale by 2^(2 * (0.5 - sensitivity)): x2 at 0.0+, x0.5 at 1."""
        if not (math.isfinite(sensitivity) and 0.0 <= sensitivity <= 1.0):
            raise InvalidArgument(f"threshold_sensitivity must be in [0, 1] (0 = default), "
                                  f"got {sensitivity}", field_name="threshold_sensitivity")
        base = cls(detect_gradual=detect_gradual)
        if sensitivity == 0.0:
            return base
        factor = 2.0 ** (2.0 * (0.5 - sensitivity))
        return replace(base, cut_min=base.cut_min * factor,
                       cut_ratio=1.0 + (base.cut_ratio - 1.0) * factor,
                       dissolve_min_change=base.dissolve_min_change * factor,
                       dissolve_misfit=base.dissolve_misfit / factor,
                       dissolve_misfit_dip=base.dissolve_misfit_dip / factor)


@dataclass(frozen=True)
class Boundary:
    """The first frame of a new shot; a gradual transition spans [span_start, span_end)."""

    frame: int
    kind: Transition
    span_start: int
    span_end: int
    strength: float  # how sure: the change across it (for merging near boundaries)


@dataclass(frozen=True)
class Shot:
    start: int
    end: int  # exclusive
    transition_in: Transition
    mean_luma: float  # 0..1
    motion: float  # 0 (static) .. 1
    keyframe: int  # the most representative frame


@dataclass(frozen=True)
class Signals:
    """Per-frame signals derived from the features."""

    change: np.ndarray  # (N,) histogram distance to the previous frame; 0 for frame 0
    luma: np.ndarray  # (N, h*w) luma thumbnails
    colour: np.ndarray  # (N, D) half-size RGB thumbnails: the dissolve test's space
    brightness: np.ndarray  # (N,) mean luma
    contrast: np.ndarray  # (N,) spread (std) of the luma thumbnail
    blank: np.ndarray  # (N,) bool: black or white and flat

    @classmethod
    def of(cls, features: FrameFeatures) -> Signals:
        n = len(features)
        change = np.zeros(n, np.float32)
        if n > 1:
            change[1:] = hist_distance(features.hist[1:], features.hist[:-1])
        t = features.thumb.astype(np.float32, copy=False)  # the job keeps float16
        luma = np.einsum("nhwc,c->nhw", t, LUMA_WEIGHTS).reshape(n, -1)
        h, w = t.shape[1] // 2 * 2, t.shape[2] // 2 * 2
        colour = t[:, :h, :w].reshape(n, h // 2, 2, w // 2, 2, 3).mean(axis=(2, 4))
        contrast = luma.std(axis=1) if n else np.zeros(0, np.float32)
        flat = contrast < _FLAT
        blank = flat & ((luma.max(axis=1, initial=0.0) < _BLACK)
                        | (luma.min(axis=1, initial=1.0) > _WHITE))
        return cls(change, luma, colour.reshape(n, -1), luma.mean(axis=1) if n else contrast,
                   contrast, blank)


def hist_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Histogram change between frames (..., R, R, B): the mean over regions of the L1
    distance, divided by its maximum (each of hue, saturation and value can differ by 2)."""
    return (np.abs(a - b).sum(axis=-1).mean(axis=(-1, -2)) / 6.0).astype(np.float32)


def palette_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How different two frames' colours are regardless of brightness, 0..1: hue (each
    region's hue votes normalised) and saturation, both unchanged when a frame is scaled
    towards black. A fade keeps its palette; a dissolve's two shots do not."""
    hue_a, hue_b = a[..., :_HUE_BINS], b[..., :_HUE_BINS]
    hue_a = hue_a / (hue_a.sum(axis=-1, keepdims=True) + 1e-6)
    hue_b = hue_b / (hue_b.sum(axis=-1, keepdims=True) + 1e-6)
    sat = slice(_HUE_BINS, _HUE_BINS + _SAT_BINS)
    per_region = np.abs(hue_a - hue_b).sum(axis=-1) + np.abs(a[..., sat] - b[..., sat]).sum(axis=-1)
    return (per_region.mean(axis=(-1, -2)) / 4.0).astype(np.float32)


def detect_shots(features: FrameFeatures, params: ShotParams) -> list[Shot]:
    """The shots of a frame sequence, in order, covering every frame."""
    if len(features) == 0:
        return []
    signals = Signals.of(features)
    boundaries, opening = detect_boundaries(features, signals, params)
    return summarise(features, signals, boundaries, opening)


def detect_boundaries(features: FrameFeatures, signals: Signals,
                      params: ShotParams) -> tuple[list[Boundary], Transition]:
    """Boundaries in frame order, and how the first shot begins (NONE or FADE_IN)."""
    blank_bounds, opening = _blank_runs(features, signals, params)
    cuts = _hard_cuts(features, signals, params)
    found = blank_bounds + cuts
    if params.detect_gradual:
        found += _dissolves(features, signals, params, cuts)
    else:
        found = [b for b in found if b.kind is Transition.CUT]
        opening = Transition.NONE
    return _merge(found, params.min_shot), opening


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _blank_runs(features: FrameFeatures, signals: Signals,
                params: ShotParams) -> tuple[list[Boundary], Transition]:
    n, hist, contrast = len(features), features.hist, signals.contrast
    opening, found = Transition.NONE, []
    for start, end in _runs(signals.blank):
        if start == 0 or end == n:  # leading blank opens the first shot, trailing ends the last
            if start == 0 and end < n and _fades_in(contrast, end, params.fade_look):
                opening = Transition.FADE_IN
            continue
        jump = float(signals.change[start:end + 1].max())
        if _content_returns(hist, start - 1, end, jump, params):
            continue  # a flash: the same content on both sides
        across = float(hist_distance(hist[start - 1], hist[end]))
        frame = end
        if _fades_in(contrast, end, params.fade_look):
            kind = Transition.FADE_IN
            frame = _fade_in_start(signals.brightness, start, end)
        elif _fades_out(contrast, start, params.fade_look):
            kind = Transition.FADE_OUT
        else:
            kind = Transition.CUT
        span_start = _fade_start(contrast, start, params.fade_look) \
            if kind is not Transition.CUT else start
        found.append(Boundary(frame, kind, span_start, end + 1, max(jump, across)))
    return found, opening


def _fades_in(contrast: np.ndarray, first: int, look: int) -> bool:
    """Does content brighten out of blank from frame `first` on (rather than cut in)?"""
    after = contrast[first:first + look]
    return len(after) > 2 and contrast[first] < 0.6 * float(after.max())


def _fades_out(contrast: np.ndarray, blank_start: int, look: int) -> bool:
    before = contrast[max(0, blank_start - look):blank_start]
    return len(before) > 2 and contrast[blank_start - 1] < 0.6 * float(before.max())


def _fade_in_start(brightness: np.ndarray, blank_start: int, blank_end: int) -> int:
    """The first frame of a fade in: its darkest frames count as blank, but they already
    brighten above the black before them."""
    floor = float(brightness[blank_start:blank_end].min()) + 0.004
    first = blank_end
    while first > blank_start and floor < brightness[first - 1] < brightness[first]:
        first -= 1
    return first


def _fade_start(contrast: np.ndarray, blank_start: int, look: int) -> int:
    """Where a fade out into a blank run began (for the transition's span)."""
    start = blank_start
    while start > max(1, blank_start - 3 * look) and contrast[start - 1] < contrast[start - 2]:
        start -= 1
    return start


def _local_level(change: np.ndarray, window: int) -> np.ndarray:
    """Each frame's neighbourhood change: the mean over +-window frames, leaving out the
    frame and its neighbours and the two largest values (other cuts, flashes)."""
    n = len(change)
    padded = np.pad(change, window, mode="reflect") if n > window else np.pad(
        change, window, mode="edge")
    windows = sliding_window_view(padded, 2 * window + 1)[:n].copy()
    windows[:, window - 1:window + 2] = np.nan
    ordered = np.sort(windows, axis=1)[:, :-(3 + 2)]  # NaNs sort last; drop 2 more
    return ordered.mean(axis=1).astype(np.float32)


def _hard_cuts(features: FrameFeatures, signals: Signals, params: ShotParams) -> list[Boundary]:
    change, blank, hist = signals.change, signals.blank, features.hist
    n = len(change)
    if n < 2:
        return []
    level = _local_level(change, params.window)
    strong = (change >= params.cut_min) & (change >= params.cut_ratio * level)
    found = []
    for t in np.flatnonzero(strong):
        t = int(t)
        if blank[t] or blank[t - 1]:
            continue  # blank runs are decided as a whole
        near = change[max(1, t - 2):t + 3]
        if change[t] < near.max():
            continue  # not the peak of its neighbourhood
        if _content_returns(hist, t - 1, t, float(change[t]), params):
            continue
        if _sharpness(signals.colour, t) < params.cut_sharpness:
            continue  # the last step of a gradual change (a dissolve's histograms jump there)
        found.append(Boundary(t, Transition.CUT, t, t + 1, float(change[t])))
    return found


def _sharpness(colour: np.ndarray, t: int, reach: int = 3) -> float:
    """The thumbnail jump into frame t as a share of the change from `reach` frames before
    to `reach` after: ~1 for a cut, small where a gradual change ends."""
    jump = np.abs(colour[t] - colour[t - 1]).mean()
    wide = np.abs(colour[min(t + reach, len(colour) - 1)] - colour[max(t - 1 - reach, 0)]).mean()
    return float(jump / max(wide, 1e-6))


def _content_returns(hist: np.ndarray, before: int, after: int, jump: float,
                     params: ShotParams) -> bool:
    """Is a change undone within `flash_frames` frames (a flash, an object passing the
    lens)? Looks for frames a <= before and b >= after with 1..flash_frames frames between
    them whose histograms match (differ by under flash_return x the jump)."""
    n, f = len(hist), params.flash_frames
    for a in range(max(0, after - f - 1), before + 1):
        for b in range(max(after, a + 2), min(n, a + f + 2)):
            if hist_distance(hist[a], hist[b]) < params.flash_return * jump:
                return True
    return False


def _dissolves(features: FrameFeatures, signals: Signals, params: ShotParams,
               cuts: list[Boundary]) -> list[Boundary]:
    """Cross-dissolves: see the module docstring, stage 4."""
    hist, colour, blank = features.hist, signals.colour, signals.blank
    n = len(hist)
    near_blank = np.convolve(blank, np.ones(3), mode="same") > 0
    cut_at = np.zeros(n + 1, bool)
    cut_at[[c.frame for c in cuts]] = True
    cut_count = np.concatenate([[0], np.cumsum(cut_at)])
    candidates: list[tuple[int, int, int, float]] = []  # (cross, length, start, misfit)
    for half in params.dissolve_half_lengths:
        if n < 2 * half + 1:
            break
        starts = np.arange(0, n - 2 * half)
        ends = starts + 2 * half
        keep = (hist_distance(hist[starts], hist[ends]) >= params.dissolve_min_change) \
            & (palette_distance(hist[starts], hist[ends]) >= params.dissolve_palette) \
            & ~near_blank[starts] & ~near_blank[ends]
        keep &= (cut_count[ends + 1] - cut_count[starts + 1]) == 0  # no cut inside
        for s in np.flatnonzero(keep):
            fit = _mix_fit(colour, int(s), int(s) + 2 * half, blank)
            if fit is not None and (fit.misfit <= params.dissolve_misfit or (
                    fit.misfit <= params.dissolve_misfit_dip and fit.dip <= params.dissolve_dip)):
                candidates.append((fit.cross, 2 * half, int(s), fit.misfit))
    return _group_dissolves(candidates, hist, params.min_shot)


@dataclass(frozen=True)
class MixFit:
    """Frames of a window as mixes a*X[s] + (1-a)*X[e] of its end frames."""

    cross: int  # the first frame with a < 0.5
    residual: float  # mean distance of the frames to their mix, over |X[s] - X[e]|
    overshoot: float  # how far a goes past 1 before s and past 0 after e: a dissolve
    #                   starts and stops; a steady change (a travelling pattern) goes on
    dip: float  # lowest contrast inside over the line between the ends' contrasts: mixing
    #             two unrelated pictures flattens them (~0.7 halfway); motion does not

    @property
    def misfit(self) -> float:
        """0 for an exact dissolve; ~0.1 for dissolves between moving shots (up to ~0.25
        with fast motion); 0.28+ for the steady changes within shots that mimic one (a
        travelling colour wave), whose contrast does not dip."""
        return self.residual + 2.0 * self.overshoot


def _mix_fit(colour: np.ndarray, s: int, e: int, blank: np.ndarray,
             reach: int = 3) -> MixFit | None:
    """The window's fit, if a falls smoothly from 1 to 0 inside it (else None)."""
    if blank[s:e + 1].any():
        return None
    p, q = colour[s], colour[e]
    d = p - q
    dd = float(d @ d)
    if dd < 1e-8:
        return None
    inner = colour[s + 1:e]
    a = _project(inner - q, d) / dd
    path = np.concatenate([[1.0], a, [0.0]])
    steps = np.diff(path)
    if steps.max() > 0.15 or steps.min() < -0.4 or a[0] < 0.5 or a[-1] > 0.5:
        return None  # rises, jumps (a cut), or never crosses
    residual = np.linalg.norm(inner - (q + a[:, None] * d), axis=1).mean() / math.sqrt(dd)
    before = _project(colour[max(0, s - reach):s] - q, d) / dd
    after = _project(colour[e + 1:e + 1 + reach] - q, d) / dd
    overshoot = max(float(before.max(initial=1.0)) - 1.0, 0.0) \
        + max(-float(after.min(initial=0.0)), 0.0)
    spread = colour[s:e + 1].std(axis=1)
    line = spread[0] + (spread[-1] - spread[0]) * np.linspace(0.0, 1.0, len(spread))
    dip = float((spread / np.maximum(line, 1e-6)).min())
    return MixFit(s + 1 + int(np.argmax(a < 0.5)), float(residual), overshoot, dip)


def _project(rows: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """rows @ direction without BLAS: small matrix-vector products are 20x slower through
    a threaded BLAS that waits for its threads on a busy machine."""
    return np.einsum("ij,j->i", rows, direction)


def _group_dissolves(candidates: list[tuple[int, int, int, float]], hist: np.ndarray,
                     min_shot: int) -> list[Boundary]:
    """One boundary per cluster of accepted windows (every part of a dissolve is itself a
    dissolve): the longest window's crossing, the best fit among equals."""
    found: list[Boundary] = []
    cluster: list[tuple[int, int, int, float]] = []
    for cand in sorted(candidates) + [(10 ** 12, 0, 0, 0.0)]:
        if cluster and cand[0] - cluster[-1][0] > min_shot // 2:
            cross, length, start, _ = max(cluster, key=lambda c: (c[1], -c[3]))
            span_start = min(c[2] for c in cluster)
            span_end = max(c[2] + c[1] for c in cluster) + 1
            strength = float(hist_distance(hist[start], hist[start + length]))
            found.append(Boundary(cross, Transition.DISSOLVE, span_start, span_end, strength))
            cluster = []
        cluster.append(cand)
    return found


_PRIORITY = {Transition.FADE_IN: 0, Transition.FADE_OUT: 0, Transition.CUT: 1,
             Transition.DISSOLVE: 2}


def _merge(found: list[Boundary], min_shot: int) -> list[Boundary]:
    """Keep boundaries at least `min_shot` frames apart: blank-run transitions first (the
    surest), then cuts, then dissolves; the stronger first within a kind."""
    kept: list[Boundary] = []
    for b in sorted(found, key=lambda b: (_PRIORITY[b.kind], -b.strength)):
        if all(abs(b.frame - k.frame) >= min_shot for k in kept):
            kept.append(b)
    return sorted(kept, key=lambda b: b.frame)


def summarise(features: FrameFeatures, signals: Signals, boundaries: list[Boundary],
              opening: Transition) -> list[Shot]:
    """Shots between the boundaries, with mean luma, motion and a keyframe each."""
    n = len(features)
    edges = [0] + [b.frame for b in boundaries] + [n]
    kinds = [opening] + [b.kind for b in boundaries]
    moves = np.zeros(n, np.float32)
    if n > 1:
        moves[1:] = np.abs(np.diff(signals.luma, axis=0)).mean(axis=1)
    steady = ~signals.blank
    steady[1:] &= ~signals.blank[:-1]
    shots = []
    for start, end, kind in zip(edges[:-1], edges[1:], kinds):
        inside = np.arange(start + 1, end)
        inside = inside[steady[inside] & (signals.change[inside] < _JUMP)]
        motion = float(moves[inside].mean()) if len(inside) else 0.0
        shots.append(Shot(start, end, kind, float(signals.brightness[start:end].mean()),
                          1.0 - math.exp(-motion / _MOTION_SCALE),
                          _keyframe(features.hist, signals.blank, start, end)))
    return shots


def _keyframe(hist: np.ndarray, blank: np.ndarray, start: int, end: int) -> int:
    """The frame closest to the shot's mean histogram, away from its edges (transitions)
    and never blank when the shot has content."""
    margin = (end - start) // 10
    frames = np.arange(start + margin, end - margin)
    frames = frames[~blank[frames]] if (~blank[frames]).any() else frames
    mean = hist[frames].mean(axis=0)
    return int(frames[np.argmin(hist_distance(hist[frames], mean))])
