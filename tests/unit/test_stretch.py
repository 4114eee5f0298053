"""WSOLA time-stretch: beats land where the time map says, pitch stays, lengths are exact."""
from __future__ import annotations

import time

import numpy as np
import pytest

from mediamesh.audio.stretch import TimeMap, change_tempo_and_pitch, stretch, stretch_constant

RATE = 44_100


def click_train(times: np.ndarray, seconds: float, rate: int = RATE) -> np.ndarray:
    """Short decaying noise bursts (drum-like clicks) at `times`, over a quiet noise bed."""
    rng = np.random.default_rng(1)
    out = (rng.standard_normal(int(seconds * rate)) * 0.01).astype(np.float32)
    burst = (rng.standard_normal(400) * np.exp(-np.arange(400) / 60.0)).astype(np.float32)
    for t in times:
        i = int(round(t * rate))
        out[i:i + 400] += burst[:out.shape[0] - i]
    return out


def onsets(signal: np.ndarray, count: int, rate: int = RATE) -> np.ndarray:
    """Times of the `count` strongest rises of the 1 ms energy envelope, sorted."""
    hop = rate // 1000
    energy = np.square(signal[: signal.shape[0] // hop * hop]).reshape(-1, hop).sum(axis=1)
    rise = np.maximum(np.diff(np.log(energy + 1e-6)), 0)
    found: list[int] = []
    for index in np.argsort(rise)[::-1]:
        if all(abs(index - f) > 50 for f in found):  # one onset per 50 ms
            found.append(int(index))
        if len(found) == count:
            break
    return np.sort(np.array(found) + 1) * hop / rate


def test_drifting_clicks_land_on_a_uniform_grid() -> None:
    # A song whose tempo drifts 110 -> 130 BPM, warped onto a uniform 120 BPM grid.
    periods = 60.0 / np.linspace(110, 130, 40)
    beats = 0.5 + np.concatenate([[0.0], np.cumsum(periods[:-1])])
    source = click_train(beats, beats[-1] + 1.0)
    grid = 0.25 + np.arange(beats.shape[0]) * 0.5
    out_seconds = grid[-1] + 0.5
    time_map = TimeMap(grid, beats)
    out = stretch(source, RATE, time_map, int(out_seconds * RATE))
    assert out.shape == (int(out_seconds * RATE),)
    found = onsets(out, beats.shape[0])
    assert np.max(np.abs(found - grid)) < 0.010


@pytest.mark.parametrize("ratio", [0.7, 1.1, 1.45])
def test_constant_ratio_keeps_clicks_length_and_channels(ratio: float) -> None:
    beats = np.arange(0.3, 9.5, 0.45)
    mono = click_train(beats, 10.0)
    stereo = np.stack([mono, 0.5 * mono])
    out = stretch_constant(stereo, RATE, ratio)
    assert out.shape == (2, int(round(stereo.shape[1] / ratio))) and out.dtype == np.float32
    expected = beats / ratio
    assert np.max(np.abs(onsets(out[0], beats.shape[0]) - expected)) < 0.010
    assert np.allclose(out[1], 0.5 * out[0], atol=1e-5)  # channels share one set of offsets


@pytest.mark.parametrize("ratio", [0.67, 1.0, 1.5])
def test_a_sine_keeps_its_pitch(ratio: float) -> None:
    t = np.arange(4 * RATE) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    out = stretch_constant(tone, RATE, ratio) if ratio != 1.0 else stretch(
        tone, RATE, TimeMap.constant(1.0, 4.0), tone.shape[0])
    spectrum = np.abs(np.fft.rfft(out * np.hanning(out.shape[0])))
    peak_hz = np.argmax(spectrum) * RATE / out.shape[0]
    assert peak_hz == pytest.approx(440.0, rel=0.01)
    steady = out[RATE // 2: -RATE // 2]
    assert np.sqrt(np.mean(steady ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_identity_map_returns_the_input() -> None:
    rng = np.random.default_rng(2)
    audio = (rng.standard_normal((2, 3 * RATE)) * 0.2).astype(np.float32)
    out = stretch(audio, RATE, TimeMap(np.array([0.0, 3.0]), np.array([0.0, 3.0])),
                  audio.shape[1])
    assert np.max(np.abs(out - audio)) < 1e-4


def test_map_reads_silence_outside_the_source() -> None:
    tone = np.ones(RATE, np.float32) * 0.5
    out = stretch(tone, RATE, TimeMap(np.array([0.0, 1.0]), np.array([-1.0, 0.0])), 2 * RATE)
    assert np.max(np.abs(out[: RATE - RATE // 20])) == 0.0  # source seconds before 0
    assert np.mean(np.abs(out[RATE + RATE // 20:])) == pytest.approx(0.5, rel=0.02)


def test_pitch_shift_moves_the_peak_and_keeps_the_length() -> None:
    t = np.arange(3 * RATE) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    out = change_tempo_and_pitch(tone, RATE, tempo_ratio=1.25, semitones=12.0)
    assert out.shape == (int(round(tone.shape[0] / 1.25)),)
    peak_hz = np.argmax(np.abs(np.fft.rfft(out * np.hanning(out.shape[0])))) * RATE / out.shape[0]
    assert peak_hz == pytest.approx(880.0, rel=0.01)


def test_bad_maps_are_refused() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        TimeMap(np.array([0.0, 1.0, 1.0]), np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="two equal-length"):
        TimeMap(np.array([0.0]), np.array([0.0]))


def test_thirty_seconds_of_stereo_stretch_in_well_under_a_second() -> None:
    rng = np.random.default_rng(3)
    audio = (rng.standard_normal((2, 30 * RATE)) * 0.1).astype(np.float32)
    began = time.process_time()
    stretch_constant(audio, RATE, 1.1)
    assert time.process_time() - began < 0.8
