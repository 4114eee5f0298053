"""A song's bar grid and per-bar features, the units its structure is analysed in.

Stages, each a plain function over numpy arrays: `beat_harmony` (how much the harmony moves
at each beat), `rephase` and `pair_bars` (repair the tracker's downbeat phase and meter from
it), `bar_grid` (downbeats -> bar edges, extra and missed downbeats repaired) and
`bar_features` (FrameFeatures -> chroma per beat slot, timbre, loudness and drum activity per
bar).
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


@dataclass(frozen=True)
class FrameFeatures:
    """What structure analysis reads of a spectrogram, per frame (spectral.FPS). The band
    sums are linear in the magnitudes, so their mean over any span equals the bands of the
    span's mean spectrum: ~6x smaller than the spectrogram, and enough to keep per song
    between the rhythm and the chorus requests."""
    notes: np.ndarray  # (frames, semitones) magnitudes @ pitch_filterbank()
    bands: np.ndarray  # (frames, bands) magnitudes @ spectral.filterbank()
    level: np.ndarray  # (frames,) mean magnitude
    power: np.ndarray  # (frames,) mean squared magnitude
    rise: np.ndarray  # (frames,) mean rise of the log spectrum since the previous frame

    @classmethod
    def of(cls, spectrum: np.ndarray) -> FrameFeatures:
        """From `spectral.spectrogram` magnitudes (frames, FRAME // 2 + 1)."""
        coarse = np.log1p(100.0 * spectrum[:, ::8])
        rise = np.maximum(np.diff(coarse, axis=0, prepend=coarse[:1]), 0).mean(axis=1)
        bins = spectrum.shape[1]
        return cls(spectrum @ pitch_filterbank(), spectrum @ spectral.filterbank(),
                   spectrum.mean(axis=1), np.einsum("ij,ij->i", spectrum, spectrum) / bins,
                   rise.astype(np.float32))

    def __len__(self) -> int:
        return len(self.level)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.notes, self.bands, self.level, self.power,
                                      self.rise))


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


def beat_harmony(frames: FrameFeatures, beats: np.ndarray) -> BeatHarmony:
    n = len(beats)
    if n < 2:
        return BeatHarmony(np.zeros(n), np.zeros(n))
    count = len(frames)
    idx = np.clip(np.round(np.asarray(beats, float) * spectral.FPS).astype(int), 0, count - 1)
    stops = np.append(idx[1:], 2 * idx[-1] - idx[-2])
    notes = _span_means(frames.notes, idx, stops)
    pitch = chroma(notes)
    change = np.concatenate([[0.0], 1.0 - (pitch[1:] * pitch[:-1]).sum(axis=1)])
    level = float(_span_means(frames.level[:, None], idx, stops).mean())
    bands = np.log(notes + 1e-9 + 1e-3 * level)
    onset = np.concatenate([[0.0], np.maximum(np.diff(bands, axis=0), 0.0).mean(axis=1)])
    return BeatHarmony(change, onset)


