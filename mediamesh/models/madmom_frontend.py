"""The input features of madmom's downbeat networks (RNNDownBeatProcessor's pre-processing), in
numpy, so the opt-in `madmom_downbeats` pack runs without madmom installed.

Why a copy and not madmom: madmom's networks only work on exactly the features they were
trained on, and madmom itself does not install on Python 3.11 with numpy 1.26 without
patches. Every step below mirrors a madmom class (named in the comments) with its
RNNDownBeatProcessor arguments; `tools/check_madmom_pack.py` compares the result with madmom
itself (max difference ~2e-6, see model_repository/madmom_downbeats/MODEL_CARD.md).

Per frame size (1024, 2048, 4096 samples at 44.1 kHz, 100 frames/s):
  frames centred on sample round-down(i * 441), zero outside the signal (FramedSignal)
  -> Hann window, |FFT| without the Nyquist bin (ShortTimeFourierTransform, Spectrogram)
  -> triangular filters, 30 Hz..17 kHz, 3/6/12 bands per octave, each summing to 1
     (LogarithmicFilterbank, norm_filters=True, unique_filters=True)
  -> log10(1 + x) (LogarithmicSpectrogram, mul=1, add=1)
  -> positive difference to the frame `diff_frames` back (SpectrogramDifference,
     diff_ratio=0.5, positive_diffs=True)
and the frame's features are [spec, diff] of each frame size, side by side (314 values).
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import as_strided

RATE = 44_100
FPS = 100
HOP = RATE // FPS  # 441 samples: madmom's hop 44100 / 100 is a whole number
FRAME_SIZES = (1024, 2048, 4096)
BANDS_PER_OCTAVE = (3, 6, 12)
FMIN, FMAX = 30.0, 17_000.0
A4 = 440.0  # madmom's reference frequency for the band centres
DIFF_RATIO = 0.5
BLOCK_SAMPLES = 1 << 17  # per FFT batch: the windowed frames stay in cache (2x faster)


def frame_count(n_samples: int) -> int:
    """madmom's end='normal': ceil(samples / hop) frames, frame i centred on i * HOP."""
    return -(-n_samples // HOP)


def log_frequencies(bands_per_octave: int) -> np.ndarray:
    """Band centres: A4-referenced log-spaced frequencies in [FMIN, FMAX] (log_frequencies)."""
    left = np.floor(np.log2(FMIN / A4) * bands_per_octave)
    right = np.ceil(np.log2(FMAX / A4) * bands_per_octave)
    freqs = A4 * 2.0 ** (np.arange(left, right) / float(bands_per_octave))
    freqs = freqs[np.searchsorted(freqs, FMIN):]
    return freqs[:np.searchsorted(freqs, FMAX, "right")]


def bin_frequencies(frame_size: int) -> np.ndarray:
    """Centre frequency of each kept FFT bin (frame_size // 2 of them: no Nyquist bin)."""
    return np.fft.fftfreq(frame_size, 1.0 / RATE)[:frame_size // 2]


@functools.cache
def filterbank(frame_size: int, bands_per_octave: int) -> np.ndarray:
    """(frame_size // 2, bands) float32 triangular filters, each summing to 1; centres on the
    nearest FFT bins, duplicate bins dropped (so no two bands are the same filter)."""
    bins_hz = bin_frequencies(frame_size)
    freqs = log_frequencies(bands_per_octave)
    index = np.clip(bins_hz.searchsorted(freqs), 1, len(bins_hz) - 1)
    index -= freqs - bins_hz[index - 1] < bins_hz[index] - freqs  # nearest bin
    index = np.unique(index)
    bank = np.zeros((len(bins_hz), len(index) - 2), np.float32)
    for band in range(len(index) - 2):
        start, centre, stop = (int(i) for i in index[band:band + 3])
        if stop - start < 2:  # too narrow for a triangle: a single bin
            centre, stop = start, start + 1
        rise = np.linspace(0.0, 1.0, centre - start, endpoint=False)
        fall = np.linspace(1.0, 0.0, stop - centre, endpoint=False)
        tri = np.concatenate([rise, fall]).astype(np.float32)
        tri /= np.sum(tri)  # in float32, as madmom normalises its float32 filters
        bank[start:stop, band] = np.maximum(bank[start:stop, band], tri)
    return bank


def diff_frames(frame_size: int) -> int:
    """How many frames back the difference looks: where the Hann window first exceeds
    DIFF_RATIO of its maximum, in hops from the frame centre (madmom's _diff_frames)."""
    window = np.hanning(frame_size)
    first = int(np.argmax(window > DIFF_RATIO * window.max()))
    return int(max(1, round((frame_size / 2 - first) / HOP)))


def n_features() -> int:
    return 2 * sum(filterbank(f, b).shape[1] for f, b in zip(FRAME_SIZES, BANDS_PER_OCTAVE))


def magnitudes(mono: np.ndarray, frame_size: int) -> np.ndarray:
    """(frames, frame_size // 2) float32 |STFT| of Hann-windowed frames centred every HOP
    samples, the signal zero-padded outside. The FFT runs in float32 (madmom: float64, then
    rounded to complex64): 40% less CPU for differences of ~1e-6 in the features."""
    signal = np.ascontiguousarray(mono, dtype=np.float32)
    count = frame_count(len(signal))
    half = frame_size // 2
    padded = np.zeros(half + max(len(signal), (count - 1) * HOP + half) + 1, np.float32)
    padded[half:half + len(signal)] = signal
    stride = padded.strides[0]
    frames = as_strided(padded, shape=(count, frame_size), strides=(HOP * stride, stride),
                        writeable=False)
    window = np.hanning(frame_size).astype(np.float32)
    out = np.empty((count, half), np.float32)
    block = max(1, BLOCK_SAMPLES // frame_size)
    for start in range(0, count, block):
        spectrum = scipy.fft.rfft(frames[start:start + block] * window, axis=1, workers=1)
        out[start:start + block] = np.abs(spectrum[:, :half])
    return out


def spec_and_diff(mags: np.ndarray, frame_size: int, bands_per_octave: int) -> np.ndarray:
    """(frames, 2 * bands): log filtered magnitudes and their positive difference."""
    spec = np.log10(mags @ filterbank(frame_size, bands_per_octave) + np.float32(1.0))
    lag = diff_frames(frame_size)
    diff = np.zeros_like(spec)
    diff[lag:] = np.maximum(spec[lag:] - spec[:-lag], 0.0)
    return np.hstack([spec, diff])


def features(mono: np.ndarray) -> np.ndarray:
    """(frames, 314) float32: the downbeat networks' input for mono samples at RATE."""
    parts = [spec_and_diff(magnitudes(mono, f), f, b)
             for f, b in zip(FRAME_SIZES, BANDS_PER_OCTAVE)]
    return np.hstack(parts).astype(np.float32)
