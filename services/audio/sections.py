"""Song structure on the bar grid: sections and the labels of repeated material.

Stages, each a plain function over numpy arrays: `segment` (the best piecewise-constant fit
of the bar features -> section boundaries), `chroma_similarity` (bar x bar, for each of the
12 transpositions), `split_at_repeats` (cut sections where a repeat starts inside them),
`section_similarity` and `label` (sections that repeat the same material share a label).
"""
from __future__ import annotations

import numpy as np

from services.audio.bars import BarFeatures


def _robust_z(x: np.ndarray) -> np.ndarray:
    """Standardise columns by median and MAD, so an outlying intro cannot set the scale."""
    med = np.median(x, axis=0)
    mad = np.median(np.abs(x - med), axis=0) * 1.4826
    return (x - med) / np.maximum(mad, 0.05 * np.maximum(x.std(axis=0), 1e-6))


def _scaled(features: BarFeatures) -> np.ndarray:
    """(bars, dims) features whose bar-to-bar noise is about 1 per dimension: loudness (dB),
    drum activity (log), timbre and bar chroma; the noise is half the median squared step
    between neighbouring bars, floored so a perfectly steady feature cannot dominate."""
    bars = len(features.loudness)
    cols = [(features.loudness[:, None].astype(float), 0.7, 1.0),
            (np.log(features.activity[:, None].astype(float) + 1e-4), 0.08, 1.0),
            (_robust_z(features.timbre.astype(float)), 0.3, 0.25),
            (features.chroma.mean(axis=1).astype(float), 0.05, 0.25)]
    out = []
    for x, floor, weight in cols:
        step = np.median(np.diff(x, axis=0) ** 2, axis=0) / 2 if bars > 2 else np.ones(x.shape[1])
        sigma = np.maximum(np.sqrt(step), floor)
        out.append(x / sigma * np.sqrt(weight / x.shape[1]))
    return np.concatenate(out, axis=1)


def _length_prior(length: np.ndarray) -> np.ndarray:
    """Log-prior of a section length in bars: pop sections run 4, 8, 16 bars; 2-bar tags
    happen; odd lengths are rare."""
    prior = np.where(length % 4 == 0, 0.0, np.where(length % 2 == 0, -0.3, -1.0))
    return np.where(length >= 2, prior, -2.0)


def segment(features: BarFeatures, penalty: float = 15.0) -> np.ndarray:
    """Section boundaries (bar indices, 0 and bars included) of the best piecewise-constant
    fit of the scaled bar features: squared error plus `penalty` per section minus the
    length prior (dynamic programming over all boundary sets)."""
    x = _scaled(features)
    bars = len(x)
    c1 = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    c2 = np.concatenate([[0.0], np.cumsum((x ** 2).sum(axis=1))])
    best = np.full(bars + 1, np.inf)
    best[0] = 0.0
    back = np.zeros(bars + 1, int)
    for end in range(1, bars + 1):
        starts = np.arange(end)
        length = end - starts
        sse = c2[end] - c2[starts] - ((c1[end] - c1[starts]) ** 2).sum(axis=1) / length
        cost = best[:end] + sse + penalty - 3.0 * _length_prior(length)
        back[end] = int(np.argmin(cost))
        best[end] = cost[back[end]]
    edges = [bars]
    while edges[-1] > 0:
        edges.append(back[edges[-1]])
    return np.array(edges[::-1])


def chroma_similarity(pitch: np.ndarray) -> np.ndarray:
    """(12, bars, bars): mean over beat slots of the correlation between bar i's chroma and
    bar j's chroma rotated up by k semitones (k = 0 is the untransposed comparison)."""
    bars, slots, _ = pitch.shape
    flat = pitch.reshape(bars, slots * 12)
    out = np.empty((12, bars, bars), np.float32)
    for k in range(12):
        out[k] = flat @ np.roll(pitch, k, axis=2).reshape(bars, slots * 12).T
    return out / slots


def section_similarity(features: BarFeatures, chroma_sim: np.ndarray, edges: np.ndarray
                       ) -> np.ndarray:
    """(sections, sections) 0..1: harmony and melody (bar-by-bar chroma from the sections'
    starts, best of 12 transpositions) times loudness and timbre agreement."""
    n = len(edges) - 1
    timbre = _robust_z(features.timbre.astype(float)) / np.sqrt(features.timbre.shape[1])
    loud = np.array([features.loudness[a:b].mean() for a, b in zip(edges[:-1], edges[1:])])
    tim = np.array([timbre[a:b].mean(axis=0) for a, b in zip(edges[:-1], edges[1:])])
    shift_cost = np.full(12, 0.03)
    shift_cost[0] = 0.0
    sim = np.eye(n)
    for x in range(n):
        for y in range(x + 1, n):
            a, b = edges[x], edges[y]
            length = min(edges[x + 1] - a, edges[y + 1] - b)
            idx = np.arange(length)
            harmony = float(np.max(chroma_sim[:, a + idx, b + idx].mean(axis=1) - shift_cost))
            level = np.exp(-((loud[x] - loud[y]) / 2.5) ** 2)
            colour = np.exp(-(np.linalg.norm(tim[x] - tim[y]) / 2.0) ** 2)
            sim[x, y] = sim[y, x] = max(harmony, 0.0) * level * colour
    return sim


