"""Fades, clip rendering, loudness normalisation and the true-peak limiter."""
from __future__ import annotations

import numpy as np
import pytest

from mediamesh.audio import loudness, mixing
from mediamesh.audio.mixing import (
    Clip,
    Fade,
    FadeCurve,
    fade_in_gain,
    fade_out_gain,
    limit_true_peak,
    limiter_gain,
    master,
    normalize_loudness,
    peak_envelope,
    render_clips,
)

RATE = 44_100


def music_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Stereo chord plus noise-burst 'drums' every half second: a crest factor like a
    mastered pop song's (true peak ~7 dB above the loudness-normalised level)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    chord = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.15 * np.sin(2 * np.pi * 277 * t + 1)
    out = np.stack([chord, 0.9 * chord]).astype(np.float32)
    decay = np.exp(-np.arange(4000) / 600)
    for beat in np.arange(0, seconds - 0.1, 0.5):
        i = int(beat * RATE)
        out[:, i:i + 4000] += (rng.standard_normal((2, 4000)) * 0.6 * decay).astype(np.float32)
    return out


@pytest.mark.parametrize("curve", list(FadeCurve))
def test_fades_run_from_silence_to_full_and_back(curve: FadeCurve) -> None:
    rising = fade_in_gain(curve, 1000)
    assert rising[0] < 0.01 and rising[-1] > 0.99
    assert np.all(np.diff(rising) >= 0)
    assert np.array_equal(fade_out_gain(curve, 1000), rising[::-1])


