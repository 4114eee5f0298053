"""Screen-recorded lectures with exact truth, for chaptering tests and the evaluation.

A deck of slides (a large title, smaller bullets; English or Chinese titles) is shown with
changes at known times, some slides briefly (~3 s), some long. Over it: the presenter's
picture-in-picture in a corner (a face-like blob that never stops moving, on a noisy
background), a mouse cursor that wanders and rests, slide *builds* (a bullet appearing on
the same slide: not a chapter change, listed in the truth as `builds`), a faint per-frame
capture noise, and H.264 compression. `template` decks share one header bar and footer, so
consecutive slides differ only in their title and bullets.

Chinese titles need a CJK font (Debian's fonts-noto-cjk or fonts-wqy-zenhei); without one
the deck falls back to English titles in Pillow's built-in font, so tests run anywhere.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mediamesh import media

CJK_FONTS = (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
             Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
             Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"))
LATIN_FONTS = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),)

EN_TITLES = ("Introduction", "Course Overview", "Linear Regression", "Gradient Descent",
             "Loss Functions", "Overfitting", "Regularization", "Decision Trees",
             "Random Forests", "Neural Networks", "Backpropagation", "Convolutions",
             "Attention", "Evaluation Metrics", "Cross Validation", "Feature Scaling",
             "Clustering", "Summary", "Questions", "Further Reading")
ZH_TITLES = ("课程介绍", "学习目标", "线性回归", "梯度下降", "损失函数", "过拟合问题",
             "正则化方法", "决策树", "随机森林", "神经网络", "反向传播", "卷积网络",
             "注意力机制", "评价指标", "交叉验证", "特征缩放", "聚类分析", "本章小结",
             "课堂提问", "延伸阅读")
BULLETS = ("Why this matters in practice", "A worked example on real data",
           "Common mistakes and how to avoid them", "The key equation, step by step",
           "Trade-offs between speed and accuracy", "What the plot tells us",
           "Assumptions behind the method", "How to choose the parameters",
           "Comparison with the previous approach", "Exercises for next week")
PALETTES = ((250, 250, 250), (245, 242, 232), (232, 240, 250), (30, 34, 42))


@dataclass(frozen=True)
class LectureTruth:
    """What a rendered lecture shows: chapter starts (seconds, on frames; the first is 0),
    each chapter's title, and the times a bullet was built onto the same slide."""

    starts: tuple[float, ...]
    titles: tuple[str, ...]
    builds: tuple[float, ...]
    duration: float
    fps: float
    width: int
    height: int
    language: str
    presenter: tuple[int, int, int, int] | None  # x, y, w, h pixels

    @property
    def changes(self) -> tuple[float, ...]:
        """Slide changes: every chapter start but the first."""
        return self.starts[1:]


@dataclass(frozen=True)
class LectureSpec:
    """How to render one lecture; `durations` are the slides' seconds on screen."""

    seed: int = 0
    durations: tuple[float, ...] = (6.0, 3.0, 9.0, 5.0)
    language: str = "en"
    presenter: bool = True
    cursor: bool = True
    template: bool = False
    builds: bool = True
    width: int = 960
    height: int = 540
    fps: float = 15.0
    noise: float = 2.0  # capture noise, grey levels (standard deviation)
    titles: tuple[str, ...] = field(default=())
    dissolve: float = 0.0  # seconds of cross-fade into each new slide (0: a cut)
    clips: bool = False  # every third slide plays a clip (an animation) in its right half


def cjk_font() -> Path | None:
    """A font with Han glyphs, or None when none is installed."""
    return next((p for p in CJK_FONTS if p.exists()), None)


def _font(size: int, cjk: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = cjk_font() if cjk else next((p for p in (*LATIN_FONTS, *CJK_FONTS) if p.exists()),
                                        None)
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(path), size)


def deck_titles(spec: LectureSpec) -> tuple[tuple[str, ...], str]:
    """Titles for the spec's slides and the language actually used (English when a Chinese
    deck is asked for and no CJK font is installed)."""
    language = spec.language if spec.language != "zh" or cjk_font() else "en"
    if spec.titles:
        return spec.titles, language
    pool = ZH_TITLES if language == "zh" else EN_TITLES
    order = np.random.default_rng(spec.seed).permutation(len(pool))
    return tuple(pool[int(i) % len(pool)] for i in order[:len(spec.durations)]), language


