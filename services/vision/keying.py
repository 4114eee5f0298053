"""Green-screen keying decisions that are not the model: the screen's colour and strength,
thresholds, compositing.

Pure numpy; the per-pixel keyer itself is the `green_keyer` ONNX model on Triton, which
keys the 4:2:0 chroma planes. Everything here reads those planes too, so a job never
converts a frame to RGB.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import numpy as np

from mediamesh.errors import InvalidArgument
from mediamesh.media.planes import YuvPlanes
from mediamesh.models.green_keyer import key_params, offset_signal

#: Automatic thresholds, as fractions of the screen's own key signal: opaque below 10% of
#: it, transparent from 80%. The screen's darker side sits within about 80% of its median
#: and the codec's chroma blur widens a 2.5 px edge to about 5: a ramp over 70% of the
#: signal brings it back (bench/vision_keying.py tuned both on its tuning seed).
AUTO_LOW, AUTO_HIGH = 0.10, 0.80
#: A border pixel counts as screen when its hue is within this angle of the nominal key
#: colour's and its chroma is at least MIN_SCREEN_CHROMA away from grey.
SCREEN_HUE_DEGREES = 45.0
MIN_SCREEN_CHROMA = 12.0
#: Below this key signal there is no usable screen to take the thresholds from.
MIN_SCREEN_SIGNAL = 8.0
MIN_SCREEN_SHARE = 0.05
#: With no screen on the border (a close-up, a matte fed back in), thresholds come from a
#: half-saturated screen of the nominal colour, so any video still keys as it used to
#: with fixed defaults instead of failing.
ASSUMED_SCREEN_SHARE = 0.5


class KeyChannel(StrEnum):
    GREEN = "green"
    BLUE = "blue"

    @property
    def rgb(self) -> tuple[int, int, int]:
        return (0, 255, 0) if self is KeyChannel.GREEN else (0, 0, 255)

    @property
    def nominal_uv(self) -> tuple[float, float]:
        """The pure key colour's chroma offset from grey, as swscale converts it."""
        return _chroma_offset(self.rgb)


@cache
def _chroma_offset(rgb: tuple[int, int, int]) -> tuple[float, float]:
    _, u, v = YuvPlanes.of_colour(rgb)
    return float(u - 128), float(v - 128)


@dataclass(frozen=True)
class KeyParams:
    """Thresholds on the key signal (0-255; None = automatic from the screen) and spill
    strength (0-1)."""

    low: float | None = None
    high: float | None = None
    spill: float = 0.8

    @classmethod
    def from_request(cls, low: float, high: float, spill: float) -> KeyParams:
        """0 means automatic (thresholds) or the default (spill); anything out of range is
        refused with the field named."""
        params = cls(low or None, high or None, spill if spill else cls.spill)
        if params.low is not None and not 0 <= params.low < 255:
            raise InvalidArgument(f"threshold_low must be in [0, 255), got {params.low}",
                                  field_name="threshold_low")
        if params.high is not None and not 0 < params.high <= 255:
            raise InvalidArgument(f"threshold_high must be in (0, 255], got {params.high}",
                                  field_name="threshold_high")
        if params.low is not None and params.high is not None and params.low >= params.high:
            raise InvalidArgument(f"threshold_high ({params.high}) must be above "
                                  f"threshold_low ({params.low})", field_name="threshold_high")
        if not 0 <= params.spill <= 1:
            raise InvalidArgument(f"spill_suppression must be in [0, 1], got {params.spill}",
                                  field_name="spill_suppression")
        return params


@dataclass(frozen=True)
class ScreenEstimate:
    """The screen as the frame's border shows it: which channel, its chroma offset from
    grey (the key direction) and its median key signal (None when the border shows no
    screen: automatic thresholds then assume a half-saturated screen of the nominal
    colour)."""

    channel: KeyChannel
    key_uv: tuple[float, float]
    strength: float | None

    def thresholds(self, params: KeyParams) -> tuple[float, float]:
        """(low, high): the request's, else fractions of the screen's strength."""
        strength = self.strength if self.strength is not None else \
            ASSUMED_SCREEN_SHARE * math.hypot(*self.channel.nominal_uv)
        low = params.low if params.low is not None else AUTO_LOW * strength
        high = params.high if params.high is not None else AUTO_HIGH * strength
        if low >= high:
            field = "threshold_high" if params.high is not None else "threshold_low"
            raise InvalidArgument(
                f"threshold_low ({low:.1f}) must be below threshold_high ({high:.1f}); this "
                f"screen's key signal is {strength:.1f}, so set both or neither",
                field_name=field)
        return low, high

    def row(self, params: KeyParams) -> np.ndarray:
        """The model's `params` row: key chroma offset, low, high, spill."""
        return key_params(self.key_uv, *self.thresholds(params), params.spill)