def test_curves_differ_where_they_should() -> None:
    n = 1000
    assert fade_in_gain(FadeCurve.LINEAR, n)[n // 2] == pytest.approx(0.5, abs=0.01)
    assert fade_in_gain(FadeCurve.EQUAL_POWER, n)[n // 2] == pytest.approx(0.707, abs=0.01)
    assert fade_in_gain(FadeCurve.S_CURVE, n)[n // 2] == pytest.approx(0.5, abs=0.01)
    assert fade_in_gain(FadeCurve.S_CURVE, n)[n // 10] < fade_in_gain(FadeCurve.LINEAR, n)[n // 10]
    halfway_db = 20 * np.log10(fade_in_gain(FadeCurve.EXPONENTIAL, n)[n // 2])
    assert halfway_db == pytest.approx(-30.0, abs=0.5)  # linear in dB over 60 dB


def test_equal_power_crossfade_keeps_power_of_uncorrelated_signals() -> None:
    rng = np.random.default_rng(4)
    n = 4 * RATE
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    mixed = a * fade_out_gain(FadeCurve.EQUAL_POWER, n) + b * fade_in_gain(FadeCurve.EQUAL_POWER, n)
    power = np.square(mixed).reshape(40, -1).mean(axis=1)
    assert np.all(np.abs(10 * np.log10(power)) < 0.3)  # every 100 ms within 0.3 dB of 1
    linear = a * fade_out_gain(FadeCurve.LINEAR, n) + b * fade_in_gain(FadeCurve.LINEAR, n)
    middle = np.square(linear[n // 2 - 2000:n // 2 + 2000]).mean()
    assert 10 * np.log10(middle) == pytest.approx(-3.0, abs=0.3)  # the dip equal power avoids


def test_render_clips_places_gains_and_fades() -> None:
    ones = np.ones((1, RATE), np.float32)
    mix = render_clips([
        Clip(ones, start=0.0),
        Clip(ones, start=0.5, gain_db=-6.0206, fade_in=Fade(0.5, FadeCurve.LINEAR)),
    ], RATE, channels=2)
    assert mix.shape == (2, int(1.5 * RATE))
    assert mix[0, RATE // 4] == pytest.approx(1.0)
    assert mix[1, int(0.75 * RATE)] == pytest.approx(1.25, abs=0.01)  # 1 + 0.5 * half-faded
    assert mix[0, int(1.25 * RATE)] == pytest.approx(0.5, abs=1e-3)
    assert render_clips([Clip(ones, start=0.5)], RATE, 1, duration=1.0).shape == (1, RATE)


def test_normalise_reaches_the_target() -> None:
    out, gain = normalize_loudness(music_like(10) * 0.1, RATE, -20.0)
    assert loudness.integrated_lufs(out, RATE) == pytest.approx(-20.0, abs=0.05)
    assert gain > 0


def test_limiter_meets_the_ceiling_without_makeup_gain() -> None:
    loud = music_like(20) * 2.0
    assert loudness.true_peak(loud, RATE) > 10.0
    out = limit_true_peak(loud, RATE, -1.0)
    assert loudness.true_peak(out, RATE) <= -1.0
    assert np.all(np.abs(out) <= np.abs(loud) + 1e-6)  # only ever turns down
    quiet = music_like(5) * 0.05
    assert np.array_equal(limit_true_peak(quiet, RATE, -1.0), quiet)  # under the ceiling


def test_limiter_gain_is_smooth() -> None:
    loud = music_like(5) * 2.0
    out = limit_true_peak(loud, RATE, -1.0)
    channel = loud[0]
    safe = np.abs(channel) > 0.05
    gain = out[0][safe] / channel[safe]
    jumps = np.abs(np.diff(20 * np.log10(gain)))
    # a chord sample can sit next to a burst sample, so compare neighbours only
    assert np.percentile(jumps, 99.9) < 0.5


def test_master_hits_loudness_and_true_peak() -> None:
    mastered = master(music_like(30, seed=5), RATE, -14.0, -1.0)
    assert mastered.true_peak_dbtp <= -1.0
    assert loudness.true_peak(mastered.samples, RATE) <= -1.0
    assert loudness.integrated_lufs(mastered.samples, RATE) == pytest.approx(-14.0, abs=0.5)
    assert mastered.integrated_lufs == pytest.approx(-14.0, abs=0.5)


def test_master_without_target_only_limits() -> None:
    quiet = music_like(5) * 0.05
    mastered = master(quiet, RATE, None, -1.0)
    assert mastered.gain_db == 0.0 and np.array_equal(mastered.samples, quiet)


def test_peak_envelope_covers_the_meters_points_on_both_sides_of_each_sample() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(RATE // 10) / RATE
    quarter_rate = np.sin(2 * np.pi * RATE / 4 * t + np.pi / 4)  # peaks 3 dB over samples
    near_nyquist = 0.5 * np.sin(2 * np.pi * 21_000 * t)  # past the meter's filter
    for samples in (rng.standard_normal((2, 3000)).astype(np.float32) * 0.3,
                    np.stack([quarter_rate, near_nyquist]).astype(np.float32)):
        envelope = peak_envelope(samples, RATE)
        assert envelope.shape == (samples.shape[1],)
        for full_band in (False, True):  # gap i lies between samples i-1 and i
            # up to float32 rounding: BLAS sums the two filter matrices in different orders
            gaps = loudness.gap_peaks(samples, RATE, full_band) * (1 - 1e-6)
            assert np.all(envelope >= gaps[:-1]) and np.all(envelope >= gaps[1:])
        assert np.all(envelope >= np.abs(samples).max(axis=0))
        assert 20 * np.log10(envelope.max()) >= loudness.true_peak(samples, RATE) - 1e-6
    assert 20 * np.log10(peak_envelope(quarter_rate, RATE).max()) > -0.4  # not the -3 dB
    assert 20 * np.log10(peak_envelope(near_nyquist, RATE).max()) > 20 * np.log10(0.5) - 0.6


def test_limiter_gain_of_the_peaks_alone_equals_that_of_the_whole_signal() -> None:
    rng = np.random.default_rng(8)
    envelope = np.full(RATE, 0.3, np.float32)
    envelope[[0, 500, 700, 20_000, 20_300, RATE - 1]] = [2.0, 1.5, 3.0, 1.2, 1.1, 2.5]
    envelope[30_000:30_050] = rng.uniform(0.5, 4.0, 50)
    lookahead = int(round(mixing.LIMITER_LOOKAHEAD_S * RATE))
    for ceiling in (-1.0, -6.0, -12.0):  # from a few runs to nearly everything limited
        need = np.maximum(0.0, 20 * np.log10(envelope / mixing.db_to_gain(
            ceiling - mixing.LIMITER_MARGIN_DB)))
        whole = mixing._attenuation_gain(need.astype(np.float32), lookahead,
                                         mixing.LIMITER_RELEASE_DB_PER_S / RATE)
        np.testing.assert_allclose(limiter_gain(envelope, RATE, ceiling), whole, rtol=1e-5)
        assert np.all(limiter_gain(envelope, RATE, ceiling) * envelope
                      <= mixing.db_to_gain(ceiling) * 1.0001)


def test_limiter_leaves_untouched_what_no_peak_reaches() -> None:
    envelope = np.full(RATE, 0.5, np.float32)
    envelope[RATE // 2] = 2.0  # 6 dB over 0 dBTP: released within 0.16 s at 40 dB/s
    gain = limiter_gain(envelope, RATE, 0.0)
    assert gain[RATE // 2] <= 0.5 and np.all(gain <= 1.0)
    assert np.all(gain[:RATE // 2 - 2 * 221] == 1.0)
    assert np.all(gain[RATE // 2 + int(0.2 * RATE):] == 1.0)
