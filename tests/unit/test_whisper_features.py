"""Whisper's log-mel front end (mediamesh.audio.whisper_features) on numpy arrays: the Slaney
mel filterbank against librosa's (or, without librosa, against the filters' defining
formulas), the STFT against a plain DFT, and the normalisation and padding Whisper applies."""
from __future__ import annotations

import importlib.util

import numpy as np

from mediamesh.audio import whisper_features as wf


def test_mel_filters_are_librosas_slaney_filters() -> None:
    filters = wf.mel_filters()
    assert filters.shape == (80, 201) and filters.dtype == np.float32
    if importlib.util.find_spec("librosa") is not None:
        import librosa

        reference = librosa.filters.mel(sr=16_000, n_fft=400, n_mels=80)
        assert np.abs(filters - reference).max() < 1e-7
    # the definition: mel edges evenly spaced on Slaney's scale from 0 Hz to 8 kHz; filter
    # i rises from edge i to edge i + 1, falls to edge i + 2, peaks at 2 / (its width in Hz)
    assert np.allclose(wf.hz_to_mel(np.array([0.0, 1000.0, 8000.0])),
                       [0.0, 15.0, 15.0 + np.log(8.0) * 27.0 / np.log(6.4)])
    assert np.allclose(wf.mel_to_hz(wf.hz_to_mel(np.array([60.0, 999.0, 4321.0]))),
                       [60.0, 999.0, 4321.0])
    edges = wf.mel_to_hz(np.linspace(0.0, wf.hz_to_mel(8000.0), 82))
    bins = np.linspace(0.0, 8000.0, 201)
    for i in (0, 10, 40, 79):
        rise = (bins - edges[i]) / (edges[i + 1] - edges[i])
        fall = (edges[i + 2] - bins) / (edges[i + 2] - edges[i + 1])
        want = np.maximum(0.0, np.minimum(rise, fall)) * 2.0 / (edges[i + 2] - edges[i])
        assert np.allclose(filters[i], want, rtol=1e-5, atol=1e-9)


def test_log_mel_is_the_power_spectrum_through_the_filters() -> None:
    rng = np.random.default_rng(7)
    audio = (0.1 * rng.standard_normal(4000)).astype(np.float32)
    got = wf.log_mel(audio)
    assert got.shape == (80, 25)  # one frame per 160 samples, the last (centred) one dropped
    padded = np.pad(audio.astype(np.float64), 200, mode="reflect")
    n = np.arange(400)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / 400)  # periodic Hann
    dft = np.exp(-2j * np.pi * np.outer(np.arange(201), n) / 400)
    power = np.stack([np.abs(dft @ (padded[160 * t:160 * t + 400] * window)) ** 2
                      for t in range(25)], axis=1)
    logs = np.log10(np.maximum(wf.mel_filters().astype(np.float64) @ power, 1e-10))
    want = (np.maximum(logs, logs.max() - 8.0) + 4.0) / 4.0
    assert np.abs(got - want).max() < 1e-4


def test_a_tone_lights_the_band_of_its_frequency() -> None:
    t = np.arange(wf.RATE) / wf.RATE
    mel = wf.log_mel((0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32))
    centres = wf.mel_to_hz(np.linspace(0.0, wf.hz_to_mel(8000.0), 82))[1:-1]
    loudest = np.argmax(mel[:, 50])
    assert abs(centres[loudest] - 1000.0) < 60.0
    assert mel.max() - mel.min() <= 2.0 + 1e-6  # floored at 8 decades (/4) below the peak


def test_window_features_pad_and_trim_to_thirty_seconds() -> None:
    short = (0.1 * np.sin(np.arange(3 * wf.RATE) * 0.05)).astype(np.float32)
    features = wf.window_features(short)
    assert features.shape == (80, 3000) and features.dtype == np.float32
    assert np.allclose(features[:, 400:], features.min())  # the padding is the floor
    assert np.allclose(features[:, :200], wf.log_mel(np.pad(short, (0, 480_000 - len(short))))
                       [:, :200])
    long = np.tile(short, 12)  # 36 s: only the first 30 s are read
    assert np.array_equal(wf.window_features(long), wf.log_mel(long[:480_000]))
    silence = wf.window_features(np.zeros(0, np.float32))
    assert silence.shape == (80, 3000) and np.allclose(silence, -1.5)  # log10(1e-10) -> -1.5