def label(sim: np.ndarray, threshold: float = 0.55) -> np.ndarray:
    """Average-linkage clustering of sections: same label = same material. Labels are
    numbered in order of first appearance."""
    n = len(sim)
    clusters = [[i] for i in range(n)]
    while len(clusters) > 1:
        best, pair = threshold, None
        for x in range(len(clusters)):
            for y in range(x + 1, len(clusters)):
                link = float(sim[np.ix_(clusters[x], clusters[y])].mean())
                if link > best:
                    best, pair = link, (x, y)
        if pair is None:
            break
        x, y = pair
        clusters[x] = sorted(clusters[x] + clusters.pop(y))
    labels = np.empty(n, int)
    for c in clusters:
        labels[c] = c[0]
    _, first = np.unique(labels, return_index=True)
    order = {labels[i]: k for k, i in enumerate(sorted(first))}
    return np.array([order[v] for v in labels])


def _longest_run(match: np.ndarray) -> tuple[int, int, int]:
    """(length, i, j) of the longest diagonal run of True in any of the (rows, cols)
    matrices stacked in `match` (layers, rows, cols), ending at row i, column j."""
    layers, rows, cols = match.shape
    run = np.zeros((layers, cols + 1), int)
    best = (0, 0, 0)
    for i in range(rows):
        run[:, 1:] = (run[:, :-1] + 1) * match[:, i]
        flat = int(np.argmax(run))
        if run.flat[flat] > best[0]:
            best = (int(run.flat[flat]), i, flat % (cols + 1) - 1)
    return best


def _first_longest_run(flags: np.ndarray) -> tuple[int, int]:
    """(length, index of its last element) of the longest run of True in any row of the
    (rows, n) `flags`; the earliest such run."""
    rows, n = flags.shape
    padded = np.zeros((rows, n + 2), bool)
    padded[:, 1:-1] = flags
    step = np.diff(padded.astype(np.int8), axis=1)
    _, starts = np.nonzero(step == 1)
    _, stops = np.nonzero(step == -1)  # same row order as the starts
    if len(starts) == 0:
        return 0, 0
    lengths = stops - starts
    k = int(np.lexsort((stops, -lengths))[0])
    return int(lengths[k]), int(stops[k] - 1)


def _aligned_runs(match: np.ndarray) -> list[tuple[int, int, int]]:
    """(length, i, j) of the longest run of True in any layer on the diagonal through the
    first cell and on the one through the last cell of the (layers, rows, cols) `match`
    (repeats that start together, repeats that end together); i, j where the run ends."""
    _, rows, cols = match.shape
    t = np.arange(min(rows, cols))
    length, end = _first_longest_run(match[:, t, t])
    out = [(length, end, end)]
    back = match[:, rows - 1 - t[::-1], cols - 1 - t[::-1]]  # the same diagonal, forwards
    length, end = _first_longest_run(back)
    shift = len(t) - 1 - end
    out.append((length, rows - 1 - shift, cols - 1 - shift))
    return out


def split_at_repeats(edges: np.ndarray, chroma_sim: np.ndarray, loudness: np.ndarray,
                     threshold: float = 0.75, shortest: int = 4) -> np.ndarray:
    """Section boundaries refined by repetition: where two sections share a stretch of at
    least `shortest` bars (bar-by-bar chroma correlation over `threshold` in one
    transposition, loudness within 3 dB) that starts 2+ bars into either (4+ if into both
    equally), that one is cut there; the same at the stretch's end.
    Catches a bridge or intro glued to the verse that follows. One pass: cutting again at
    the cuts would spread one misplaced cut to every repeat."""
    edges = np.asarray(edges)
    cuts: set[int] = set()
    for x in range(len(edges) - 1):
        for y in range(x + 1, len(edges) - 1):
            a0, a1, b0, b1 = edges[x], edges[x + 1], edges[y], edges[y + 1]
            level = np.abs(loudness[a0:a1, None] - loudness[None, b0:b1]) < 3.0
            match = (chroma_sim[:, a0:a1, b0:b1] > threshold) & level
            length, i, j = _longest_run(match)
            for aligned in _aligned_runs(match):
                if aligned[0] >= length - 2:  # nearly as long and in step: trust it, not
                    length, i, j = aligned  # a run one chord cycle out of step
                    break
            if length < shortest:
                continue
            sx, sy = a0 + i - length + 1, b0 + j - length + 1
            # where both reach the shared stretch after the same lead-in, a short one is a
            # variation of the same section (or a grid fault), not a seam
            same = 4 if sx - a0 == sy - b0 else 2
            cuts.update(int(c) for c, lo in ((sx, a0), (sy, b0)) if c - lo >= same)
            same = 4 if a1 - sx == b1 - sy else 2
            cuts.update(int(c + length) for c, hi in ((sx, a1), (sy, b1))
                        if hi - c - length >= same)
    return np.array(sorted(set(edges.tolist()) | cuts))
