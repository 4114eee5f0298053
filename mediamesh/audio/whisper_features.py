"""Whisper's front end: 16 kHz mono -> the log-mel spectrogram its encoder reads.

The same steps as openai-whisper's `log_mel_spectrogram`, in numpy/scipy (no torch):
STFT with a periodic Hann window of 400 samples, hop 160 (100 frames/s), centred frames
(reflect padding), the last frame dropped; power spectrum; 80 mel bands of librosa's Slaney
filterbank; log10 clamped at 1e-10; values floored at 8 below the maximum; (x + 4) / 4.
A window is 30 s: shorter audio is zero-padded (as Whisper pads), giving 3000 frames.
"""
from __future__ import annotations

from functools import cache

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

RATE = 16_000
N_FFT = 400
HOP = 160
MELS = 80
WINDOW_SECONDS = 30
WINDOW_SAMPLES = WINDOW_SECONDS * RATE  # 480,000
FRAMES = WINDOW_SAMPLES // HOP  # 3000


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above."""
    hz = np.asarray(hz, np.float64)
    linear = hz / (200.0 / 3)
    logarithmic = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, logarithmic, linear)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)),
                    mel * (200.0 / 3))


@cache
def mel_filters(rate: int = RATE, n_fft: int = N_FFT, mels: int = MELS) -> np.ndarray:
    """(mels, n_fft // 2 + 1) float32: triangles between mel-spaced edges from 0 Hz to
    Nyquist, each scaled to unit area (2 / bandwidth in Hz), as librosa.filters.mel with
    its defaults (htk=False, norm="slaney") computes them."""
    bins = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(rate / 2), mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


@cache
def hann() -> np.ndarray:
    """Periodic Hann window (torch.hann_window's default), float32."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def log_mel(samples: np.ndarray) -> np.ndarray:
    """(80, len // 160) float32 normalised log-mel of 16 kHz mono samples."""
    audio = np.asarray(samples, np.float32)
    padded = np.pad(audio, N_FFT // 2, mode="reflect")
    frames = sliding_window_view(padded, N_FFT)[::HOP][:-1]  # Whisper drops the last frame
    spectrum = scipy.fft.rfft(frames * hann(), axis=1)
    power = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)
    mel = mel_filters() @ power.T
    logs = np.log10(np.maximum(mel, 1e-10))
    logs = np.maximum(logs, logs.max() - 8.0)
    return ((logs + 4.0) / 4.0).astype(np.float32)


def window_features(samples: np.ndarray) -> np.ndarray:
    """(80, 3000): a window of up to 30 s, zero-padded (or trimmed) to 30 s first."""
    audio = np.zeros(WINDOW_SAMPLES, np.float32)
    clip = np.asarray(samples, np.float32)[:WINDOW_SAMPLES]
    audio[:len(clip)] = clip
    return log_mel(audio)
