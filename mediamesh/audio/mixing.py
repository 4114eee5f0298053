"""Mixing: fade curves, clips rendered onto one timeline, loudness normalisation and a
true-peak limiter. Samples are float32 (channels, n); times seconds; gains dB; loudness LUFS
(BS.1770 via mediamesh.audio.loudness); peaks dBTP.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from mediamesh.audio import loudness

EXPONENTIAL_RANGE_DB = 60.0  # an exponential fade climbs from -60 dB (then to silence)
LIMITER_LOOKAHEAD_S = 0.005  # gain reaches its target before the peak arrives
LIMITER_RELEASE_DB_PER_S = 40.0  # how fast gain recovers after a peak
LIMITER_MARGIN_DB = 0.05  # aim a hair under the ceiling: gain moves between samples too
MAX_LIMITER_PUSH_DB = 6.0  # never drive the limiter more than this past plain normalisation


class FadeCurve(StrEnum):
    LINEAR = "linear"
    EQUAL_POWER = "equal_power"  # sin/cos: a crossfade of uncorrelated signals keeps power
    EXPONENTIAL = "exponential"  # linear in dB
    S_CURVE = "s_curve"  # raised cosine: gentle at both ends


@dataclass(frozen=True)
class Fade:
    duration: float = 0.0  # seconds; 0 = none
    curve: FadeCurve = FadeCurve.EQUAL_POWER


@dataclass(frozen=True)
class Clip:
    """Samples placed at `start` seconds on the output timeline."""

    samples: np.ndarray  # (channels, n) float32, already at the mix rate and channel count
    start: float = 0.0
    gain_db: float = 0.0
    fade_in: Fade = Fade()
    fade_out: Fade = Fade()


def fade_in_gain(curve: FadeCurve, length: int) -> np.ndarray:
    """Gain rising from 0 to 1 over `length` samples, sampled at the sample centres so the
    reversed curve (the fade-out) is its exact complement: an EQUAL_POWER pair over the same
    samples sums to constant power (sin^2 + cos^2 = 1), a LINEAR pair to constant gain."""
    t = (np.arange(length, dtype=np.float64) + 0.5) / max(length, 1)
    if curve is FadeCurve.LINEAR:
        gain = t
    elif curve is FadeCurve.EQUAL_POWER:
        gain = np.sin(0.5 * np.pi * t)
    elif curve is FadeCurve.EXPONENTIAL:
        floor = 10.0 ** (-EXPONENTIAL_RANGE_DB / 20.0)
        gain = (10.0 ** (EXPONENTIAL_RANGE_DB * (t - 1.0) / 20.0) - floor) / (1.0 - floor)
    elif curve is FadeCurve.S_CURVE:
        gain = 0.5 - 0.5 * np.cos(np.pi * t)
    else:  # pragma: no cover - the enum is closed
        raise ValueError(f"unknown fade curve {curve!r}")
    return gain.astype(np.float32)


def fade_out_gain(curve: FadeCurve, length: int) -> np.ndarray:
    """Gain falling from 1 to 0 over `length` samples: the fade-in reversed."""
    return fade_in_gain(curve, length)[::-1].copy()


def apply_fades(samples: np.ndarray, rate: int, fade_in: Fade, fade_out: Fade) -> np.ndarray:
    """A copy of `samples` with the fades applied at its two ends."""
    out = np.array(samples, dtype=np.float32, copy=True)
    n = out.shape[-1]
    head = min(n, int(round(fade_in.duration * rate)))
    tail = min(n, int(round(fade_out.duration * rate)))
    if head:
        out[..., :head] *= fade_in_gain(fade_in.curve, head)
    if tail:
        out[..., n - tail:] *= fade_out_gain(fade_out.curve, tail)
    return out


def match_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    """(n,) or (c, n) samples as (channels, n): mono is copied to every channel, anything
    else is downmixed to mono first when the counts differ."""
    planar = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    if planar.shape[0] == channels:
        return planar
    mono = planar.mean(axis=0, keepdims=True)
    return np.repeat(mono, channels, axis=0)


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def render_clips(clips: Sequence[Clip], rate: int, channels: int,
                 duration: float | None = None) -> np.ndarray:
    """Sum the clips (faded, gained) onto one (channels, n) buffer; n covers the last clip's
    end unless `duration` (seconds) is given."""
    ends = [int(round(c.start * rate)) + c.samples.shape[-1] for c in clips]
    total = int(round(duration * rate)) if duration is not None else max(ends, default=0)
    mix = np.zeros((channels, total), np.float32)
    for clip in clips:
        begin = int(round(clip.start * rate))
        if begin >= total:
            continue
        audio = apply_fades(match_channels(clip.samples, channels), rate, clip.fade_in,
                            clip.fade_out)
        audio = audio[:, :total - begin]
        mix[:, begin:begin + audio.shape[1]] += audio * db_to_gain(clip.gain_db)
    return mix


def loudness_gain_db(samples: np.ndarray, rate: int, target_lufs: float) -> float:
    """Gain (dB) that brings `samples` to `target_lufs`; 0 for silence."""
    measured = loudness.integrated_lufs(np.atleast_2d(samples), rate)
    return 0.0 if not math.isfinite(measured) else target_lufs - measured


def normalize_loudness(samples: np.ndarray, rate: int, target_lufs: float
                       ) -> tuple[np.ndarray, float]:
    """`samples` gained to `target_lufs` (integrated), and the gain applied in dB."""
    gain = loudness_gain_db(samples, rate, target_lufs)
    return (samples * db_to_gain(gain)).astype(np.float32), gain


def peak_envelope(samples: np.ndarray, rate: int) -> np.ndarray:
    """Per-sample peak over all channels of the signal as the true-peak meter oversamples
    it, in the gaps on both sides of each sample (and the sample itself): whatever gain
    covers a sample's envelope covers every point the meter reads around it, so the
    limiter and loudness.true_peak agree. The full-band reconstruction counts too (the
    meter's filter stops short of Nyquist; a file read at another rate would not). It
    scales with any gain applied to `samples`, so the limiter computes it once however
    often it retries."""
    planar = np.atleast_2d(samples)
    peak = np.abs(planar).max(axis=0)
    if loudness.oversampling_factor(rate) == 1:
        return peak  # the meter reads the samples themselves
    gaps = loudness.gap_peaks(planar, rate, full_band=True)
    return np.maximum(peak, np.maximum(gaps[:-1], gaps[1:]))


def limiter_gain(envelope: np.ndarray, rate: int, ceiling_dbtp: float) -> np.ndarray:
    """Per-sample gain (<= 1) that keeps a signal with this `peak_envelope` under the ceiling.

    The attenuation each sample needs is held over the lookahead, released at a fixed dB/s
    rate (a running max, so it vectorises), then averaged over the lookahead: every value
    in that average already covers the sample, so the result never attenuates too little.
    Only the samples some peak reaches are computed (a few percent of a typical master).
    """
    ceiling = db_to_gain(ceiling_dbtp - LIMITER_MARGIN_DB)
    need_db = np.maximum(0.0, 20.0 * np.log10(np.maximum(envelope, 1e-12) / ceiling))
    gain = np.ones(envelope.shape[0], np.float32)
    peaks = np.flatnonzero(need_db > 0)
    if peaks.size == 0:
        return gain
    lookahead = max(1, int(round(LIMITER_LOOKAHEAD_S * rate)))
    release = LIMITER_RELEASE_DB_PER_S / rate  # dB per sample
    reached = _reached(peaks, need_db[peaks] / release, lookahead, gain.shape[0])
    if reached.size > gain.shape[0] // 2:  # gathering would cost more than it saves
        return _attenuation_gain(need_db, lookahead, release)
    gain[reached] = _attenuation_gain(need_db[reached], lookahead, release)
    return gain


def _reached(peaks: np.ndarray, release_samples: np.ndarray, lookahead: int, n: int
             ) -> np.ndarray:
    """Indices of the samples whose gain a peak can lower, with margins of untouched
    samples around each run of them: the hold and the attack's average reach two
    lookaheads before a peak, the release and the average its release time plus one after.
    Every run starts and ends at rest, so the runs can be limited back to back as one
    array and give what limiting the whole signal gives."""
    window = lookahead + 1
    first = np.maximum(peaks - 2 * window, 0)  # ascending, as `peaks` is
    end = np.maximum.accumulate(np.minimum(
        peaks + np.ceil(release_samples).astype(np.int64) + 2 * window, n))
    opens = np.flatnonzero(first[1:] > end[:-1]) + 1  # a run starts after a gap
    edges = np.zeros(n + 1, np.int8)
    edges[first[np.r_[0, opens]]] = 1
    edges[end[np.r_[opens - 1, -1]]] = -1
    return np.flatnonzero(np.cumsum(edges[:n], dtype=np.int8))


def _attenuation_gain(need_db: np.ndarray, lookahead: int, release_db: float) -> np.ndarray:
    """The limiter's gain for samples needing `need_db` of attenuation each: hold, release
    at `release_db` per sample, attack average (see limiter_gain)."""
    window = lookahead + 1
    # hold: the attenuation at i covers every peak in [i, i + lookahead]
    held = maximum_filter1d(need_db, size=window, origin=-(window // 2))
    ramp = release_db * np.arange(need_db.shape[0], dtype=np.float64)
    released = np.maximum.accumulate(held + ramp) - ramp  # recovers at the release rate
    # attack: mean over [i - lookahead, i]
    smooth = uniform_filter1d(released.astype(np.float32), size=window,
                              origin=(window - 1) // 2)
    smooth = np.maximum(smooth, need_db)  # the array edges, where the window is reflected
    return np.exp(smooth * -math.log(10.0) / 20.0).astype(np.float32, copy=False)


def _limited(planar: np.ndarray, envelope: np.ndarray, rate: int, ceiling_dbtp: float,
             gain: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Limit and verify with the BS.1770 meter; gain moving between samples can add a few
    hundredths of a dB, so tighten by the overshoot and redo until the meter agrees.
    `gain`: limiter_gain(envelope, rate, ceiling_dbtp), if the caller has it already."""
    aim = ceiling_dbtp
    for _ in range(4):
        if gain is None:
            gain = limiter_gain(envelope, rate, aim)
        out = planar * gain
        peak = loudness.true_peak(out, rate)
        if peak <= ceiling_dbtp:
            break
        aim -= peak - ceiling_dbtp + 0.02
        gain = None
    return out, peak


def limit_true_peak(samples: np.ndarray, rate: int, ceiling_dbtp: float) -> np.ndarray:
    """`samples` through a lookahead true-peak limiter (no make-up gain): the result's true
    peak (loudness.true_peak) is <= `ceiling_dbtp`. Material under it passes unchanged."""
    planar = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    out, _ = _limited(planar, peak_envelope(planar, rate), rate, ceiling_dbtp)
    return out if samples.ndim > 1 else out[0]


def _estimated_lufs(power: np.ndarray, gain: np.ndarray, rate: int) -> float:
    """Gated integrated loudness (BS.1770) of a signal times `gain`, from the signal's
    K-weighted power: the K filter is linear and limiter gain moves slowly against it,
    so weighting once and scaling is within a few hundredths of an LU of re-weighting on
    every try, at a tenth of the cost. Final figures are measured exactly."""
    return loudness.gated_loudness(power * np.square(gain, dtype=np.float64), rate)


@dataclass(frozen=True)
class Mastered:
    samples: np.ndarray
    gain_db: float  # normalisation gain applied before the limiter
    true_peak_dbtp: float
    rate: int

    @functools.cached_property
    def integrated_lufs(self) -> float:
        """Measured with the reference meter when asked: mastering itself never needs it."""
        return loudness.integrated_lufs(self.samples, self.rate)


@dataclass(frozen=True)
class MasterAnalysis:
    """What mastering measures once per mix, however many targets it is then run for."""

    envelope: np.ndarray  # peak_envelope
    power: np.ndarray  # loudness.weighted_power
    integrated_lufs: float  # from `power`; -inf for silence

    @classmethod
    def of(cls, samples: np.ndarray, rate: int) -> MasterAnalysis:
        planar = np.atleast_2d(samples)
        power = loudness.weighted_power(planar, rate)
        return cls(peak_envelope(planar, rate), power, loudness.gated_loudness(power, rate))


def master(samples: np.ndarray, rate: int, target_lufs: float | None,
           ceiling_dbtp: float | None, analysis: MasterAnalysis | None = None) -> Mastered:
    """Normalise to `target_lufs` (None = keep the level), then true-peak limit to
    `ceiling_dbtp` (None = no limiter). Limiting lowers loudness, so the input gain is
    raised by the shortfall (secant steps) and the limiter re-run; the limiter itself
    never adds gain, and the output's true peak stays under the ceiling. Pass `analysis`
    (MasterAnalysis.of the same samples) to master one mix for several targets cheaply."""
    planar = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    if ceiling_dbtp is None:
        gain = loudness_gain_db(planar, rate, target_lufs) if target_lufs is not None else 0.0
        out = (planar * db_to_gain(gain)).astype(np.float32)
        return Mastered(out, gain, loudness.true_peak(out, rate), rate)
    analysis = analysis or MasterAnalysis.of(planar, rate)
    gain, reduction = _limited_gain(analysis, rate, target_lufs, ceiling_dbtp)
    scale = db_to_gain(gain)
    out, peak = _limited((planar * scale).astype(np.float32), analysis.envelope * scale, rate,
                         ceiling_dbtp, reduction)
    return Mastered(out, gain, peak, rate)


def _limited_gain(analysis: MasterAnalysis, rate: int, target_lufs: float | None,
                  ceiling_dbtp: float) -> tuple[float, np.ndarray]:
    """The input gain (dB) whose limited result meets `target_lufs` (secant steps on the
    estimated loudness), and the limiter's gain at it."""
    envelope, power = analysis.envelope, analysis.power
    gain = target_lufs - analysis.integrated_lufs if target_lufs is not None \
        and math.isfinite(analysis.integrated_lufs) else 0.0
    first_gain = gain
    previous: tuple[float, float] | None = None
    for _ in range(8):
        scale = db_to_gain(gain)
        reduction = limiter_gain(envelope * scale, rate, ceiling_dbtp)
        measured = _estimated_lufs(power, scale * reduction, rate)
        if target_lufs is None or not math.isfinite(measured) \
                or abs(measured - target_lufs) < 0.05:
            return gain, reduction
        slope = 1.0
        if previous is not None and gain != previous[0]:
            slope = min(1.0, max(0.2, (measured - previous[1]) / (gain - previous[0])))
        previous = (gain, measured)
        gain = min(gain + (target_lufs - measured) / slope, first_gain + MAX_LIMITER_PUSH_DB)
        if previous[0] == gain:
            return gain, reduction  # pushed as far as it may go
    return gain, limiter_gain(envelope * db_to_gain(gain), rate, ceiling_dbtp)
