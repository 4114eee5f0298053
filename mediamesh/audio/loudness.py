"""Loudness as broadcasters measure it: ITU-R BS.1770-4 / EBU R128 on float32 audio.

Integrated loudness comes from pyloudnorm (a well-kept BS.1770-4 implementation, MIT).
It has no momentary/short-term meter, loudness range or true peak, so those are here:
  - momentary (400 ms) and short-term (3 s) loudness every 100 ms on the K-weighted signal;
  - loudness range (EBU Tech 3342): short-term values gated at -70 LUFS and -20 LU below
    their power mean, then the 10th to 95th percentile spread;
  - true peak (BS.1770-4 Annex 2): the peak of the signal oversampled 4x (x2 at 88.2/96 kHz).
Samples are (channels, n) float32 in [-1, 1]; results in LUFS, LU, dBTP, dBFS.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pyloudnorm
from scipy.signal import firwin, upfirdn

ABSOLUTE_GATE_LUFS = -70.0
LRA_RELATIVE_GATE_LU = -20.0
HOP_S = 0.1
MOMENTARY_S = 0.4
SHORT_TERM_S = 3.0
TRUE_PEAK_RATE = 176_400  # 4x for 44.1 and 48 kHz (BS.1770-4 Annex 2; libebur128 does the same)
CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)  # L, R, C, Ls, Rs (BS.1770-4)
SILENCE = -math.inf
FLOOR_DB = -200.0  # how SILENCE travels in a protobuf double (JSON has no -inf)


@dataclass(frozen=True)
class LoudnessReport:
    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    momentary_max_lufs: float
    short_term_max_lufs: float


def _db(power_or_amplitude: float, *, power: bool) -> float:
    if power_or_amplitude <= 0:
        return SILENCE
    return (10.0 if power else 20.0) * math.log10(power_or_amplitude)


def _weights(channels: int) -> np.ndarray:
    if channels > len(CHANNEL_WEIGHTS):
        raise ValueError(f"loudness supports up to {len(CHANNEL_WEIGHTS)} channels "
                         f"(L R C Ls Rs), got {channels}")
    return np.array(CHANNEL_WEIGHTS[:channels], dtype=np.float64)


def reportable(value: float) -> float:
    """A level for an API field or a JSON file: -inf (silence) becomes FLOOR_DB."""
    return value if math.isfinite(value) else FLOOR_DB


def integrated_lufs(samples: np.ndarray, rate: int) -> float:
    """Gated integrated loudness (BS.1770-4); -inf for silence or under 400 ms of audio."""
    if samples.shape[-1] < int(MOMENTARY_S * rate):
        return SILENCE
    value = float(pyloudnorm.Meter(rate).integrated_loudness(samples.T.astype(np.float64)))
    return value if math.isfinite(value) else SILENCE


def k_weighted(samples: np.ndarray, rate: int) -> np.ndarray:
    """The K-weighting filters of BS.1770 (pyloudnorm's, so both meters agree)."""
    meter = pyloudnorm.Meter(rate)
    out = samples.astype(np.float64)
    for stage in meter._filters.values():  # noqa: SLF001 - the library's own filter design
        out = np.stack([stage.apply_filter(channel) for channel in out])
    return out


def sliding_loudness(weighted: np.ndarray, rate: int, window_s: float,
                     hop_s: float = HOP_S) -> np.ndarray:
    """Loudness (LUFS) of every `window_s` window, every `hop_s`, via cumulative sums."""
    window, hop = int(round(window_s * rate)), int(round(hop_s * rate))
    n = weighted.shape[-1]
    if n < window:
        return np.array([], dtype=np.float64)
    cumulative = np.concatenate([np.zeros((weighted.shape[0], 1)),
                                 np.cumsum(weighted ** 2, axis=1)], axis=1)
    starts = np.arange(0, n - window + 1, hop)
    mean_square = (cumulative[:, starts + window] - cumulative[:, starts]) / window
    power = _weights(weighted.shape[0]) @ mean_square
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(np.maximum(power, 0.0))


def loudness_range(short_term: np.ndarray) -> float:
    """EBU Tech 3342 loudness range (LU) from short-term loudness values."""
    gated = short_term[short_term > ABSOLUTE_GATE_LUFS]
    if gated.size == 0:
        return 0.0
    mean_power = np.mean(10.0 ** ((gated + 0.691) / 10.0))
    relative_gate = -0.691 + 10.0 * math.log10(mean_power) + LRA_RELATIVE_GATE_LU
    kept = gated[gated > relative_gate]
    if kept.size == 0:
        return 0.0
    return float(np.percentile(kept, 95) - np.percentile(kept, 10))


@functools.cache
def _oversampling_filter(factor: int) -> np.ndarray:
    """A 12-taps-per-phase Kaiser low-pass, the size BS.1770-4 Annex 2 describes (48 taps at
    4x): reads a 12 kHz sine sampled 45 degrees off its peaks within 0.2 dB at 48 kHz."""
    taps = 12 * factor
    return (firwin(taps, 0.9 / factor, window=("kaiser", 8.0)) * factor).astype(np.float32)


def true_peak(samples: np.ndarray, rate: int, chunk_s: float = 10.0) -> float:
    """Peak of the signal oversampled to >= 176.4 kHz (dBTP), in chunks to bound memory."""
    factor = max(1, math.ceil(TRUE_PEAK_RATE / rate))
    if factor == 1:
        return _db(float(np.max(np.abs(samples), initial=0.0)), power=False)
    h = _oversampling_filter(factor)
    chunk, margin = int(chunk_s * rate), len(h)
    peak = 0.0
    for channel in samples.astype(np.float32):
        for start in range(0, channel.shape[0], chunk):
            lo, hi = max(0, start - margin), min(channel.shape[0], start + chunk + margin)
            up = upfirdn(h, channel[lo:hi], factor)
            delay = (len(h) - 1) // 2  # the filter's group delay, in output samples
            first = (start - lo) * factor + delay
            count = min(chunk, channel.shape[0] - start) * factor
            peak = max(peak, float(np.max(np.abs(up[first:first + count]), initial=0.0)))
    return _db(peak, power=False)


def analyze(samples: np.ndarray, rate: int) -> LoudnessReport:
    """Everything R128 asks about a programme."""
    if samples.ndim == 1:
        samples = samples[None]
    weighted = k_weighted(samples, rate)
    momentary = sliding_loudness(weighted, rate, MOMENTARY_S)
    short_term = sliding_loudness(weighted, rate, SHORT_TERM_S)
    return LoudnessReport(
        integrated_lufs=integrated_lufs(samples, rate),
        loudness_range_lu=loudness_range(short_term),
        true_peak_dbtp=true_peak(samples, rate),
        sample_peak_dbfs=_db(float(np.max(np.abs(samples), initial=0.0)), power=False),
        momentary_max_lufs=float(np.max(momentary)) if momentary.size else SILENCE,
        short_term_max_lufs=float(np.max(short_term)) if short_term.size else SILENCE)