def slide_picture(spec: LectureSpec, index: int, title: str, bullets: int,
                  language: str) -> np.ndarray:
    """Slide `index` with its first `bullets` bullets shown, RGB uint8."""
    w, h = spec.width, spec.height
    rng = np.random.default_rng(spec.seed * 1000 + index)
    background = PALETTES[0] if spec.template else PALETTES[int(rng.integers(len(PALETTES)))]
    ink = (235, 235, 235) if sum(background) < 300 else (25, 25, 35)
    image = Image.new("RGB", (w, h), background)
    pen = ImageDraw.Draw(image)
    if spec.template:  # one header bar and footer for every slide
        pen.rectangle([0, 0, w, round(h * 0.04)], fill=(20, 70, 140))
        pen.rectangle([0, round(h * 0.95), w, h], fill=(20, 70, 140))
    else:
        accent = tuple(int(v) for v in rng.integers(40, 200, 3))
        pen.rectangle([round(w * 0.05), round(h * 0.2), round(w * 0.6), round(h * 0.205)],
                      fill=accent)
    title_font = _font(round(h * 0.085), language == "zh")
    pen.text((round(w * 0.05), round(h * 0.07)), title, font=title_font, fill=ink)
    body = _font(round(h * 0.042), False)
    for k in range(bullets):
        text = BULLETS[(index * 3 + k) % len(BULLETS)]
        y = round(h * (0.27 + 0.1 * k))
        pen.ellipse([round(w * 0.06), y + 6, round(w * 0.06) + 10, y + 16], fill=ink)
        pen.text((round(w * 0.08), y), text, font=body, fill=ink)
    if not spec.template and rng.random() < 0.6:  # a chart on some slides
        x0, y0 = round(w * 0.45), round(h * 0.62)
        for k in range(5):
            bar = int(rng.integers(20, round(h * 0.25)))
            pen.rectangle([x0 + k * 40, y0 + round(h * 0.28) - bar, x0 + k * 40 + 28,
                           y0 + round(h * 0.28)], fill=tuple(int(v) for v in
                                                             rng.integers(0, 255, 3)))
    pen.text((round(w * 0.03), round(h * 0.955)), str(index + 1), font=_font(14, False),
             fill=(240, 240, 240) if spec.template else ink)
    return np.asarray(image)


def presenter_box(spec: LectureSpec) -> tuple[int, int, int, int]:
    """The picture-in-picture's x, y, w, h: bottom right, 24% of the width, 4:3."""
    pw = round(spec.width * 0.24)
    ph = round(pw * 0.75)
    return spec.width - pw - 12, spec.height - ph - 12, pw, ph


@functools.cache
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return yy, xx


def _draw_presenter(frame: np.ndarray, spec: LectureSpec, t: float,
                    rng: np.random.Generator) -> None:
    x, y, w, h = presenter_box(spec)
    yy, xx = _grid(h, w)
    room = np.stack([60 + 40 * np.sin(xx / 17 + t * 1.3), 80 + 30 * np.cos(yy / 13 - t),
                     90 + 20 * np.sin((xx + yy) / 29 + t * 2.1)], -1)
    cx = w * (0.5 + 0.18 * np.sin(t * 1.7)) + 4 * rng.normal()
    cy = h * (0.45 + 0.1 * np.sin(t * 2.3 + 1))
    face = ((xx - cx) / (w * 0.16)) ** 2 + ((yy - cy) / (h * 0.26)) ** 2 < 1
    body = ((xx - cx) / (w * 0.32)) ** 2 + ((yy - h) / (h * 0.35)) ** 2 < 1
    room[body] = (40, 60, 120)
    room[face] = (215, 170, 140)
    mouth = face & (np.abs(yy - cy - h * 0.1) < 2 + 3 * abs(np.sin(t * 9)))
    room[mouth] = (120, 40, 40)
    room += rng.normal(0, 6, (h, w, 1)).astype(np.float32)
    frame[y:y + h, x:x + w] = np.clip(room, 0, 255).astype(np.uint8)


_ARROW = np.array([[0, 0], [0, 17], [4, 13], [8, 21], [11, 20], [7, 12], [13, 12]], np.int32)


def _draw_cursor(frame: np.ndarray, spec: LectureSpec, t: float) -> None:
    seed = spec.seed
    moving = (t + seed) % 7 < 4.5  # moves for 4.5 s, rests for 2.5 s
    tt = t if moving else t - ((t + seed) % 7 - 4.5)
    px = spec.width * (0.45 + 0.35 * np.sin(tt * 0.9 + seed))
    py = spec.height * (0.5 + 0.35 * np.sin(tt * 1.3 + 2 * seed))
    scale = max(0.5, spec.width / 960)  # a pointer is as big on screen at any resolution
    points = np.round(_ARROW * scale).astype(np.int32) + np.array([round(px), round(py)],
                                                                   np.int32)
    cv2.fillPoly(frame, [points], (255, 255, 255))
    cv2.polylines(frame, [points], True, (0, 0, 0), 1)


