"""A small media library the repo renders, for one-click creation (`mediamesh create`).

Ten short clips, each of one distinct subject drawn in its own colours (a red sunset over
the sea, a city street at night, a green forest...) with an English caption burned in at
the top that names it (over the first half of the clip, as a title), so OCR (and tags from it) can describe every clip; one music bed
(mediamesh.synth.songs, so its beats are known); and two example scripts, English and
Chinese, that describe some of the subjects in other words than the captions: matching a
sentence to its clip must go by meaning, across languages.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mediamesh import media
from mediamesh.synth.songs import render_song

WIDTH, HEIGHT, FPS = 640, 360, 25.0
PAN_PX = 48  # the picture drifts sideways by this much over a clip: it is a video
#: The caption is shown for this share of the clip, like a title: text that stays put on
#: most of a video is a watermark to OCR (TextService drops it from 60 %).
CAPTION_SHARE = 0.5
MUSIC_SEED = 16  # 4/4 at ~118 BPM, short intro
MUSIC_SECONDS = 45.0

Painter = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Subject:
    name: str  # file stem
    caption: str  # burned in, English
    colour: tuple[int, int, int]  # the dominant colour, RGB


@dataclass(frozen=True)
class LibraryTruth:
    clips: dict[str, str]  # subject name -> file, relative to the library folder
    captions: dict[str, str]
    colours: dict[str, tuple[int, int, int]]  # mean colour of each clip's picture band
    music: str
    music_bpm: float
    scripts: dict[str, str]  # language -> file
    script_subjects: list[str]  # the subject each example sentence describes, in order


def _gradient(y: np.ndarray, top: tuple[int, ...], bottom: tuple[int, ...]) -> np.ndarray:
    t = y[..., None]
    return np.array(top, np.float32) * (1 - t) + np.array(bottom, np.float32) * t


def _sunset(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = np.where(y[..., None] < 0.55, _gradient(y / 0.55, (250, 120, 40), (200, 40, 30)),
                   _gradient((y - 0.55) / 0.45, (60, 40, 90), (20, 30, 70)))
    sun = (x - 0.6) ** 2 * 3.2 + (y - 0.5) ** 2 < 0.012
    img[sun] = (255, 200, 90)
    glitter = (y > 0.6) & (np.abs(x - 0.6) < 0.08) & (rng.random(y.shape) < 0.2)
    img[glitter] = (250, 150, 80)
    return img


def _city_night(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = _gradient(y, (10, 12, 35), (25, 25, 40))
    cols = (x * 14).astype(int)
    heights = rng.uniform(0.25, 0.7, 15)
    building = y > 1 - heights[np.clip(cols, 0, 14)]
    img[building] = (30, 30, 45)
    # lit windows: 8 x 10 px panes on a 16 x 20 px grid (finer dots read as glyphs to OCR)
    cell_x, cell_y = (x * WIDTH / 16).astype(int), (y * HEIGHT / 20).astype(int)
    pane = ((x * WIDTH) % 16 < 8) & ((y * HEIGHT) % 20 < 10)
    lit = rng.random((cell_y.max() + 1, cell_x.max() + 1)) < 0.6
    img[building & pane & lit[cell_y, cell_x]] = (250, 210, 90)
    img[(y > 0.9)] = (40, 40, 50)
    return img


def _forest(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = _gradient(y, (120, 180, 110), (30, 90, 30))
    for cx in rng.uniform(0, 1.2, 14):
        top = rng.uniform(0.15, 0.45)
        tree = (y > top) & (np.abs(x - cx) < (y - top) * 0.35)
        img[tree] = (20 + rng.integers(20), 100 + rng.integers(40), 30)
    return img


def _mountains(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = _gradient(y, (70, 140, 230), (170, 210, 250))
    ridge = 0.45 + 0.2 * np.abs(((x * 3) % 1) - 0.5)
    img[y > ridge] = (235, 240, 250)
    img[y > ridge + 0.18] = (120, 130, 150)
    return img


def _desert(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = _gradient(y, (240, 220, 160), (225, 180, 100))
    dunes = y > 0.5 + 0.08 * np.sin(x * 9)
    img[dunes] = _gradient(y, (230, 170, 80), (190, 130, 60))[dunes]
    return img


def _ocean(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = _gradient(y, (20, 90, 170), (5, 25, 80))
    for cx, cy in rng.uniform(0.05, 1.1, (9, 2)):
        fish = ((x - cx) / 0.05) ** 2 + ((y - cy * 0.8) / 0.02) ** 2 < 1
        img[fish] = (250, 140, 30)
    return img


def _flowers(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = _gradient(y, (90, 150, 70), (50, 110, 40))
    blooms = ((np.sin(x * 90) * np.sin(y * 70)) > 0.6) & (y > 0.2)
    img[blooms] = (150, 60, 200)
    return img


def _rain(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = _gradient(y, (150, 155, 165), (100, 105, 115))
    streaks = ((x * 200 + y * 40).astype(int) % 11 == 0) & (rng.random(y.shape) < 0.5)
    img[streaks] = (205, 210, 220)
    return img


def _campfire(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = np.zeros(y.shape + (3,), np.float32) + (12, 8, 6)
    flame = (y > 0.35) & (np.abs(x - 0.6) < (y - 0.35) * 0.5 + rng.random(y.shape) * 0.02)
    img[flame] = _gradient(y, (255, 230, 120), (230, 80, 10))[flame]
    img[(y > 0.85) & (np.abs(x - 0.6) < 0.2)] = (90, 50, 20)
    return img


def _coffee(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = _gradient(y, (150, 100, 60), (90, 55, 30))
    cup = ((x - 0.6) / 0.16) ** 2 + ((y - 0.55) / 0.25) ** 2 < 1
    img[cup] = (245, 240, 230)
    img[((x - 0.6) / 0.13) ** 2 + ((y - 0.45) / 0.06) ** 2 < 1] = (70, 40, 20)
    return img


SUBJECTS: dict[str, tuple[str, Painter]] = {
    "sunset": ("a red sunset over the sea", _sunset),
    "city": ("a city street at night", _city_night),
    "forest": ("a green forest", _forest),
    "mountains": ("snowy mountains under a blue sky", _mountains),
    "desert": ("sand dunes in the desert", _desert),
    "ocean": ("fish in the deep blue ocean", _ocean),
    "flowers": ("a field of purple flowers", _flowers),
    "rain": ("rain on a grey window", _rain),
    "campfire": ("a campfire burning in the dark", _campfire),
    "coffee": ("a cup of coffee on a table", _coffee),
}

#: The example scripts: each sentence describes one subject without its caption's words.
SCRIPT_EN = [
    ("The evening sky glows orange as the sun sinks into the water.", "sunset"),
    ("Tall trees stand quietly in the woods.", "forest"),
    ("Neon signs glow above the crowded downtown avenue.", "city"),
    ("White peaks rise high above the valley.", "mountains"),
]
SCRIPT_ZH = [
    ("傍晚的太阳慢慢落进大海。", "sunset"),
    ("树林里的大树安静地站着。", "forest"),
    ("市中心的马路上车来车往，霓虹灯闪烁。", "city"),
    ("高高的山顶上盖满了白雪。", "mountains"),
]


def frames(name: str, seconds: float, seed: int = 0) -> np.ndarray:
    """The clip's frames, uint8 (N, HEIGHT, WIDTH, 3): its picture drifting sideways, its
    caption over the first CAPTION_SHARE of it."""
    caption, paint = SUBJECTS[name]
    rng = np.random.default_rng(seed + sum(map(ord, name)))
    wide = WIDTH + PAN_PX
    yy, xx = np.mgrid[0:HEIGHT, 0:wide].astype(np.float32)
    picture = np.clip(paint(xx / WIDTH, yy / HEIGHT, rng), 0, 255).astype(np.uint8)
    count = round(seconds * FPS)
    out = np.empty((count, HEIGHT, WIDTH, 3), np.uint8)
    for i in range(count):
        shift = round(PAN_PX * i / max(1, count - 1))
        out[i] = picture[:, shift:shift + WIDTH]
    _burn_caption(out[:round(count * CAPTION_SHARE)], caption)
    return out


def _burn_caption(clip: np.ndarray, caption: str) -> None:
    """White text outlined in black, centred at the top, on every frame (in place)."""
    size = round(HEIGHT * 0.075)
    font = ImageFont.load_default(size=size)
    layer = Image.new("L", (WIDTH, HEIGHT), 0)
    ink = Image.new("L", (WIDTH, HEIGHT), 0)
    draw, ink_draw = ImageDraw.Draw(layer), ImageDraw.Draw(ink)
    left, top, right, _ = draw.textbbox((0, 0), caption, font=font, stroke_width=2)
    x, y = (WIDTH - (right - left)) // 2 - left, round(HEIGHT * 0.06) - top
    draw.text((x, y), caption, font=font, fill=255, stroke_width=2, stroke_fill=255)
    ink_draw.text((x, y), caption, font=font, fill=255)
    outline = np.asarray(layer, np.float32)[..., None] / 255
    fill = np.asarray(ink, np.float32)[..., None] / 255
    for frame in clip:
        blended = frame * (1 - outline) + 255 * fill
        frame[:] = np.clip(blended, 0, 255).astype(np.uint8)


def picture_colour(frame: np.ndarray) -> tuple[int, int, int]:
    """Mean colour of the picture band (rows 30-75 %: below the caption, above subtitles)."""
    band = frame[round(HEIGHT * 0.3):round(HEIGHT * 0.75)]
    return tuple(round(float(v)) for v in band.reshape(-1, 3).mean(axis=0))  # type: ignore[return-value]


def write_music(path: Path, seconds: float = MUSIC_SECONDS) -> float:
    """The music bed (song MUSIC_SEED's first `seconds`, faded out); returns its tempo."""
    song = render_song(MUSIC_SEED)
    samples = song.samples[:, :round(seconds * song.rate)].copy()
    fade = round(1.5 * song.rate)
    samples[:, -fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    media.write_audio(path, samples, song.rate)
    return song.truth.tempo_bpm


def write_library(folder: Path, names: list[str] | None = None, *, seconds: float = 0.0,
                  music_seconds: float = MUSIC_SECONDS, scripts: bool = True
                  ) -> LibraryTruth:
    """Clips (all subjects, or `names`) under folder/clips, the music under folder/music,
    the example scripts and library.json; clip lengths 4-6 s unless `seconds` is given."""
    names = names or list(SUBJECTS)
    (folder / "clips").mkdir(parents=True, exist_ok=True)
    (folder / "music").mkdir(parents=True, exist_ok=True)
    clips, colours = {}, {}
    for k, name in enumerate(names):
        clip = frames(name, seconds or 4.0 + k % 3)
        relative = f"clips/{name}.mp4"
        with media.VideoWriter(folder / relative, WIDTH, HEIGHT, FPS) as writer:
            for frame in clip:
                writer.write(frame)
        clips[name] = relative
        colours[name] = picture_colour(clip[len(clip) // 2])
    bpm = write_music(folder / "music" / "bed.wav", music_seconds)
    written = {}
    if scripts:
        for language, lines in (("en", SCRIPT_EN), ("zh", SCRIPT_ZH)):
            chosen = [text for text, subject in lines if subject in names]
            written[language] = f"script.{language}.txt"
            (folder / written[language]).write_text(("\n" if language == "zh" else " ")
                                                    .join(chosen) + "\n", encoding="utf-8")
    truth = LibraryTruth(clips, {n: SUBJECTS[n][0] for n in names}, colours,
                         "music/bed.wav", bpm, written,
                         [s for _, s in SCRIPT_EN if s in names])
    (folder / "library.json").write_text(json.dumps(asdict(truth), indent=2,
                                                    ensure_ascii=False) + "\n")
    return truth
