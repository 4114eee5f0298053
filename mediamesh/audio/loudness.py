"""Loudness as broadcasters measure it: ITU-R BS.1770-4 / EBU R128 on float32 audio.

Integrated loudness comes from pyloudnorm (a well-kept BS.1770-4 implementation, MIT).
It has no momentary/short-term meter, loudness range or true peak, so those are here:
  - momentary (400 ms) and short-term (3 s) loudness every 100 ms on the K-weighted signal;
  - loudness range (EBU Tech 3342): short-term values gated at -70 LUFS and -20 LU below
    their power mean, then the 10th to 95th percentile spread;
  - true peak (BS.1770-4 Annex 2): the peak of the signal oversampled 4x (x2 at 88.2/96 kHz),
    the polyphase filter run as one matrix product per block of samples (BLAS);
  - gated loudness from K-weighted power, for trying gains without filtering again.
Samples are (channels, n) float32 in [-1, 1]; results in LUFS, LU, dBTP, dBFS.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyloudnorm
from numpy.lib.stride_tricks import as_strided
from scipy.signal import firwin, sosfilt

ABSOLUTE_GATE_LUFS = -70.0
LRA_RELATIVE_GATE_LU = -20.0
HOP_S = 0.1
MOMENTARY_S = 0.4  # the gating block of integrated loudness, too
BLOCK_OVERLAP = 0.75  # gating blocks start every 100 ms (BS.1770-4)
SHORT_TERM_S = 3.0
TRUE_PEAK_RATE = 176_400  # 4x for 44.1 and 48 kHz (BS.1770-4 Annex 2; libebur128 does the same)
TAPS_PER_PHASE = 12  # of the oversampling filter (48 taps at 4x, as Annex 2)
FULL_BAND_TAPS_PER_PHASE = 20  # of the full-band one the limiter also heeds
_GAPS_PER_ROW = 16  # gaps per row of the block filter: longer rows waste flops on zeros
# Multiply-adds per matrix product (per channel): bounds memory, and keeps each product
# small enough that OpenBLAS runs it on one thread (from ~1M it uses both, whose threads
# then spin on, doubling the CPU time of this and whatever numpy work follows).
_CHUNK_MACS = 1 << 19
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


@functools.cache
def _k_filter(rate: int) -> np.ndarray:
    """pyloudnorm's two K-weighting biquads (so both meters agree) as second-order
    sections: sosfilt runs both in one pass, three times faster than lfilter twice."""
    stages = pyloudnorm.Meter(rate)._filters.values()  # noqa: SLF001 - its filter design
    return np.array([np.concatenate([stage.passband_gain * stage.b, stage.a]) / stage.a[0]
                     for stage in stages])


def k_weighted(samples: np.ndarray, rate: int) -> np.ndarray:
    """The K-weighting filters of BS.1770 (pyloudnorm's), in float64 like pyloudnorm."""
    planar = np.atleast_2d(samples).astype(np.float64)
    return sosfilt(_k_filter(rate), planar, axis=-1) if planar.shape[-1] else planar


def weighted_power(samples: np.ndarray, rate: int) -> np.ndarray:
    """(n,) K-weighted power summed over channels with their BS.1770 weights: all that
    gated loudness needs, and a gain g on the signal simply scales it by g**2."""
    weighted = k_weighted(samples, rate)
    weights = _weights(weighted.shape[0])
    power = np.zeros(weighted.shape[-1])
    for weight, channel in zip(weights, weighted):
        power += weight * np.square(channel)
    return power


def _gating_blocks(n: int, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """[lower, upper) sample bounds of pyloudnorm's gating blocks (400 ms every 100 ms, the
    last may run past the end), computed with its arithmetic so the blocks are the same."""
    step = 1.0 - BLOCK_OVERLAP
    count = int(np.round((n / rate - MOMENTARY_S) / (MOMENTARY_S * step))) + 1
    j = np.arange(count)
    lower = (MOMENTARY_S * (j * step) * rate).astype(np.int64)
    upper = (MOMENTARY_S * (j * step + 1) * rate).astype(np.int64)
    return np.minimum(lower, n), np.minimum(upper, n)


def gated_loudness(power: np.ndarray, rate: int) -> float:
    """Gated integrated loudness (LUFS) from `weighted_power`: pyloudnorm's blocks and gates
    (-70 LUFS absolute, -10 LU relative) on a signal already weighted, so a gain or limiter
    can be tried without filtering again. integrated_lufs stays the reference."""
    n = power.shape[-1]
    if n < int(MOMENTARY_S * rate):
        return SILENCE
    lower, upper = _gating_blocks(n, rate)
    cumulative = np.concatenate([[0.0], np.cumsum(power)])
    block = np.maximum(cumulative[upper] - cumulative[lower], 0.0) / (MOMENTARY_S * rate)
    with np.errstate(divide="ignore"):
        lufs = -0.691 + 10.0 * np.log10(block)
    audible = block[lufs >= ABSOLUTE_GATE_LUFS]
    if audible.size == 0:
        return SILENCE
    relative_gate = -0.691 + 10.0 * math.log10(float(np.mean(audible))) - 10.0
    kept = block[(lufs > relative_gate) & (lufs > ABSOLUTE_GATE_LUFS)]
    return _db(float(np.mean(kept)), power=True) - 0.691 if kept.size else SILENCE


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
    taps = TAPS_PER_PHASE * factor
    return (firwin(taps, 0.9 / factor, window=("kaiser", 8.0)) * factor).astype(np.float32)


@functools.cache
def _full_band_filter(factor: int) -> np.ndarray:
    """resample_poly's default low-pass (cut at the input's Nyquist, Kaiser 5, 10 zero
    crossings a side), even-length so its points fall where the meter's do. The meter's
    filter stops at 0.9 Nyquist, blind to what a resampler or DAC rebuilds above it: on
    noise bursts at 44.1 kHz the peaks it misses reach 0.7 dB (a file read at 48 kHz)."""
    taps = FULL_BAND_TAPS_PER_PHASE * factor
    return (firwin(taps, 1.0 / factor, window=("kaiser", 5.0)) * factor).astype(np.float32)


def oversampling_factor(rate: int) -> int:
    """4 at 44.1/48 kHz, 2 at 88.2/96 kHz, 1 (no oversampling) from 176.4 kHz up."""
    return max(1, math.ceil(TRUE_PEAK_RATE / rate))


@functools.cache
def _block_filter(factor: int, full_band: bool) -> np.ndarray:
    """The oversampling filter(s) as one matrix, so BLAS does the filtering: a row of
    B + taps - 1 samples from x[rB - taps/2] times it gives the `factor` oversampled values
    inside each of the B gaps between x[rB+j-1] and x[rB+j] (at (q + 0.5) / factor of a
    sample past the left one, group delay removed), laid out phase-major (q * B + j) so
    the peak over phases is an elementwise max of contiguous runs rather than a reduction
    over a short axis. The meter's filter in polyphase form (upfirdn's result), and with
    `full_band` the full-band filter's columns beside it."""
    filters = [_oversampling_filter(factor)]
    if full_band:
        filters.append(_full_band_filter(factor))
    taps = max(len(h) // factor for h in filters)
    blocks = []
    for h in filters:
        phases = h.reshape(-1, factor)[::-1]
        offset = (taps - phases.shape[0]) // 2  # a shorter filter sits in the middle
        block = np.zeros((_GAPS_PER_ROW + taps - 1, factor, _GAPS_PER_ROW), np.float32)
        for j in range(_GAPS_PER_ROW):
            block[offset + j:offset + j + phases.shape[0], :, j] = phases
        blocks.append(block.reshape(-1, factor * _GAPS_PER_ROW))
    return np.concatenate(blocks, axis=1)


def _oversampled(samples: np.ndarray, factor: int, full_band: bool = False
                 ) -> Iterator[np.ndarray]:
    """|oversampled signal| as (channels, rows, phases * B) blocks from the block filter,
    row r holding gaps rB .. rB + B - 1 (gap i lies between samples i - 1 and i; the
    signal is zero outside, so there are n + 1 gaps: any past them in the last row read
    0). Only the padded input is held whole, never the oversampled signal."""
    planar = np.atleast_2d(samples)
    channels, n = planar.shape
    matrix = _block_filter(factor, full_band)
    width = matrix.shape[0]
    rows = -(-(n + 1) // _GAPS_PER_ROW)
    padded = np.zeros((channels, (rows - 1) * _GAPS_PER_ROW + width), np.float32)
    left = (width - _GAPS_PER_ROW + 1) // 2  # the filter's taps before a row's first gap
    padded[:, left:left + n] = planar
    step = padded.strides[1]
    windows = as_strided(padded, shape=(channels, rows, width), writeable=False,
                         strides=(padded.strides[0], _GAPS_PER_ROW * step, step))
    per_chunk = max(1, _CHUNK_MACS // matrix.size)
    for first in range(0, rows, per_chunk):
        values = np.ascontiguousarray(windows[:, first:first + per_chunk]) @ matrix
        if first + per_chunk >= rows:  # the last row's gaps past the signal's ringing
            tail = values.reshape(channels, -1, matrix.shape[1] // _GAPS_PER_ROW,
                                  _GAPS_PER_ROW)[:, -1]
            tail[:, :, n + 1 - (rows - 1) * _GAPS_PER_ROW:] = 0.0
        yield np.abs(values, out=values)


def gap_peaks(samples: np.ndarray, rate: int, full_band: bool = False) -> np.ndarray:
    """(n + 1,) peak of the true-peak meter's oversampled signal between each pair of
    neighbouring samples, over all channels: entry i covers the gap from sample i - 1 to
    sample i (entries 0 and n the ringing before the first and after the last). The meter
    (true_peak) is their maximum; a limiter that keeps both gaps around every sample under
    its ceiling therefore satisfies the meter. `full_band` also covers the full-band
    reconstruction the meter's filter cannot see. Needs oversampling (rate < 176.4 kHz)."""
    factor = oversampling_factor(rate)
    if factor == 1:
        raise ValueError(f"no oversampling at {rate} Hz: the sample peak is the true peak")
    peaks = []
    for values in _oversampled(samples, factor, full_band):
        phases = values.reshape(values.shape[0], values.shape[1], -1, _GAPS_PER_ROW)
        peak = phases[:, :, 0].copy()
        for phase in range(1, phases.shape[2]):  # elementwise: a reduction over 4 is slower
            np.maximum(peak, phases[:, :, phase], out=peak)
        peaks.append(np.max(peak, axis=0).reshape(-1))
    return np.concatenate(peaks)[:np.atleast_2d(samples).shape[-1] + 1]


def true_peak(samples: np.ndarray, rate: int) -> float:
    """Peak of the signal oversampled to >= 176.4 kHz (dBTP), in chunks to bound memory.
    Every oversampled point from the first sample's left gap to the last's right gap
    counts (the signal is zero outside it, as a player reconstructs it)."""
    factor = oversampling_factor(rate)
    if factor == 1:
        return _db(float(np.max(np.abs(samples), initial=0.0)), power=False)
    peak = max(float(values.max()) for values in _oversampled(samples, factor))
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
