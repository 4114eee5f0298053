"""Clips with a station logo burned in at a known box and time span, over shots that
change (textures, shapes, pans, shake), for logo detection and region blurring: the box is
exact because the logo is drawn, not detected."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.synth.copies import logo_overlay
from mediamesh.synth.portraits import AUDIO_RATE, tone
from mediamesh.synth.videos import shot_frames

KINDS = ("texture", "shapes", "pan", "shake", "gradient")
CORNERS = ("top_right", "top_left", "bottom_right", "bottom_left")
SHOT_SECONDS = 1.5


@dataclass(frozen=True)
class OverlayTruth:
    """Where the logo is: box (x, y, width, height) normalised, shown [start, end) s."""

    box: tuple[float, float, float, float] | None
    start: float
    end: float
    frame_count: int
    fps: float


def logo_box(width: int, height: int, corner: str) -> tuple[int, int, int, int]:
    """(left, top, w, h) pixels of the logo in `corner`, 3% of the frame in from the edges."""
    rgb, _ = logo_overlay(width, height)
    h, w = rgb.shape[:2]
    mx, my = round(0.03 * width), round(0.03 * height)
    left = width - w - mx if corner.endswith("right") else mx
    top = my if corner.startswith("top") else height - h - my
    return left, top, w, h


def render(seed: int, *, width: int = 640, height: int = 360, fps: float = 25.0,
           seconds: float = 6.0, logo: bool = True, corner: str = "top_right",
           span: tuple[float, float] | None = None) -> tuple[np.ndarray, OverlayTruth]:
    """Frames uint8 (N, H, W, 3) and the truth; `span` limits when the logo shows."""
    rng = np.random.default_rng(seed)
    count = round(seconds * fps)
    per_shot = round(SHOT_SECONDS * fps)
    shots = [shot_frames(KINDS[int(rng.integers(len(KINDS)))], seed * 100 + i,
                         min(per_shot, count - i * per_shot), width, height)
             for i in range(-(-count // per_shot))]
    frames = np.concatenate(shots)[:count]
    start, end = span or (0.0, count / fps)
    if not logo:
        return frames, OverlayTruth(None, 0.0, 0.0, count, fps)
    rgb, alpha = logo_overlay(width, height)
    left, top, w, h = logo_box(width, height, corner)
    shown = slice(round(start * fps), round(end * fps))
    under = frames[shown, top:top + h, left:left + w].astype(np.float32)
    frames[shown, top:top + h, left:left + w] = (under * (1 - alpha) + rgb * alpha + 0.5
                                                 ).astype(np.uint8)
    return frames, OverlayTruth((left / width, top / height, w / width, h / height),
                                round(start * fps) / fps, round(end * fps) / fps, count, fps)


def write_clip(path: Path, seed: int, *, audio: bool = True, **options: object
               ) -> OverlayTruth:
    """Render (options as `render`) to an H.264 file, with a tone when `audio`."""
    frames, truth = render(seed, **options)  # type: ignore[arg-type]
    height, width = frames.shape[1:3]
    with media.VideoWriter(path, width, height, truth.fps,
                           audio_sample_rate=AUDIO_RATE if audio else None) as writer:
        for frame in frames:
            writer.write(frame)
        if audio:
            writer.write_audio(tone(truth.frame_count / truth.fps))
    return truth
