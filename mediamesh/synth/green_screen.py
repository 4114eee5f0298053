"""A green-screen clip with a known alpha matte: a soft-edged subject moving over a lit screen.

The subject is a disc plus a body ellipse with an anti-aliased rim (fractional alpha like
hair), the screen has a lighting gradient and noise, and the rim carries green spill, so
a keyer is tested on what real footage does to it.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyntheticFrame:
    rgb: np.ndarray  # uint8 (H, W, 3)
    alpha: np.ndarray  # float32 (H, W) in [0, 1], 1 = subject


def _soft_ellipse(h: int, w: int, cx: float, cy: float, rx: float, ry: float,
                  edge_px: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dist = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    return np.clip((1.0 - dist) * min(rx, ry) / edge_px + 0.5, 0.0, 1.0)


def render_frame(index: int, fps: float, width: int, height: int, seed: int = 0) -> SyntheticFrame:
    t = index / fps
    rng = np.random.default_rng(seed + index)
    cx = width * (0.5 + 0.25 * np.sin(2 * np.pi * 0.25 * t))
    head = _soft_ellipse(height, width, cx, height * 0.35, width * 0.07, width * 0.07, 2.5)
    body = _soft_ellipse(height, width, cx, height * 0.85, width * 0.16, height * 0.35, 2.5)
    alpha = np.maximum(head, body).astype(np.float32)
    ramp = np.linspace(0.8, 1.0, width, dtype=np.float32)[None, :, None]
    screen = np.array([40, 180, 60], np.float32) * ramp + rng.normal(0, 2.0, (height, width, 3))
    yy = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    subject = np.stack([200 - 60 * yy, 150 - 50 * yy, 130 + 0 * yy], -1) * np.ones((1, width, 1))
    rim = (alpha > 0.02) & (alpha < 0.98)
    subject[rim, 1] += 35.0  # green spill on the edge
    a = alpha[..., None]
    rgb = np.clip(subject * a + screen * (1 - a), 0, 255).astype(np.uint8)
    return SyntheticFrame(rgb, alpha)


def render_clip(frames: int, fps: float, width: int, height: int) -> Iterator[SyntheticFrame]:
    for i in range(frames):
        yield render_frame(i, fps, width, height)


def background_image(width: int, height: int) -> np.ndarray:
    """A warm gradient 'studio' backdrop to composite onto."""
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    rgb = np.stack([90 + 120 * x + 0 * y, 40 + 60 * y + 0 * x, 120 - 80 * x + 0 * y], -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def tone(seconds: float, sample_rate: int = 48000, hz: float = 440.0) -> np.ndarray:
    """A soft sine so the clip has an audio track to carry through."""
    t = np.arange(int(seconds * sample_rate), dtype=np.float32) / sample_rate
    return (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