def border_pixels(frame: np.ndarray, width_fraction: float = 0.05) -> np.ndarray:
    """Pixels of the frame's outer band, where a screen is almost always visible; (n, c)
    float32 for an (H, W, c) frame."""
    h, w = frame.shape[:2]
    b = max(1, int(min(h, w) * width_fraction))
    channels = frame.shape[2] if frame.ndim == 3 else 1
    bands = [frame[:b].reshape(-1, channels), frame[-b:].reshape(-1, channels),
             frame[b:-b, :b].reshape(-1, channels), frame[b:-b, -b:].reshape(-1, channels)]
    return np.concatenate(bands).astype(np.float32)


def _screen_mask(offsets: np.ndarray, channel: KeyChannel) -> np.ndarray:
    """Which chroma offsets (n, 2) look like this channel's screen."""
    nominal = np.asarray(channel.nominal_uv, dtype=np.float32)
    nominal /= np.linalg.norm(nominal)
    size = np.linalg.norm(offsets, axis=1)
    return (size >= MIN_SCREEN_CHROMA) & \
        (offsets @ nominal >= math.cos(math.radians(SCREEN_HUE_DEGREES)) * size)


def estimate_screen(planes: YuvPlanes, channel: KeyChannel | None = None) -> ScreenEstimate:
    """Read the screen off the border of one frame's chroma. `channel` None: green or blue,
    whichever more of the border shows. A subject crossing the border is fine: only
    screen-coloured pixels vote, and the medians ignore the rest."""
    offsets = border_pixels(np.stack([planes.u, planes.v], axis=-1)) - 128.0
    masks = {c: _screen_mask(offsets, c) for c in KeyChannel}
    if channel is None:
        channel = max(KeyChannel, key=lambda c: int(masks[c].sum()))
    screen = offsets[masks[channel]]
    if len(screen) < MIN_SCREEN_SHARE * len(offsets):
        return ScreenEstimate(channel, channel.nominal_uv, None)
    key_uv = tuple(float(x) for x in np.median(screen, axis=0))
    signal, _ = offset_signal(screen.T[:, :, None], np.asarray(key_uv, dtype=np.float32))
    strength = float(np.median(signal))
    return ScreenEstimate(channel, (key_uv[0], key_uv[1]),
                          strength if strength >= MIN_SCREEN_SIGNAL else None)


def composite(foreground: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """round((fg * a + bg * (255 - a)) / 255) in uint8; alpha (H, W, 1) uint8 with
    background (H, W, 3) or (3,), or one plane: all (H, W), background a plane or a value.
    In uint16 (the sum tops out at 255 * 255) with the exact divide-by-255 of
    (x + 128 + ((x + 128) >> 8)) >> 8: 3x faster than float32 at 720p, and the same bytes."""
    a = alpha.astype(np.uint16)
    x = foreground.astype(np.uint16) * a
    x += np.asarray(background, dtype=np.uint16) * (255 - a)
    x += 128
    x += x >> 8
    return (x >> 8).astype(np.uint8)


def fit_background(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scale-to-cover and centre-crop a background image to the frame size (nearest)."""
    ih, iw = image.shape[:2]
    scale = max(height / ih, width / iw)
    sh, sw = max(height, round(ih * scale)), max(width, round(iw * scale))
    rows = np.minimum((np.arange(sh) / scale).astype(np.int64), ih - 1)
    cols = np.minimum((np.arange(sw) / scale).astype(np.int64), iw - 1)
    scaled = image[rows][:, cols]
    top, left = (sh - height) // 2, (sw - width) // 2
    return np.ascontiguousarray(scaled[top:top + height, left:left + width])
