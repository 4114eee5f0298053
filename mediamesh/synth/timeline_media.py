"""Clips that say where they come from, for checking a renderer frame by frame.

Every frame carries a barcode (top-left row of black/white blocks: 4 bits of clip id, 12
bits of source frame index) over a flat colour proper to the clip, so a decoded output
frame names the clip and source frame it shows. Once a second a white square flashes for
one frame in the bottom-left corner while a 10 ms click sounds, so audio/video sync can be
measured on the output; between clicks the clip hums a quiet tone of its own pitch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mediamesh import media

BLOCK = 16  # barcode block side, pixels
CLIP_BITS, FRAME_BITS = 4, 12
FLASH = 48  # flash square side, pixels
RATE = 48_000
CLICK_S = 0.010
TONE_DB = -24.0
COLOURS = ((200, 40, 40), (40, 160, 60), (40, 70, 200), (200, 170, 30), (150, 50, 170),
           (30, 170, 170), (220, 110, 30), (110, 110, 110))


@dataclass(frozen=True)
class ClipTruth:
    path: Path
    clip_id: int
    fps: float
    frames: int
    colour: tuple[int, int, int]
    flash_frames: tuple[int, ...]  # source frames with the flash (and a click)

    @property
    def duration(self) -> float:
        return self.frames / self.fps


def colour_of(clip_id: int) -> tuple[int, int, int]:
    return COLOURS[clip_id % len(COLOURS)]


def barcode(clip_id: int, frame: int) -> np.ndarray:
    """The (BLOCK, 16 * BLOCK) black/white strip for (clip id, frame index)."""
    value = (clip_id << FRAME_BITS) | (frame % (1 << FRAME_BITS))
    bits = [(value >> (CLIP_BITS + FRAME_BITS - 1 - i)) & 1 for i in range(CLIP_BITS + FRAME_BITS)]
    strip = np.repeat(np.array(bits, np.uint8) * 255, BLOCK)
    return np.repeat(strip[None, :], BLOCK, axis=0)


def read_barcode(rgb: np.ndarray, x: int = 0, y: int = 0, block: int = BLOCK
                 ) -> tuple[int, int]:
    """(clip id, frame index) from the block centres of a barcode at (x, y)."""
    row = rgb[y + block // 2, :, :].mean(axis=1)
    bits = [int(row[x + i * block + block // 2] > 127) for i in range(CLIP_BITS + FRAME_BITS)]
    value = 0
    for bit in bits:
        value = (value << 1) | bit
    return value >> FRAME_BITS, value & ((1 << FRAME_BITS) - 1)


def frame_picture(clip_id: int, index: int, fps: float, width: int, height: int) -> np.ndarray:
    picture = np.empty((height, width, 3), np.uint8)
    picture[:] = colour_of(clip_id)
    code = barcode(clip_id, index)
    picture[:BLOCK, :code.shape[1]] = code[..., None]
    if is_flash(index, fps):
        picture[height - FLASH:, :FLASH] = 255
    return picture


def is_flash(index: int, fps: float) -> bool:
    per_second = round(fps)
    return index % per_second == per_second // 2


def soundtrack(clip_id: int, frames: int, fps: float) -> np.ndarray:
    """(2, n) tone at the clip's pitch, with a full-scale click at every flash."""
    n = round(frames / fps * RATE)
    t = np.arange(n) / RATE
    tone = (10 ** (TONE_DB / 20) * np.sin(2 * np.pi * (220.0 * (1 + clip_id * 0.25)) * t))
    for index in range(frames):
        if is_flash(index, fps):
            a = round(index / fps * RATE)
            b = min(n, a + round(CLICK_S * RATE))
            tone[a:b] = 0.8 * np.sign(np.sin(2 * np.pi * 1000 * t[a:b]))
    return np.stack([tone, tone]).astype(np.float32)


def write_clip(path: Path, clip_id: int, *, seconds: float = 3.0, fps: float = 25.0,
               width: int = 320, height: int = 180, audio: bool = True) -> ClipTruth:
    frames = round(seconds * fps)
    with media.VideoWriter(path, width, height, fps,
                           audio_sample_rate=RATE if audio else None) as writer:
        for index in range(frames):
            writer.write(frame_picture(clip_id, index, fps, width, height))
        if audio:
            writer.write_audio(soundtrack(clip_id, frames, fps))
    flashes = tuple(i for i in range(frames) if is_flash(i, fps))
    return ClipTruth(path, clip_id, fps, frames, colour_of(clip_id), flashes)


def write_logo(path: Path, size: int = 64) -> None:
    """A PNG with transparency: an opaque white disc on a transparent square."""
    yy, xx = np.mgrid[:size, :size]
    inside = (xx - size / 2 + 0.5) ** 2 + (yy - size / 2 + 0.5) ** 2 <= (size / 2 - 2) ** 2
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[inside] = (255, 255, 255, 255)
    media.write_image(path, rgba)
