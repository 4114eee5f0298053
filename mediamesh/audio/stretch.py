"""Time-stretch without pitch change, driven by a time map (output seconds -> source seconds).

Algorithm: WSOLA (waveform-similarity overlap-add). Chosen over a phase vocoder because it
works in the time domain: drum attacks (what listeners and beat trackers lock to) stay
sharp instead of being smeared over a frame, there is no phasiness, and each output frame
is read at most `TOLERANCE_S` away from where the map says, so beats land within that
tolerance by construction with no drift. Its known weakness (stutter at large ratios) is
outside the x1/1.5..x1.5 range medleys use.

The frame loop that picks each frame's offset is inherently sequential (a frame must
continue the one before it), so it runs on a 4x decimated mono signal where it costs a few
microseconds per frame; windowing and overlap-add are vectorised over all frames.
Samples are float32 (channels, n); times are seconds; rates Hz.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

FRAME_S = 0.0232  # analysis/synthesis window (~1024 samples at 44.1 kHz)
TOLERANCE_S = 0.005  # how far a frame may slide to match: bounds the timing error
DECIMATED_RATE = 11_025  # where the similarity search runs (enough for the waveform shape)
FRAMES_PER_BLOCK = 2048  # overlap-add in blocks of frames to bound memory on long songs


@dataclass(frozen=True)
class TimeMap:
    """A monotonic piecewise-linear map from output time to source time, seconds.

    Beyond its ends the map continues with the slope of its first/last segment, so frames
    that straddle the ends read sensible source audio.
    """

    out_times: np.ndarray
    src_times: np.ndarray

    def __post_init__(self) -> None:
        out = np.asarray(self.out_times, dtype=np.float64)
        src = np.asarray(self.src_times, dtype=np.float64)
        if out.ndim != 1 or out.shape != src.shape or out.size < 2:
            raise ValueError("a time map needs two equal-length 1-D arrays of >= 2 points")
        if np.any(np.diff(out) <= 0) or np.any(np.diff(src) <= 0):
            raise ValueError("a time map must be strictly increasing in both output and "
                             "source time")
        object.__setattr__(self, "out_times", out)
        object.__setattr__(self, "src_times", src)

    @classmethod
    def constant(cls, ratio: float, out_duration: float, src_start: float = 0.0) -> TimeMap:
        """Play from `src_start` at `ratio` x speed (2 = twice as fast) for `out_duration` s."""
        if ratio <= 0 or out_duration <= 0:
            raise ValueError(f"ratio and duration must be positive, got {ratio}, {out_duration}")
        return cls(np.array([0.0, out_duration]),
                   np.array([src_start, src_start + ratio * out_duration]))

    def source_time(self, out_t: np.ndarray) -> np.ndarray:
        """Source seconds for output seconds, linearly extrapolated past the ends."""
        out, src = self.out_times, self.src_times
        t = np.asarray(out_t, dtype=np.float64)
        mapped = np.interp(t, out, src)
        head = (src[1] - src[0]) / (out[1] - out[0])
        tail = (src[-1] - src[-2]) / (out[-1] - out[-2])
        mapped = np.where(t < out[0], src[0] + (t - out[0]) * head, mapped)
        return np.where(t > out[-1], src[-1] + (t - out[-1]) * tail, mapped)


def stretch(samples: np.ndarray, rate: int, time_map: TimeMap, out_samples: int) -> np.ndarray:
    """Render `out_samples` output samples whose sample n sounds like the source at
    `time_map.source_time(n / rate)`, pitch unchanged. Source beyond the array is silence.

    Returns float32 (channels, out_samples) for (channels, n) input ((n,) stays 1-D).
    """
    mono_input = samples.ndim == 1
    planar = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    if out_samples <= 0:
        return np.zeros((planar.shape[0], 0) if not mono_input else (0,), np.float32)
    hop = max(8, int(round(FRAME_S * rate / 2)))
    window = 2 * hop
    tolerance = int(round(TOLERANCE_S * rate))
    frames = out_samples // hop + 2  # frame k covers output [(k-1)*hop, (k+1)*hop)
    centres = time_map.source_time(np.arange(frames) * hop / rate) * rate
    nominal = np.rint(centres).astype(np.int64) - hop  # source start of each frame

    # Work on the part of the source the frames can touch, zero-padded on both sides.
    lo = int(nominal.min()) - tolerance - window
    hi = int(nominal.max()) + tolerance + 2 * window
    excerpt = _padded_slice(planar, lo, hi)
    starts = _choose_offsets(excerpt, nominal - lo, hop, tolerance, rate)

    out = _overlap_add(excerpt, starts, hop)[:, hop:hop + out_samples]
    return out[0] if mono_input else out


def stretch_constant(samples: np.ndarray, rate: int, ratio: float) -> np.ndarray:
    """The whole input at `ratio` x speed (2 = twice as fast); length round(n / ratio)."""
    n = np.atleast_2d(samples).shape[-1]
    out_samples = int(round(n / ratio))
    if ratio == 1.0:
        return np.array(samples, dtype=np.float32, copy=True)
    # Map sample centres exactly: output sample i plays source sample i * ratio.
    time_map = TimeMap.constant(ratio, max(out_samples, 1) / rate)
    return stretch(samples, rate, time_map, out_samples)


def change_tempo_and_pitch(samples: np.ndarray, rate: int, tempo_ratio: float = 1.0,
                           semitones: float = 0.0) -> np.ndarray:
    """Speed up by `tempo_ratio` (2 = twice as fast) and shift pitch by `semitones`:
    stretch by the pitch factor, then resample back (so the two compose exactly)."""
    if semitones == 0.0:
        return stretch_constant(samples, rate, tempo_ratio)
    pitch = 2.0 ** (semitones / 12.0)
    n = np.atleast_2d(samples).shape[-1]
    target = int(round(n / tempo_ratio))
    fraction = Fraction(pitch).limit_denominator(200)  # a rational close to the pitch factor
    longer = stretch_constant(samples, rate, tempo_ratio / float(fraction))
    resampled = resample_poly(longer, fraction.denominator, fraction.numerator, axis=-1)
    resampled = resampled.astype(np.float32)
    if resampled.shape[-1] >= target:
        return np.ascontiguousarray(resampled[..., :target])
    pad = [(0, 0)] * (resampled.ndim - 1) + [(0, target - resampled.shape[-1])]
    return np.pad(resampled, pad)


def _padded_slice(planar: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """planar[:, lo:hi] with zeros wherever the range leaves the array."""
    out = np.zeros((planar.shape[0], hi - lo), np.float32)
    a, b = max(lo, 0), min(hi, planar.shape[1])
    if b > a:
        out[:, a - lo:b - lo] = planar[:, a:b]
    return out


def _choose_offsets(excerpt: np.ndarray, nominal: np.ndarray, hop: int, tolerance: int,
                    rate: int) -> np.ndarray:
    """Source start of every frame: within `tolerance` of nominal, chosen so the frame best
    continues the waveform of the frame before it (normalised cross-correlation)."""
    factor = max(1, rate // DECIMATED_RATE)
    mono = excerpt.mean(axis=0)
    small = (resample_poly(mono, 1, factor) if factor > 1 else mono).astype(np.float64)
    energy = np.concatenate([[0.0], np.cumsum(small * small)])
    length = max(4, (2 * hop) // factor)
    reach = max(1, tolerance // factor)
    last = small.shape[0] - length - 1
    starts = nominal.copy()
    floor = 1e-9 * length
    for k in range(1, nominal.shape[0]):
        # The natural continuation of the previous frame, one hop on.
        t0 = min(max((starts[k - 1] + hop) // factor, 0), last)
        template = small[t0:t0 + length]
        t_energy = energy[t0 + length] - energy[t0]
        c0 = nominal[k] // factor
        a, b = c0 - reach, c0 + reach
        if t_energy <= floor or a < 0 or b > last:
            continue  # silence (nothing to match) or the excerpt edge: stay on the map
        scores = np.correlate(small[a:b + length], template, mode="valid")
        windows = energy[a + length:b + length + 1] - energy[a:b + 1]
        scores = scores / np.sqrt(np.maximum(windows, floor))
        best = int(np.argmax(scores))
        shift = float(best)
        if 0 < best < scores.shape[0] - 1:  # parabolic peak: sub-sample at the decimated rate
            y0, y1, y2 = scores[best - 1], scores[best], scores[best + 1]
            denom = y0 - 2 * y1 + y2
            if denom < 0:
                shift += 0.5 * (y0 - y2) / denom
        offset = int(round((shift - reach) * factor + (c0 * factor - nominal[k])))
        starts[k] = nominal[k] + max(-tolerance, min(tolerance, offset))
    return starts


def _overlap_add(excerpt: np.ndarray, starts: np.ndarray, hop: int) -> np.ndarray:
    """Hann-windowed frames of `2 * hop` at `starts`, laid every `hop`: frame k's first half
    lands in output block k, its second half in block k + 1 (the window sums to 1)."""
    window = 2 * hop
    hann = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)).astype(np.float32)
    channels, frames = excerpt.shape[0], starts.shape[0]
    blocks = np.zeros((channels, frames + 1, hop), np.float32)
    offsets = np.arange(window)
    for first in range(0, frames, FRAMES_PER_BLOCK):
        chunk = starts[first:first + FRAMES_PER_BLOCK]
        frames_chunk = excerpt[:, chunk[:, None] + offsets[None, :]] * hann
        count = chunk.shape[0]
        blocks[:, first:first + count] += frames_chunk[:, :, :hop]
        blocks[:, first + 1:first + count + 1] += frames_chunk[:, :, hop:]
    return blocks.reshape(channels, -1)

