"""Song structure on the bar grid: bar features, a bar self-similarity, sections and labels.

Stages, each a plain function over numpy arrays: `bar_grid` (beats -> bar edges),
`bar_features` (spectrum -> per-bar chroma, timbre, loudness, drum activity), `segment`
(the best piecewise-constant fit of those features -> section boundaries on bars),
`chroma_similarity` (bar x bar, for each of the 12 transpositions), `section_similarity` and
`label` (sections that repeat the same material share a label).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft

from mediamesh.audio import spectral

MIDI_LO, MIDI_HI = 52, 96  # pitch range folded into chroma (165 Hz .. 2 kHz): lower, the
# FFT bins are coarser than a semitone and a transposed repeat stops matching


@dataclass(frozen=True)
class BarGrid:
    """Bars from the first downbeat: bar i spans edges[i] .. edges[i + 1] seconds."""
    edges: np.ndarray  # (bars + 1,) seconds
    beats_per_bar: int

    @property
    def bars(self) -> int:
        return len(self.edges) - 1


def bar_grid(beats: np.ndarray, positions: np.ndarray, beats_per_bar: int,
             duration: float) -> BarGrid:
    """Bar edges from the downbeats (positions == 1); beats before the first downbeat are a
    pickup and belong to no bar. The last bar ends one median bar after the last downbeat
    (clipped to the audio). Without downbeats the beats are grouped by `beats_per_bar`;
    without beats, 2 s pseudo-bars keep the analysis going."""
    beats = np.asarray(beats, float)
    positions = np.asarray(positions, int)
    bpb = max(1, int(beats_per_bar))
    downbeats = beats[positions == 1] if len(positions) == len(beats) else beats[:0]
    if len(downbeats) < 2 and len(beats) >= 2 * bpb:
        downbeats = beats[::bpb]
    if len(downbeats) < 2:
        edges = np.arange(0.0, max(duration, 2.0) + 1e-9, 2.0)
        return BarGrid(edges if len(edges) >= 2 else np.array([0.0, duration]), bpb)
    downbeats = _regular_bars(np.unique(downbeats))
    length = float(np.median(np.diff(downbeats)))
    end = min(downbeats[-1] + length, duration) if duration > downbeats[-1] else downbeats[-1]
    edges = downbeats if end - downbeats[-1] < 0.25 * length else np.append(downbeats, end)
    return BarGrid(edges.astype(float), bpb)


def _regular_bars(downbeats: np.ndarray) -> np.ndarray:
    """Repair a tracker's occasional extra or missed downbeat: a bar under 0.6 of the median
    bar merges with the neighbour that makes the merged bar closest to the median; a bar
    over 1.6 medians is split evenly. Real bars vary by far less within a song."""
    d = list(downbeats)
    if len(d) < 4:
        return downbeats
    length = float(np.median(np.diff(d)))
    i = 0
    while i < len(d) - 1 and len(d) > 3:
        if d[i + 1] - d[i] >= 0.6 * length:
            i += 1
            continue
        drop_left = abs(d[i + 1] - d[i - 1] - length) if i > 0 else np.inf
        drop_right = abs(d[i + 2] - d[i] - length) if i + 2 < len(d) else np.inf
        if drop_left < drop_right:
            del d[i]
            i -= 1
        else:
            del d[i + 1]
    out = [d[0]]
    for a, b in zip(d[:-1], d[1:]):
        parts = int(round((b - a) / length)) if b - a > 1.6 * length else 1
        out.extend(a + (b - a) * np.arange(1, parts + 1) / parts)
    return np.array(out)


@dataclass(frozen=True)
class BeatHarmony:
    """Per beat: `change`, 1 - correlation of its chroma with the previous beat's (high
    where the chord changes, in most music on the downbeat); `onset`, the mean rise of the
    log semitone bands (new notes; unlike `change` it stays low while a chord decays)."""
    change: np.ndarray
    onset: np.ndarray


def beat_harmony(spectrum: np.ndarray, beats: np.ndarray) -> BeatHarmony:
    n = len(beats)
    if n < 2:
        return BeatHarmony(np.zeros(n), np.zeros(n))
    frames = len(spectrum)
    idx = np.clip(np.round(np.asarray(beats, float) * spectral.FPS).astype(int), 0, frames - 1)
    mags = _span_means(spectrum, idx, np.append(idx[1:], 2 * idx[-1] - idx[-2]))
    pitch = chroma(mags)
    change = np.concatenate([[0.0], 1.0 - (pitch[1:] * pitch[:-1]).sum(axis=1)])
    bands = np.log(mags @ pitch_filterbank() + 1e-9 + 1e-3 * float(mags.mean()))
    onset = np.concatenate([[0.0], np.maximum(np.diff(bands, axis=0), 0.0).mean(axis=1)])
    return BeatHarmony(change, onset)


def rephase(change: np.ndarray, positions: np.ndarray, beats_per_bar: int,
            margin: float = 1.25, window: int = 8) -> np.ndarray:
    """Positions rotated so that bars start where the harmony changes most (`change` from
    `beat_harmony`), wherever another phase of the bar is clearly (`margin` times) better
    over the surrounding `window` bars each side: a tracker that loses the downbeat by a
    beat, for the whole song or after a missed beat, would otherwise cut sections a beat
    early or late and misalign repeats."""
    bpb = int(beats_per_bar)
    positions = np.asarray(positions, int)
    n = len(positions)
    if bpb < 2 or n < 4 * bpb or len(change) != n:
        return positions
    kernel = np.ones(2 * window * bpb + 1)
    local = np.empty((bpb, n))
    for r in range(bpb):
        on = ((positions - 1 + r) % bpb == 0).astype(float)
        local[r] = (np.convolve(change * on, kernel, mode="same")
                    / np.maximum(np.convolve(on, kernel, mode="same"), 1.0))
    best = np.argmax(local, axis=0)
    best[local[best, np.arange(n)] < margin * local[0]] = 0
    return (positions - 1 + best) % bpb + 1


def pair_bars(harmony: BeatHarmony, beats: np.ndarray, positions: np.ndarray,
              beats_per_bar: int, ratio: float = 1.7, short: float = 1.75
              ) -> tuple[np.ndarray, int]:
    """(positions, beats per bar) with short bars (under `short` seconds) joined in pairs
    when the harmony changes `ratio` times more on every other downbeat: the grid then
    counts half bars (a 4/4 song tracked as 2/4) or the chords move in two-bar steps, and
    either way one-bar units would split every section into alternating halves. A pair
    starts on the downbeats with more new notes."""
    positions = np.asarray(positions, int)
    down = np.flatnonzero(positions == 1)
    if len(down) < 8 or len(harmony.change) != len(positions):
        return positions, beats_per_bar
    if float(np.median(np.diff(np.asarray(beats, float)[down]))) >= short:
        return positions, beats_per_bar
    even, odd = harmony.change[down[0::2]].mean(), harmony.change[down[1::2]].mean()
    if max(even, odd) < ratio * max(min(even, odd), 1e-9):
        return positions, beats_per_bar
    bar = np.cumsum(positions == 1) - 1  # bar index of each beat (-1: pickup)
    even_starts = harmony.onset[down[0::2]].mean() >= harmony.onset[down[1::2]].mean()
    weak = (bar % 2 == 1) if even_starts else (bar % 2 == 0)
    return np.where(weak, positions + beats_per_bar, positions), 2 * beats_per_bar


@dataclass(frozen=True)
class BarFeatures:
    chroma: np.ndarray  # (bars, slots, 12), each slot L2-normalised
    timbre: np.ndarray  # (bars, coefficients) MFCC-like, loudness removed
    loudness: np.ndarray  # (bars,) dB of the mean power
    activity: np.ndarray  # (bars,) onset strength (drums, attacks) per second


@functools.cache
def pitch_filterbank() -> np.ndarray:
    """(FRAME // 2 + 1, semitones) magnitudes -> semitone bands MIDI_LO..MIDI_HI: a Gaussian
    per semitone on the log-frequency axis, widened where FFT bins are coarser than that."""
    freqs = np.fft.rfftfreq(spectral.FRAME, 1.0 / spectral.RATE)
    centres = 440.0 * 2.0 ** ((np.arange(MIDI_LO, MIDI_HI + 1) - 69) / 12)
    bin_hz = spectral.RATE / spectral.FRAME
    width_st = np.maximum(0.5, 12 * np.log2(1 + bin_hz / centres))  # one bin, in semitones
    with np.errstate(divide="ignore"):
        st = 12 * np.log2(np.maximum(freqs, 1e-3)[:, None] / centres[None, :])
    fb = np.exp(-0.5 * (st / width_st) ** 2)
    fb[freqs < 60] = 0.0
    fb /= np.maximum(fb.sum(axis=0, keepdims=True), 1e-9)
    return fb.astype(np.float32)


def chroma(magnitudes: np.ndarray) -> np.ndarray:
    """(rows, FRAME // 2 + 1) magnitudes -> (rows, 12) pitch classes (C = 0), log-compressed
    relative to each row's strongest class, zero-mean and L2-normalised."""
    notes = magnitudes @ pitch_filterbank()
    midi = np.arange(MIDI_LO, MIDI_HI + 1)
    classes = np.zeros((len(notes), 12), np.float64)
    for pc in range(12):
        classes[:, pc] = notes[:, midi % 12 == pc].sum(axis=1)
    classes = np.log1p(20.0 * classes / np.maximum(classes.max(axis=1, keepdims=True), 1e-9))
    classes -= classes.mean(axis=1, keepdims=True)  # correlation, not cosine: more contrast
    return classes / np.maximum(np.linalg.norm(classes, axis=1, keepdims=True), 1e-9)


def _slot_edges(grid: BarGrid, slots: int, frames: int) -> np.ndarray:
    """Frame index where each of `slots` equal parts of every bar starts, plus the end."""
    e = grid.edges
    t = (e[:-1, None] + np.diff(e)[:, None] * np.arange(slots)[None, :] / slots).ravel()
    idx = np.round(np.append(t, e[-1]) * spectral.FPS).astype(int)
    return np.clip(idx, 0, frames)


def _span_means(spectrum: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """(spans, bins) mean magnitude of frames starts[i] .. stops[i] (at least one frame).
    A loop of slice sums: np.add.reduceat along axis 0 is ten times slower here."""
    frames = len(spectrum)
    out = np.empty((len(starts), spectrum.shape[1]), np.float32)
    for i, (a, b) in enumerate(zip(starts, stops)):
        a = min(max(int(a), 0), frames - 1)
        b = min(max(int(b), a + 1), frames)
        out[i] = spectrum[a:b].mean(axis=0)
    return out


def _segment_means(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Mean of rows starts[i] .. starts[i + 1] of x (empty spans take the nearest row)."""
    n = len(x)
    lo = np.minimum(starts[:-1], n - 1)
    hi = np.maximum(starts[1:], lo + 1)
    csum = np.concatenate([np.zeros((1,) + x.shape[1:], np.float64), np.cumsum(x, axis=0)])
    return ((csum[hi] - csum[lo]) / (hi - lo).reshape((-1,) + (1,) * (x.ndim - 1)))


def bar_features(spectrum: np.ndarray, grid: BarGrid) -> BarFeatures:
    """Per-bar features from `spectral.spectrogram` magnitudes (frames at spectral.FPS).
    Chroma keeps one slot per beat so the order of notes inside a bar counts."""
    slots = grid.beats_per_bar
    frames = len(spectrum)
    edges = _slot_edges(grid, slots, frames)
    slot_mag = _span_means(spectrum, edges[:-1], edges[1:])
    bars = grid.bars
    pitch = chroma(slot_mag).reshape(bars, slots, 12)
    bands = np.log(slot_mag @ spectral.filterbank() + 1e-5)
    mfcc = scipy.fft.dct(bands, type=2, norm="ortho", axis=1)[:, 1:14]
    timbre = mfcc.reshape(bars, slots, -1).mean(axis=1)
    power = np.einsum("ij,ij->i", spectrum, spectrum) / spectrum.shape[1]
    loud = 10 * np.log10(_segment_means(power[:, None], edges[::slots])[:, 0] + 1e-10)
    coarse = np.log1p(100.0 * spectrum[:, ::8])
    flux = np.concatenate([[0.0], np.maximum(np.diff(coarse, axis=0), 0).mean(axis=1)])
    activity = _segment_means(flux[:, None], edges[::slots])[:, 0]
    return BarFeatures(pitch.astype(np.float32), timbre.astype(np.float32),
                       loud.astype(np.float32), activity.astype(np.float32))


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
            (_robust_z(features.timbre.astype(float)), 0.3, 0.5),
            (features.chroma.mean(axis=1).astype(float), 0.05, 0.5)]
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
    """(12, bars, bars): mean over beat slots of the cosine between bar i's chroma and bar
    j's chroma rotated up by k semitones (k = 0 is the untransposed comparison)."""
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
