"""The fast paths of the loudness meter against the slow, obvious computations they replace:
the polyphase true peak against scipy's upfirdn, gated loudness from K-weighted power
against pyloudnorm."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import upfirdn

from mediamesh.audio import loudness as L


def reference_gaps(samples: np.ndarray, rate: int, full_band: bool = False) -> np.ndarray:
    """Per gap between samples (n + 1 of them, the signal zero outside), the peak over
    channels of upfirdn's oversampled signal, its group delay removed."""
    factor = L.oversampling_factor(rate)
    filters = [L._oversampling_filter(factor)]
    if full_band:
        filters.append(L._full_band_filter(factor))
    n = samples.shape[-1]
    peaks = np.zeros(n + 1)
    for h in filters:
        for channel in np.atleast_2d(samples):
            up = np.abs(upfirdn(h, channel.astype(np.float64), factor))
            times = (np.arange(up.size) - (len(h) - 1) / 2) / factor  # in input samples
            inside = (times > -1) & (times < n)
            gap = np.floor(times[inside]).astype(int) + 1  # gap i: from sample i-1 to i
            np.maximum.at(peaks, gap, up[inside])
    return peaks


def chunk_gaps(full_band: bool = False) -> int:
    """Gaps the meter filters per matrix product."""
    matrix = L._block_filter(4, full_band)
    return L._CHUNK_MACS // matrix.size * L._GAPS_PER_ROW


def db(value: float) -> float:
    return 20 * math.log10(value)


def signals(rate: int) -> list[np.ndarray]:
    rng = np.random.default_rng(rate)
    t = np.arange(3 * chunk_gaps() + 37) / rate
    sine = np.sin(2 * np.pi * (rate / 4) * t + math.pi / 4)  # peaks fall between samples
    chirp = 0.7 * np.sin(2 * np.pi * (200 + 3000 * t) * t)
    return [rng.standard_normal((2, 5000)).astype(np.float32) * 0.3,
            np.stack([sine, 0.5 * sine]).astype(np.float32),
            chirp[None].astype(np.float32),
            rng.uniform(-1, 1, (1, 7)).astype(np.float32)]


@pytest.mark.parametrize("rate", [44_100, 48_000, 88_200, 96_000])
def test_true_peak_equals_upfirdn(rate: int) -> None:
    for samples in signals(rate):
        expected = db(float(reference_gaps(samples, rate).max()))
        assert L.true_peak(samples, rate) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("rate", [44_100, 96_000])
def test_gap_peaks_are_the_peak_of_each_gap(rate: int) -> None:
    for samples in signals(rate):
        gaps = L.gap_peaks(samples, rate)
        assert gaps.shape == (samples.shape[-1] + 1,)
        np.testing.assert_allclose(gaps, reference_gaps(samples, rate), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("full_band", [False, True])
def test_a_peak_on_a_chunk_boundary_is_found(full_band: bool) -> None:
    chunk = chunk_gaps(full_band)
    for at in (chunk - 1, chunk, chunk + 1):
        click = np.zeros((2, 3 * chunk), np.float32)
        click[1, at] = 0.5
        gaps = L.gap_peaks(click, 48_000, full_band)
        assert int(np.argmax(gaps)) in (at, at + 1)  # either side
        np.testing.assert_allclose(gaps, reference_gaps(click, 48_000, full_band),
                                   rtol=1e-5, atol=1e-7)
        expected = db(float(reference_gaps(click, 48_000).max()))
        assert L.true_peak(click, 48_000) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("rate", [44_100, 96_000])
def test_full_band_gaps_add_the_full_band_filters_peaks(rate: int) -> None:
    for samples in signals(rate):
        gaps = L.gap_peaks(samples, rate, full_band=True)
        np.testing.assert_allclose(gaps, reference_gaps(samples, rate, full_band=True),
                                   rtol=1e-5, atol=1e-7)
        # the same meter columns, summed by BLAS in another order for a wider matrix: equal
        # up to float32 rounding (2e-7 relative measured; the kernel depends on the CPU)
        assert np.all(gaps >= L.gap_peaks(samples, rate) * (1 - 1e-6))


def test_full_band_sees_what_the_meter_misses_near_nyquist() -> None:
    t = np.arange(4410) / 44_100
    high = (0.5 * np.sin(2 * np.pi * 21_000 * t + 0.3))[None].astype(np.float32)
    meter = db(float(L.gap_peaks(high, 44_100)[100:-100].max()))
    full_band = db(float(L.gap_peaks(high, 44_100, full_band=True)[100:-100].max()))
    assert meter < db(0.5) - 3.0  # 21 kHz is past the meter's 19.8 kHz cut-off
    assert full_band == pytest.approx(db(0.5), abs=1.0)


def test_no_oversampling_from_176k() -> None:
    samples = signals(192_000)[0]
    assert L.oversampling_factor(192_000) == 1
    assert L.true_peak(samples, 192_000) == pytest.approx(db(float(np.abs(samples).max())))
    with pytest.raises(ValueError, match="no oversampling"):
        L.gap_peaks(samples, 192_000)


def test_silence_and_empty_read_minus_infinity() -> None:
    assert L.true_peak(np.zeros((2, 1000), np.float32), 44_100) == -math.inf
    assert L.true_peak(np.zeros((2, 0), np.float32), 44_100) == -math.inf
    assert L.gap_peaks(np.zeros((1, 0), np.float32), 44_100).shape == (1,)


@pytest.mark.parametrize("rate", [44_100, 48_000])
def test_gated_loudness_of_weighted_power_equals_pyloudnorm(rate: int) -> None:
    rng = np.random.default_rng(7)
    t = np.arange(int(12.34 * rate)) / rate
    music = (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 0.3 * t))
             + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    quiet_then_loud = np.concatenate([music[:3 * rate] * 0.001, music[3 * rate:]])
    cases = [np.stack([music, 0.8 * music]), quiet_then_loud[None],
             rng.standard_normal((5, 2 * rate)).astype(np.float32) * 0.1,
             music[None, :int(0.45 * rate)]]
    for samples in cases:
        expected = L.integrated_lufs(samples, rate)
        got = L.gated_loudness(L.weighted_power(samples, rate), rate)
        assert got == pytest.approx(expected, abs=1e-9)


def test_gated_loudness_of_silence_and_scraps() -> None:
    assert L.gated_loudness(np.zeros(48_000), 48_000) == -math.inf
    assert L.gated_loudness(np.ones(1000), 48_000) == -math.inf  # under one 400 ms block
    power = L.weighted_power(np.full((1, 48_000), 0.5, np.float32), 48_000)
    assert power.shape == (48_000,)
    assert L.gated_loudness(4 * power, 48_000) == pytest.approx(
        L.gated_loudness(power, 48_000) + 10 * math.log10(4), abs=1e-9)


def test_ringing_past_the_last_gap_is_not_read() -> None:
    for n in range(1, 40):  # every position of the end within a row of the block filter
        ramp = np.zeros((1, n), np.float32)
        ramp[0, -1] = 1.0  # a step down to silence rings on for several samples
        expected = db(float(reference_gaps(ramp, 44_100).max()))
        assert L.true_peak(ramp, 44_100) == pytest.approx(expected, abs=1e-5)