def _has_bar_harmony(change: np.ndarray, positions: np.ndarray, bpb: int,
                     contrast: float = 1.3, window: int = 16) -> bool:
    """Whether the harmony moves with the bar: in the median stretch of `window` bars, at one
    phase of the bar the chord changes `contrast` times more than on the average beat
    (synthetic pop 1.3-4, noise 1.0-1.25). Without that, the tracker's downbeats are the
    best evidence there is."""
    span = window * bpb
    ratios = []
    for start in range(0, max(len(change) - span // 2, 1), span):
        c, p = change[start:start + span], positions[start:start + span]
        phases = [c[(p - 1 + r) % bpb == 0] for r in range(bpb)]
        if c.mean() > 0 and all(len(x) for x in phases):
            ratios.append(max(float(x.mean()) for x in phases) / float(c.mean()))
    return bool(ratios) and float(np.median(ratios)) >= contrast


def rephase(change: np.ndarray, positions: np.ndarray, beats_per_bar: int,
            switch: float = 2.0, trust: float = 0.02) -> np.ndarray:
    """Positions rotated so that bars start where the harmony changes (`change` from
    `beat_harmony`): the best path over the bpb rotations (Viterbi over beats) earning each
    rotation's downbeat changes, paying `switch` to change rotation and preferring the
    tracker's own phase by `trust` per bar. A tracker that loses the downbeat by a beat, for
    the whole song or after a missed beat, would otherwise cut sections a beat early or
    late and misalign their repeats."""
    bpb = int(beats_per_bar)
    positions = np.asarray(positions, int)
    n = len(positions)
    if bpb < 2 or n < 4 * bpb or len(change) != n or not _has_bar_harmony(change, positions,
                                                                         bpb):
        return positions
    rotations = np.arange(bpb)
    # gain[i, r]: beat i is a downbeat under rotation r
    down = (positions[:, None] - 1 + rotations[None, :]) % bpb == 0
    gain = down * (change[:, None] + np.where(rotations == 0, trust, 0.0)[None, :])
    score = gain[0].copy()
    back = np.zeros((n, bpb), int)
    stay = np.eye(bpb, dtype=bool)
    for i in range(1, n):
        options = score[:, None] - np.where(stay, 0.0, switch)  # from (rows) to (cols)
        back[i] = np.argmax(options, axis=0)
        score = options[back[i], rotations] + gain[i]
    path = np.empty(n, int)
    path[-1] = int(np.argmax(score))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return (positions - 1 + path) % bpb + 1


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


def chroma(notes: np.ndarray) -> np.ndarray:
    """(rows, semitones) band magnitudes (`pitch_filterbank`) -> (rows, 12) pitch classes
    (C = 0), log-compressed relative to each row's strongest class, zero-mean and
    L2-normalised."""
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


def _span_means(rows: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """(spans, columns) mean of rows starts[i] .. stops[i] (at least one row). A loop of
    slice sums: np.add.reduceat along axis 0 is ten times slower here."""
    count = len(rows)
    out = np.empty((len(starts), rows.shape[1]), np.float32)
    for i, (a, b) in enumerate(zip(starts, stops)):
        a = min(max(int(a), 0), count - 1)
        b = min(max(int(b), a + 1), count)
        out[i] = rows[a:b].mean(axis=0)
    return out


def _segment_means(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Mean of rows starts[i] .. starts[i + 1] of x (empty spans take the nearest row)."""
    n = len(x)
    lo = np.minimum(starts[:-1], n - 1)
    hi = np.maximum(starts[1:], lo + 1)
    csum = np.concatenate([np.zeros((1,) + x.shape[1:], np.float64), np.cumsum(x, axis=0)])
    return ((csum[hi] - csum[lo]) / (hi - lo).reshape((-1,) + (1,) * (x.ndim - 1)))


def bar_features(frames: FrameFeatures, grid: BarGrid) -> BarFeatures:
    """Per-bar features from a song's FrameFeatures. Chroma keeps one slot per beat so the
    order of notes inside a bar counts."""
    slots = grid.beats_per_bar
    edges = _slot_edges(grid, slots, len(frames))
    pitch = chroma(_span_means(frames.notes, edges[:-1], edges[1:])).reshape(grid.bars,
                                                                             slots, 12)
    bands = np.log(_span_means(frames.bands, edges[:-1], edges[1:]) + 1e-5)
    mfcc = scipy.fft.dct(bands, type=2, norm="ortho", axis=1)[:, 1:14]
    timbre = mfcc.reshape(grid.bars, slots, -1).mean(axis=1)
    loud = 10 * np.log10(_segment_means(frames.power[:, None], edges[::slots])[:, 0] + 1e-10)
    # a frame sees an onset half a window before its centre: move the rise to the onset, so
    # the crash on a chorus downbeat does not count in the bar before
    lead = spectral.FRAME // 2 // spectral.HOP
    flux = np.concatenate([np.zeros(lead), frames.rise])[:len(frames)]
    activity = _segment_means(flux[:, None], edges[::slots])[:, 0]
    return BarFeatures(pitch.astype(np.float32), timbre.astype(np.float32),
                       loud.astype(np.float32), activity.astype(np.float32))
