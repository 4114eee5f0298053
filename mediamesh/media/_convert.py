"""Validation and conversion of numpy arrays to PyAV frames (and back).

Conventions: images are uint8 HxWx3 RGB or HxWx4 RGBA; audio samples are
float32 in [-1, 1], shaped (n,) for mono or (channels, n) planar.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import VideoReformatter


def as_image(array: np.ndarray, what: str = "image") -> np.ndarray:
    """Check ``array`` is uint8 HxWx3/HxWx4 (HxW grey is expanded to RGB) and make it contiguous."""
    arr = np.asarray(array)
    if arr.dtype != np.uint8:
        raise ValueError(f"{what} must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{what} must have shape HxWx3 (RGB) or HxWx4 (RGBA), got {arr.shape}")
    return np.ascontiguousarray(arr)


def with_channels(rgb: np.ndarray, channels: int) -> np.ndarray:
    """Drop alpha (channels=3) or add an opaque one (channels=4) to a validated image."""
    if rgb.shape[2] == channels:
        return rgb
    if channels == 3:
        return np.ascontiguousarray(rgb[:, :, :3])
    alpha = np.full((*rgb.shape[:2], 1), 255, dtype=np.uint8)
    return np.concatenate([rgb, alpha], axis=2)


def image_frame(image: np.ndarray) -> av.VideoFrame:
    """Wrap a validated RGB/RGBA array as a VideoFrame."""
    return av.VideoFrame.from_ndarray(image, format="rgb24" if image.shape[2] == 3 else "rgba")


def frame_rgb(frame: av.VideoFrame, size: tuple[int, int] | None = None,
              reformatter: VideoReformatter | None = None) -> np.ndarray:
    """Decoded frame as contiguous uint8 HxWx3 RGB, optionally resized to (width, height) px.
    Pass one `reformatter` for a run of frames: it keeps its swscale context, where
    frame.reformat builds a new one per frame (3-4x slower when scaling)."""
    width, height = size if size is not None else (frame.width, frame.height)
    converter = reformatter if reformatter is not None else VideoReformatter()
    rgb = converter.reformat(frame, width=width, height=height, format="rgb24").to_ndarray()
    return np.ascontiguousarray(rgb)


def as_planar_samples(samples: np.ndarray) -> np.ndarray:
    """Float samples shaped (n,) or (channels, n) -> float32 (channels, n) clipped to [-1, 1].

    Clipping (and NaN -> 0) happens here because encoders wrap or distort
    out-of-range input instead of failing.
    """
    arr = np.asarray(samples)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"audio samples must be floats in [-1, 1], got {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"audio samples must have shape (n,) or (channels, n), got {arr.shape}")
    if arr.shape[0] > 8:
        raise ValueError(
            f"at most 8 audio channels are supported, got {arr.shape[0]} (wrong axis order?)"
        )
    arr = np.nan_to_num(arr.astype(np.float32, copy=False), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.ascontiguousarray(np.clip(arr, -1.0, 1.0))


def match_channels(planar: np.ndarray, channels: int) -> np.ndarray:
    """Up-mix mono by copying or down-mix anything else by averaging to ``channels``."""
    if planar.shape[0] == channels:
        return planar
    if planar.shape[0] != 1:
        planar = planar.mean(axis=0, keepdims=True, dtype=np.float32)
    return np.ascontiguousarray(np.repeat(planar, channels, axis=0))


def layout_name(channels: int) -> str:
    """FFmpeg's default channel layout for a channel count ('mono', 'stereo', '5.1', ...)."""
    return av.AudioLayout(f"{channels}c").name


def audio_frame(planar: np.ndarray, sample_rate: int, pts: int) -> av.AudioFrame:
    """Wrap float32 (channels, n) samples as an 'fltp' frame timed in 1/sample_rate units."""
    frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=layout_name(planar.shape[0]))
    frame.sample_rate = sample_rate
    frame.pts = pts
    frame.time_base = Fraction(1, sample_rate)
    return frame