def _schedule(spec: LectureSpec) -> list[tuple[float, int, int]]:
    """(start seconds, slide, bullets shown) for every slide state, start on a frame."""
    rng = np.random.default_rng(spec.seed + 77)
    states, t = [], 0.0
    for index, seconds in enumerate(spec.durations):
        bullets = int(rng.integers(2, 5))
        start = round(t * spec.fps) / spec.fps
        if spec.builds and seconds >= 6 and rng.random() < 0.7:
            built = round((t + seconds * float(rng.uniform(0.4, 0.7))) * spec.fps) / spec.fps
            states += [(start, index, bullets - 1), (built, index, bullets)]
        else:
            states.append((start, index, bullets))
        t += seconds
    return states


def render_lecture(path: Path, spec: LectureSpec) -> LectureTruth:
    """Write the lecture to `path` (H.264 .mp4) and return its truth."""
    titles, language = deck_titles(spec)
    states = _schedule(spec)
    total = round(sum(spec.durations) * spec.fps)
    rng = np.random.default_rng(spec.seed + 5)
    noise_bank = [_noise_pair(rng, spec) for _ in range(6)] if spec.noise > 0 else []
    pictures: dict[tuple[int, int], np.ndarray] = {}
    with media.VideoWriter(path, spec.width, spec.height, spec.fps) as writer:
        state = 0
        for i in range(total):
            t = i / spec.fps
            while state + 1 < len(states) and states[state + 1][0] <= t + 1e-9:
                state += 1
            begun, slide, _ = states[state]
            frame = _picture(pictures, spec, states[state], titles, language).copy()
            if spec.clips and slide % 3 == 1:
                _draw_clip(frame, spec, t)
            fading = (t - begun) / spec.dissolve if spec.dissolve else 1.0
            if fading < 1.0 and state > 0 and states[state - 1][1] != slide:
                before = _picture(pictures, spec, states[state - 1], titles, language)
                frame = cv2.addWeighted(before, 1 - fading, frame, fading, 0)
            if spec.presenter:
                _draw_presenter(frame, spec, t, rng)
            if spec.cursor:
                _draw_cursor(frame, spec, t)
            if noise_bank:
                up, down = noise_bank[i % len(noise_bank)]
                frame = cv2.subtract(cv2.add(frame, up), down)
            writer.write(frame)
    starts = tuple(s for s, _, _ in _first_states(states))
    builds = tuple(s for s, slide, _ in states if s not in starts)
    return LectureTruth(starts, titles[:len(spec.durations)], builds, total / spec.fps,
                        spec.fps, spec.width, spec.height, language,
                        presenter_box(spec) if spec.presenter else None)


def _picture(cache: dict[tuple[int, int], np.ndarray], spec: LectureSpec,
             state: tuple[float, int, int], titles: tuple[str, ...], language: str
             ) -> np.ndarray:
    _, slide, bullets = state
    if (slide, bullets) not in cache:
        cache[slide, bullets] = slide_picture(spec, slide, titles[slide], bullets, language)
    return cache[slide, bullets]


def _draw_clip(frame: np.ndarray, spec: LectureSpec, t: float) -> None:
    """A video playing inside the slide: a ball bouncing over moving stripes."""
    x0, y0 = round(spec.width * 0.55), round(spec.height * 0.3)
    w, h = round(spec.width * 0.3), round(spec.height * 0.28)
    yy, xx = _grid(h, w)
    stripes = 120 + 100 * np.sin(xx / 9 + t * 4)
    region = np.stack([stripes, 255 - stripes, 0.5 * stripes + 60], -1)
    bx, by = w * (0.5 + 0.4 * np.sin(t * 2.2)), h * (0.5 + 0.4 * np.cos(t * 3.1))
    region[(xx - bx) ** 2 + (yy - by) ** 2 < (h * 0.15) ** 2] = (250, 220, 40)
    frame[y0:y0 + h, x0:x0 + w] = region.astype(np.uint8)


def _noise_pair(rng: np.random.Generator, spec: LectureSpec) -> tuple[np.ndarray, np.ndarray]:
    """Capture noise as (added, subtracted) uint8 planes: saturating adds are cheap."""
    noise = np.repeat(rng.normal(0, spec.noise, (spec.height, spec.width, 1)), 3, axis=2)
    return (np.clip(noise, 0, 255).astype(np.uint8), np.clip(-noise, 0, 255).astype(np.uint8))


def _first_states(states: list[tuple[float, int, int]]) -> list[tuple[float, int, int]]:
    seen: set[int] = set()
    firsts = []
    for state in states:
        if state[1] not in seen:
            seen.add(state[1])
            firsts.append(state)
    return firsts


def random_durations(rng: np.random.Generator, slides: int) -> tuple[float, ...]:
    """Slide times: about one in four brief (2.5-4 s), the rest 5-16 s."""
    return tuple(round(float(rng.uniform(2.5, 4.0) if rng.random() < 0.25
                             else rng.uniform(5.0, 16.0)), 1) for _ in range(slides))
