"""Loudness against signals whose answers EBU Tech 3341/3342 and BS.1770 give exactly."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mediamesh.audio import loudness as L

RATE = 48_000


def sine(seconds: float, dbfs: float, hz: float = 1000.0, phase: float = 0.0,
         channels: int = 2, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = (10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t + phase)).astype(np.float32)
    return np.stack([wave] * channels)


def test_stereo_sine_at_minus_23_dbfs_reads_minus_23_lufs() -> None:  # EBU 3341 case 1
    report = L.analyze(sine(20, -23.0), RATE)
    assert report.integrated_lufs == pytest.approx(-23.0, abs=0.1)
    assert report.momentary_max_lufs == pytest.approx(-23.0, abs=0.1)
    assert report.short_term_max_lufs == pytest.approx(-23.0, abs=0.1)
    assert report.loudness_range_lu == pytest.approx(0.0, abs=0.1)


def test_mono_full_scale_sine_reads_minus_3_lufs() -> None:  # the BS.1770 calibration
    assert L.integrated_lufs(sine(10, 0.0, channels=1), RATE) == pytest.approx(-3.01, abs=0.05)


@pytest.mark.parametrize("first,second,expected", [(-20, -30, 10.0), (-20, -15, 5.0)])
def test_loudness_range_of_two_levels(first: float, second: float, expected: float) -> None:
    programme = np.concatenate([sine(20, first), sine(20, second)], axis=1)  # EBU 3342 1, 2
    assert L.analyze(programme, RATE).loudness_range_lu == pytest.approx(expected, abs=1.0)


def test_gating_ignores_quiet_and_silent_parts() -> None:  # EBU 3341 case 3, plus silence
    quiet = np.zeros((2, 10 * RATE), np.float32)
    programme = np.concatenate([sine(10, -36.0), sine(60, -23.0), sine(10, -36.0), quiet],
                               axis=1)
    assert L.integrated_lufs(programme, RATE) == pytest.approx(-23.0, abs=0.1)
    assert L.integrated_lufs(quiet, RATE) == -math.inf
    assert L.integrated_lufs(sine(0.2, -23.0), RATE) == -math.inf  # under one 400 ms block


@pytest.mark.parametrize("rate,hz", [(48_000, 12_000.0), (44_100, 11_025.0)])
def test_true_peak_sees_the_peak_between_samples(rate: int, hz: float) -> None:
    # a quarter-rate sine sampled 45 degrees off its peaks: samples at -3.01 dBFS, true 0 dBTP
    signal = sine(1, 0.0, hz=hz, phase=math.pi / 4, channels=1, rate=rate)
    report = L.analyze(signal, rate)
    assert report.sample_peak_dbfs == pytest.approx(-3.01, abs=0.01)
    assert -0.4 <= report.true_peak_dbtp <= 0.2  # EBU Tech 3341's true-peak tolerance


def test_true_peak_of_a_low_sine_equals_its_sample_peak() -> None:
    assert L.true_peak(sine(1, -6.0, hz=997.0), RATE) == pytest.approx(-6.0, abs=0.05)


def test_too_many_channels_is_refused() -> None:
    with pytest.raises(ValueError, match="up to 5 channels"):
        L.analyze(sine(1, -20.0, channels=6), RATE)
