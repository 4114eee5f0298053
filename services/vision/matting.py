"""Person matting decisions that are not the model: what the model sees, how its 256x144
probability becomes a steady, soft-edged matte at the frame size, and what replaces the
background. Pure numpy/scipy; the per-pixel person probability is `selfie_segmentation`
on Triton.

Geometry. MediaPipe feeds the landscape model the whole frame stretched to 256x144
(ImageToTensorCalculator with keep_aspect_ratio false), so a model pixel covers
(W/256) x (H/144) frame pixels whatever the aspect. Both directions use pixel-centre
alignment (a model pixel's centre sits at the centre of the frame area it covers), so the
matte's edges land where the model put them at any size: frames go down by an area
average (`resize_area`), the mask comes back up by bilinear interpolation on the same
grid (`upsample_linear`).

Time. The model runs on each frame alone, so a static edge flickers where the per-frame
probability wavers near 0.5 (textured or moving backgrounds make it worse). `stabilize`
is an exponential moving average whose memory is gated by how much a pixel's probability
changed: small changes (noise) are averaged away, large ones (a person moving) pass
through at once, so moving people do not ghost. It runs at the model's resolution (37k
pixels a frame), before the upscale.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from mediamesh.models.selfie_segmentation import HEIGHT as MODEL_HEIGHT
from mediamesh.models.selfie_segmentation import WIDTH as MODEL_WIDTH

DEFAULT_SMOOTHING = 0.6  # when the request leaves temporal_smoothing unset (0 means none)
DEFAULT_BLUR_FRACTION = 1 / 50  # blur sigma when the request says 0: of the frame height


# geometry --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _area_weights(n: int, size: int) -> np.ndarray:
    """(size, n) float32: output pixel i averages source pixels by how much of each its
    span [i n/size, (i+1) n/size) covers."""
    step = n / size
    lo = np.arange(size)[:, None] * step
    j = np.arange(n)[None, :]
    overlap = np.clip(np.minimum(lo + step, j + 1) - np.maximum(lo, j), 0.0, None)
    return (overlap / step).astype(np.float32)


def resize_area(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 (..., height, width, C) by area averaging over (..., H, W, C): a downscale
    without aliasing, as two small matrix products per image (720p to 256x144: ~9 ms)."""
    *lead, h, w, c = image.shape
    rows, cols = _area_weights(h, height), _area_weights(w, width)
    flat = image.reshape(-1, h, w * c)
    out = np.empty((len(flat), height, width, c), np.float32)
    for i, one in enumerate(flat):  # one image at a time: the float copy stays in cache
        x = rows @ one.astype(np.float32) if h != height else one.astype(np.float32)
        x = x.reshape(height, w, c)
        out[i] = np.tensordot(x, cols, axes=([1], [1])).transpose(0, 2, 1) \
            if w != width else x
    return out.reshape(*lead, height, width, c)


