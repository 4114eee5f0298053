"""Altered copies of a video with exact truth, for fingerprint matching: re-encoded harder,
resized, trimmed at the start (and end), with a logo burned in. The truth is where the
copy's pictures sit in the original: original time = copy time + `offset`."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from mediamesh import media


@dataclass(frozen=True)
class CopyRecipe:
    """How to alter a video. `trim_start`/`keep` in seconds; `scale` of both sides."""

    trim_start: float = 0.0
    keep: float | None = None  # seconds of the original kept after trim_start
    scale: float = 1.0
    crf: int = 20
    logo: bool = False

    @property
    def label(self) -> str:
        parts = [f"crf {self.crf}"]
        if self.scale != 1.0:
            parts.append(f"x{self.scale:g}")
        if self.trim_start or self.keep:
            parts.append(f"trim {self.trim_start:g}s" + (f"+{self.keep:g}s" if self.keep else ""))
        if self.logo:
            parts.append("logo")
        return ", ".join(parts)


@dataclass(frozen=True)
class CopyTruth:
    offset: float  # original time = copy time + offset
    duration: float  # seconds of the copy


def logo_overlay(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A station-logo-like mark for the top-right corner: RGB (h, w, 3) and alpha (h, w, 1)
    at 70% opacity, about 12% of the frame's width."""
    w, h = max(8, width // 8), max(6, height // 12)
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 0] = 240
    rgb[..., 1] = (120 + 100 * ((xx // max(1, w // 6)) % 2)).astype(np.uint8)
    rgb[..., 2] = 40
    edge = (xx < 2) | (yy < 2) | (xx >= w - 2) | (yy >= h - 2)
    rgb[edge] = 255
    return rgb, np.full((h, w, 1), 0.7, np.float32)


def write_copy(source: Path, target: Path, recipe: CopyRecipe) -> CopyTruth:
    """Decode `source`, alter it as `recipe` says, encode H.264 to `target` (yuv420p)."""
    info = media.probe(source)
    fps = info.fps or 25.0
    width = max(16, int(round(info.width * recipe.scale / 2)) * 2)
    height = max(16, int(round(info.height * recipe.scale / 2)) * 2)
    end = recipe.trim_start + recipe.keep if recipe.keep else None
    logo = logo_overlay(width, height) if recipe.logo else None
    first: float | None = None
    written = 0
    with av.open(str(target), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(recipe.crf), "preset": "veryfast"}
        for frame in media.iter_frames(source, start=recipe.trim_start, end=end,
                                       size=(width, height)):
            first = frame.time if first is None else first
            picture = frame.rgb
            if logo is not None:
                picture = _burn(picture, *logo)
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
            written += 1
        for packet in stream.encode():
            container.mux(packet)
    return CopyTruth(first or 0.0, written / fps)


def _burn(picture: np.ndarray, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    out = picture.copy()
    h, w = rgb.shape[:2]
    margin = picture.shape[0] // 20
    region = out[margin:margin + h, -w - margin:-margin].astype(np.float32)
    out[margin:margin + h, -w - margin:-margin] = (
        region * (1 - alpha) + rgb.astype(np.float32) * alpha).astype(np.uint8)
    return out
