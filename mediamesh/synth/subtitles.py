"""Clips with burned-in subtitles at known times and boxes, and the same clip without
them (the truth a remover is scored against): white text with a black outline, bottom
centre, over moving shots (pans, textures, shapes, shake). Text is drawn with Pillow's own
scalable font (no system font needed)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mediamesh import media
from mediamesh.synth.videos import shot_frames

LINES = ("We will be right back after this", "Where did you put the keys?",
         "The train leaves at seven", "Nobody told me about the meeting",
         "Look at the sky tonight", "Thank you for watching", "It was raining all day",
         "Can you hear the music now?", "Turn left at the old bridge", "See you tomorrow")
KINDS = ("pan", "texture", "shapes", "shake", "still")  # still: a photo, a locked-off camera
SHOT_SECONDS = 2.5


@dataclass(frozen=True)
class Cue:
    start: float  # seconds, on a frame
    end: float
    text: str
    box: tuple[float, float, float, float]  # x, y, width, height normalised (ink, outline incl.)


@dataclass(frozen=True)
class SubtitleTruth:
    cues: tuple[Cue, ...]
    frame_count: int
    fps: float
    width: int
    height: int

    def cue_at(self, index: int) -> Cue | None:
        t = index / self.fps
        return next((c for c in self.cues if c.start <= t + 1e-9 < c.end), None)


def _shot(kind: str, seed: int, count: int, width: int, height: int) -> np.ndarray:
    """One shot's frames: mediamesh.synth.videos content, or a still photo with sensor
    noise (scikit-image's coffee or rocket, cover-cropped)."""
    if kind != "still":
        return shot_frames(kind, seed, count, width, height)
    from skimage import data  # the test extra: scikit-image ships the photos

    photo = (data.coffee() if seed % 2 else data.rocket())
    image = np.asarray(Image.fromarray(photo).resize((width, height), Image.BILINEAR),
                       np.float32)
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.5, (count, height, width, 1)).astype(np.float32)
    return np.clip(image[None] + noise + 0.5, 0, 255).astype(np.uint8)


def _cues(rng: np.random.Generator, seconds: float, fps: float,
          lines: tuple[str, ...] = LINES) -> list[tuple[float, float, str]]:
    out, t = [], float(rng.uniform(0.3, 0.8))
    while t < seconds - 1.0:
        length = float(rng.uniform(1.2, 2.4))
        end = min(seconds - 0.2, t + length)
        out.append((round(t * fps) / fps, round(end * fps) / fps,
                    lines[int(rng.integers(len(lines)))]))
        t = end + float(rng.uniform(0.4, 0.9))
    return out


def _draw(frame: np.ndarray, text: str, font: ImageFont.FreeTypeFont, stroke: int,
          position: str = "bottom") -> tuple[int, int, int, int]:
    """Draw `text` centred at the bottom (or top) in place; returns its (left, top, right,
    bottom) pixels."""
    height, width = frame.shape[:2]
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=stroke)
    x = (width - (right - left)) // 2 - left
    y = round(height * 0.92) - bottom if position == "bottom" else round(height * 0.08) - top
    draw.text((x, y), text, font=font, fill=(255, 255, 255), stroke_width=stroke,
              stroke_fill=(0, 0, 0))
    frame[:] = np.asarray(image)
    return x + left, y + top, x + right, y + bottom


def _distractors(frames: np.ndarray, font: ImageFont.FreeTypeFont, stroke: int,
                 watermark: str | None, scene_text: str | None, per_shot: int) -> None:
    """Text that is not a subtitle, in place: a watermark in the bottom-right corner on
    every frame (static, outlined), and scene text (dark on a light plate, like a sign)
    low on the left through the second shot."""
    height, width = frames.shape[1:3]
    small = font.font_variant(size=max(8, round(font.size * 0.6)))
    for i in range(len(frames)):
        in_second_shot = per_shot <= i < 2 * per_shot
        if not watermark and not (scene_text and in_second_shot):
            continue
        image = Image.fromarray(frames[i])
        draw = ImageDraw.Draw(image)
        if watermark:
            box = draw.textbbox((0, 0), watermark, font=small, stroke_width=stroke)
            draw.text((width - box[2] - round(width * 0.03), round(height * 0.96) - box[3]),
                      watermark, font=small, fill=(235, 235, 235), stroke_width=stroke,
                      stroke_fill=(20, 20, 20))
        if scene_text and in_second_shot:
            box = draw.textbbox((0, 0), scene_text, font=font)
            x, y = round(width * 0.04), round(height * 0.70)
            draw.rectangle((x - 6, y - 6, x + box[2] + 6, y + box[3] + 6), fill=(230, 225, 210))
            draw.text((x, y), scene_text, font=font, fill=(40, 40, 60))
        frames[i] = np.asarray(image)


def render(seed: int, *, width: int = 640, height: int = 360, fps: float = 25.0,
           seconds: float = 8.0, lines: tuple[str, ...] = LINES, font_file: Path | None = None,
           position: str = "bottom", watermark: str | None = None,
           scene_text: str | None = None) -> tuple[np.ndarray, np.ndarray, SubtitleTruth]:
    """(frames with subtitles, the same frames without, truth), uint8 (N, H, W, 3). Other
    `lines` need a `font_file` that has their glyphs (Pillow's own font is Latin only: e.g.
    Chinese in WenQuanYi Zen Hei, Debian's fonts-wqy-zenhei). `position` "top" puts the
    subtitles at the top; `watermark` and `scene_text` add text that is not a subtitle (not
    in the truth, and in the "without" frames too)."""
    rng = np.random.default_rng(seed)
    count = round(seconds * fps)
    per_shot = round(SHOT_SECONDS * fps)
    clean = np.concatenate([_shot(KINDS[int(rng.integers(len(KINDS)))], seed * 100 + i,
                                  min(per_shot, count - i * per_shot), width, height)
                            for i in range(-(-count // per_shot))])[:count]
    size = max(10, round(height * 0.07))
    font = ImageFont.truetype(str(font_file), size) if font_file else \
        ImageFont.load_default(size=size)
    stroke = max(1, round(height / 180))
    _distractors(clean, font, stroke, watermark, scene_text, per_shot)
    frames = clean.copy()
    cues = []
    for start, end, text in _cues(rng, count / fps, fps, lines):
        box = None
        for i in range(round(start * fps), min(count, round(end * fps))):
            box = _draw(frames[i], text, font, stroke, position)
        if box is not None:
            left, top, right, bottom = box
            cues.append(Cue(start, end, text, (left / width, top / height,
                                               (right - left) / width, (bottom - top) / height)))
    return frames, clean, SubtitleTruth(tuple(cues), count, fps, width, height)


def write_clip(path: Path, seed: int, **options: object) -> SubtitleTruth:
    """Render (options as `render`) and encode the subtitled clip to H.264."""
    frames, _, truth = render(seed, **options)  # type: ignore[arg-type]
    with media.VideoWriter(path, truth.width, truth.height, truth.fps) as writer:
        for frame in frames:
            writer.write(frame)
    return truth