def _linear_axis(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Bilinear (pixel-centre aligned, edges clamped) resample along `axis`."""
    n = x.shape[axis]
    if size == n:
        return x
    pos = np.clip((np.arange(size) + 0.5) * (n / size) - 0.5, 0.0, n - 1.0)
    low = np.floor(pos).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    frac = (pos - low).astype(np.float32).reshape([-1 if a == axis else 1
                                                   for a in range(x.ndim)])
    a = np.take(x, low, axis=axis)
    return a + (np.take(x, high, axis=axis) - a) * frac


def upsample_linear(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 (height, width[, C]) from (h, w[, C]) by bilinear interpolation."""
    x = plane.astype(np.float32, copy=False)
    return _linear_axis(_linear_axis(x, height, 0), width, 1)


def model_input(frames: np.ndarray) -> np.ndarray:
    """uint8 (N, 144, 256, 3): the frames as the model sees them (stretched, area average)."""
    small = resize_area(frames, MODEL_HEIGHT, MODEL_WIDTH)
    return np.clip(small + 0.5, 0, 255).astype(np.uint8)


# time ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Smoothing:
    """`strength` 0..1 is the memory of a pixel whose probability did not change (0: none,
    each frame stands alone); a change of `gate` (probability units) cuts the memory to
    1/e of that, so a person's edge moving across a pixel (a change near 1) is followed in
    the same frame."""

    strength: float = DEFAULT_SMOOTHING
    gate: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {self.strength}")


def stabilize(probabilities: np.ndarray, state: np.ndarray | None,
              smoothing: Smoothing) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed probabilities (N, h, w) float32 of per-frame ones (N, h, w) in 0..1, and the
    state to pass with the next chunk (the last smoothed frame; None starts afresh)."""
    out = np.empty_like(probabilities, dtype=np.float32)
    previous = state
    # below 1e-3 the memory does nothing measurable; strength 1 would freeze a static pixel
    strength = min(smoothing.strength, 0.98)
    for i, p in enumerate(probabilities.astype(np.float32, copy=False)):
        if previous is None or strength < 1e-3:
            current = p
        else:
            change = p - previous
            memory = strength * np.exp(-np.square(change / smoothing.gate))
            current = p - memory * change  # = memory * previous + (1 - memory) * p
        out[i] = current
        previous = current
    return out, (out[-1].copy() if len(out) else state)  # type: ignore[return-value]


# the matte -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EdgeParams:
    """Probability `low` and below is background, `high` and above is person; between, the
    matte ramps linearly (the soft edge: a few pixels wide at the frame size)."""

    low: float = 0.3
    high: float = 0.7


def matte(probability: np.ndarray, height: int, width: int,
          edge: EdgeParams = EdgeParams()) -> np.ndarray:
    """uint8 (height, width, 1) matte, 255 = person, from a (h, w) probability plane."""
    p = upsample_linear(probability, height, width)
    a = (p - edge.low) * (255.0 / (edge.high - edge.low))
    return np.clip(a + 0.5, 0, 255).astype(np.uint8)[..., None]


def person_coverage(alpha: np.ndarray) -> float:
    """Fraction of the frame covered by people, 0..1, of a uint8 matte."""
    return float(alpha.mean(dtype=np.float64) / 255.0)


# backgrounds -----------------------------------------------------------------------------


def default_blur_radius(height: int) -> float:
    return max(2.0, height * DEFAULT_BLUR_FRACTION)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """float32 (H, W[, C]) blurred by a Gaussian of `sigma` pixels (three box passes per
    axis, edges repeated): linear time in the image, whatever sigma is."""
    x = image.astype(np.float32, copy=False)
    if sigma <= 0:
        return x
    for axis in (0, 1):
        for width in _box_widths(sigma):
            x = ndimage.uniform_filter1d(x, width, axis=axis, mode="nearest")
    return x


def _box_widths(sigma: float, passes: int = 3) -> list[int]:
    """Odd box widths (centred: no shift) whose passes add up to a Gaussian's variance:
    some of width w, the rest w + 2 (a box of width w has variance (w^2 - 1) / 12)."""
    ideal = np.sqrt(12.0 * sigma * sigma / passes + 1.0)
    low = int(np.floor(ideal))
    low -= 1 - low % 2  # odd
    low = max(1, low)
    narrow = round((12.0 * sigma * sigma - passes * low * low - 4 * passes * low - 3 * passes)
                   / (-4.0 * low - 4.0))
    narrow = min(passes, max(0, narrow))
    return [low] * narrow + [low + 2] * (passes - narrow)


def blur_background(frame: np.ndarray, alpha: np.ndarray, sigma: float) -> np.ndarray:
    """uint8 (H, W, 3): the frame's background blurred by `sigma` output pixels, with the
    person left out of the average (no halo of their colours around them).

    Large blurs are computed on a frame scaled down by about sigma / 3 and scaled back up:
    the result is smooth at that scale anyway, and 720p costs a few milliseconds."""
    h, w = frame.shape[:2]
    factor = max(1, int(sigma / 3.0))
    sh, sw = max(1, round(h / factor)), max(1, round(w / factor))
    weight = 1.0 - resize_area(alpha, sh, sw) / 255.0  # (sh, sw, 1): how much is background
    colour = resize_area(frame, sh, sw)
    scaled_sigma = sigma * sh / h
    num = gaussian_blur(np.concatenate([colour * weight, weight], axis=-1), scaled_sigma)
    plain = gaussian_blur(colour, scaled_sigma)
    den = num[..., 3:]
    # where no background is near (deep inside a person), any colour will do: the plain blur
    blurred = np.where(den > 1e-3, num[..., :3] / np.maximum(den, 1e-3), plain)
    return np.clip(upsample_linear(blurred, h, w) + 0.5, 0, 255).astype(np.uint8)
