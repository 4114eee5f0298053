"""Video clips with exact shot ground truth: cuts, dissolves, fades, flashes.

Why render our own: an evaluation of shot detection needs boundaries known to the frame,
and the clips must be hard in the ways real footage is hard for a cut detector:
  - shots of distinct synthetic content that keeps moving: scrolling textures, drifting
    gradients, moving shapes, a fast pan over a wide panorama, camera shake;
  - hard cuts, cross-dissolves of 10-30 frames, fades to and from black (a dip through
    black, a fade out then a cut, a cut to black then a fade in), a fade in at the start
    and a fade out at the end;
  - 1-3 frame white flashes inside shots, which are not boundaries.
A clip is a deterministic function of its seed (and size, rate, options): the same seed
renders the same frames.

Conventions of the truth (the same ones DetectShots reports):
  - frames are numbered from 0; a shot covers [start, end);
  - a cut's boundary is the first frame of the new shot;
  - a dissolve's boundary is its middle frame (first half belongs to the old shot);
  - through black, the black frames belong to the old shot and the boundary is the first
    frame of the new shot's content (the first frame of its fade in, if it fades in).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from mediamesh import media


class Transition(StrEnum):
    """How a shot begins (names follow the contract's TransitionType)."""

    NONE = "none"  # the first shot, with no fade in
    CUT = "cut"
    DISSOLVE = "dissolve"
    FADE_IN = "fade_in"  # this shot fades in from black
    FADE_OUT = "fade_out"  # the previous shot faded out to black, then a cut to this one


GRADUAL = (Transition.DISSOLVE, Transition.FADE_IN, Transition.FADE_OUT)
CONTENT_KINDS = ("texture", "gradient", "shapes", "pan", "shake")


@dataclass(frozen=True)
class Boundary:
    """One shot boundary: `frame` is the new shot's first frame; a gradual transition
    occupies frames [span_start, span_end)."""

    frame: int
    kind: Transition
    span_start: int
    span_end: int

    @property
    def gradual(self) -> bool:
        return self.kind in GRADUAL


@dataclass(frozen=True)
class TruthShot:
    start: int
    end: int  # exclusive
    transition_in: Transition
    content: str


@dataclass(frozen=True)
class Flash:
    start: int
    length: int  # frames, 1-3


@dataclass
class ClipTruth:
    """Exact annotations of a rendered clip, in frames at `fps`."""

    seed: int
    width: int
    height: int
    fps: float
    frame_count: int
    shots: list[TruthShot] = field(default_factory=list)
    boundaries: list[Boundary] = field(default_factory=list)
    flashes: list[Flash] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Layer:
    shot: int
    t: int  # the shot's own frame clock: content keeps moving through transitions
    weight: float


@dataclass(frozen=True)
class _Recipe:
    layers: tuple[_Layer, ...]
    white: float = 0.0
    steady: bool = False  # a full-weight frame of one shot (flashes may go there)


class _Scene:
    """One shot's content: a deterministic function of its own frame clock."""

    def __init__(self, kind: str, rng: np.random.Generator, width: int, height: int,
                 hue: float) -> None:
        self.kind, self.width, self.height = kind, width, height
        self.palette = _palette(rng, hue)
        self.scale = width / 640.0
        self.velocity = rng.uniform(-1.0, 1.0, 2) * self.scale * 2.0
        if kind == "texture":
            self.field = _levels(_smooth_noise(rng, height + 128, width + 128, 24.0 * self.scale))
        elif kind == "gradient":
            # smooth, so computed at half resolution and repeated (4x cheaper)
            self.grid = np.mgrid[0:height:2, 0:width:2].astype(np.float32)
            self.centre = rng.uniform(0.2, 0.8, 2) * (width, height)
            self.wavelength = rng.uniform(40, 90) * self.scale
            self.angle = rng.uniform(0, np.pi)
        elif kind == "shapes":
            count = int(rng.integers(4, 8))
            self.shapes = [(rng.uniform(0, width), rng.uniform(0, height),
                            rng.uniform(-4, 4) * self.scale, rng.uniform(-3, 3) * self.scale,
                            rng.uniform(0.06, 0.16) * width, int(rng.integers(1, 3)),
                            bool(rng.random() < 0.5)) for _ in range(count)]
        elif kind == "pan":
            self.pan_speed = rng.uniform(12, 22) * self.scale * rng.choice([-1.0, 1.0])
            texture = _smooth_noise(rng, height, width * 6, 10.0 * self.scale)
            drift = _smooth_noise(rng, 1, width * 6, 160.0 * self.scale)  # colour along x
            self.field = _levels(0.65 * texture + 0.35 * drift)
        elif kind == "shake":
            self.field = _levels(_smooth_noise(rng, height + 96, width + 96, 8.0 * self.scale))
            self.jitter = rng.normal(0.0, 5.0 * self.scale, (4096, 2))
        else:
            raise ValueError(f"unknown content kind {kind!r}; known: {', '.join(CONTENT_KINDS)}")

    def render(self, t: int) -> np.ndarray:
        """uint8 (H, W, 3) RGB at the shot's frame `t`."""
        h, w = self.height, self.width
        if self.kind == "texture":
            dx, dy = (self.velocity * t) % 128
            return self.palette[self.field[int(dy):int(dy) + h, int(dx):int(dx) + w]]
        elif self.kind == "gradient":
            yy, xx = self.grid
            cx, cy = self.centre + self.velocity * t * 2
            r = np.hypot(xx - cx, yy - cy)
            along = xx * np.cos(self.angle) + yy * np.sin(self.angle)
            half = 0.5 + 0.3 * np.sin(r / self.wavelength - 0.15 * t) \
                + 0.2 * np.sin(along / (2.7 * self.wavelength) + 0.05 * t)
            f = half.repeat(2, axis=0).repeat(2, axis=1)[:h, :w]
        elif self.kind == "shapes":
            return self._render_shapes(t)
        elif self.kind == "pan":
            x0 = int(self.pan_speed * t) % (self.field.shape[1] - w)
            return self.palette[self.field[:, x0:x0 + w]]
        else:  # shake
            jx, jy = np.clip(self.jitter[t % len(self.jitter)], -40, 40) + 48
            return self.palette[self.field[int(jy):int(jy) + h, int(jx):int(jx) + w]]
        return _apply_palette(f, self.palette)

    def _render_shapes(self, t: int) -> np.ndarray:
        h, w = self.height, self.width
        ramp = 0.15 + 0.2 * np.arange(h, dtype=np.float32)[:, None] / h
        image = _apply_palette(np.repeat(ramp, w, axis=1), self.palette)
        for i, (x, y, vx, vy, size, shade, is_disc) in enumerate(self.shapes):
            cx, cy = _bounce(x + vx * t, w), _bounce(y + vy * t, h)
            x0, x1 = max(0, int(cx - size / 2)), min(w, int(cx + size / 2) + 1)
            y0, y1 = max(0, int(cy - size / 2)), min(h, int(cy + size / 2) + 1)
            yy, xx = np.mgrid[y0:y1, x0:x1]
            if is_disc:
                mask = (xx - cx) ** 2 + (yy - cy) ** 2 < (size / 2) ** 2
            else:
                mask = np.abs(yy - cy) < size / 3
            image[y0:y1, x0:x1][mask] = self.palette[(0, 128, 255)[min(shade + (i % 2), 2)]]
        return image


def _bounce(position: float, limit: float) -> float:
    period = 2 * limit
    p = position % period
    return p if p < limit else period - p


def _palette(rng: np.random.Generator, hue: float) -> np.ndarray:
    """A 256-entry RGB lookup table through three colours around `hue` (0..1), dark to
    light: a shot's colour identity."""
    hues = (hue + np.array([0.0, rng.uniform(0.05, 0.12), rng.uniform(-0.12, -0.05)])) % 1.0
    sats = rng.uniform(0.45, 0.95, 3)
    values = np.sort(rng.uniform(0.25, 1.0, 3))
    values[0] = min(values[0], 0.45)
    colours = np.array([_hsv_to_rgb(hh, s, v) for hh, s, v in zip(hues, sats, values)]) * 255
    f = np.linspace(0.0, 1.0, 256)[:, None]
    lut = colours[0] + (colours[1] - colours[0]) * np.clip(f * 2, 0, 1) \
        + (colours[2] - colours[1]) * np.clip(f * 2 - 1, 0, 1)
    return np.round(lut).astype(np.uint8)


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, u = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return [(v, u, p), (q, v, p), (p, v, u), (p, q, v), (u, p, v), (v, p, q)][i]


def _levels(f: np.ndarray) -> np.ndarray:
    """A field in 0..1 as palette indices 0..255."""
    return (np.clip(f, 0.0, 1.0) * 255.0).astype(np.uint8)


def _apply_palette(f: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Map a field in 0..1 through the palette's lookup table: uint8 (H, W, 3)."""
    return palette[_levels(f)]


def _smooth_noise(rng: np.random.Generator, h: int, w: int, scale_px: float) -> np.ndarray:
    """Band-limited noise in 0..1 with features about `scale_px` wide (FFT low-pass)."""
    noise = rng.standard_normal((h, w))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    spectrum = np.fft.rfft2(noise) * np.exp(-((fx ** 2 + fy ** 2) * (scale_px * 2.0) ** 2))
    f = np.fft.irfft2(spectrum, s=(h, w))
    f = (f - f.mean()) / (f.std() + 1e-9)
    return (0.5 + 0.22 * f).astype(np.float32)


def shot_frames(kind: str, seed: int, count: int, width: int, height: int) -> np.ndarray:
    """`count` frames of one shot's content, uint8 (count, H, W, 3): for tests that build
    their own transitions."""
    rng = np.random.default_rng(seed)
    scene = _Scene(kind, rng, width, height, rng.random())
    return np.stack([scene.render(t) for t in range(count)])


@dataclass
class ClipPlan:
    """A clip before rendering: its scenes, one recipe per frame, and the truth."""

    truth: ClipTruth
    scenes: list[_Scene]
    recipes: list[_Recipe]


def plan_clip(seed: int, *, shots: int = 8, width: int = 640, height: int = 360,
              fps: float = 25.0, gradual: bool = True, flashes: bool = True,
              min_shot_frames: int = 40, max_shot_frames: int = 110) -> ClipPlan:
    """Plan a clip of `shots` shots; every content kind appears when shots >= 5."""
    if shots < 1:
        raise ValueError(f"a clip needs at least one shot, got {shots}")
    rng = np.random.default_rng(seed)
    kinds = list(rng.permutation(CONTENT_KINDS))
    while len(kinds) < shots:
        kinds.append(str(rng.choice(CONTENT_KINDS)))
    hue = rng.random()
    scenes = []
    for kind in kinds[:shots]:
        hue = (hue + rng.uniform(0.25, 0.75)) % 1.0  # neighbours never share a colour
        scenes.append(_Scene(str(kind), rng, width, height, hue))
    truth = ClipTruth(seed, width, height, fps, 0)
    recipes: list[_Recipe] = []
    clock = [0] * shots

    def own(shot: int, weight: float = 1.0) -> _Layer:
        layer = _Layer(shot, clock[shot], weight)
        clock[shot] += 1
        return layer

    shot_start, incoming = 0, Transition.NONE
    if gradual and rng.random() < 0.35:  # the clip opens with a fade in from black
        incoming = Transition.FADE_IN
        length = int(rng.integers(10, 21))
        recipes += [_Recipe((own(0, (k + 1) / (length + 1)),)) for k in range(length)]
    for i in range(shots):
        for _ in range(int(rng.integers(min_shot_frames, max_shot_frames + 1))):
            recipes.append(_Recipe((own(i),), steady=True))
        if i == shots - 1:
            if gradual and rng.random() < 0.35:  # and closes with a fade out to black
                length = int(rng.integers(10, 21))
                recipes += [_Recipe((own(i, (length - 1 - k) / length),))
                            for k in range(length)]
                recipes += [_Recipe(())] * int(rng.integers(0, 6))
            break
        kind = _pick_transition(rng, gradual)
        span_start = len(recipes)
        if kind is Transition.CUT:
            frame = span_start
        elif kind is Transition.DISSOLVE:
            length = int(rng.integers(10, 31))
            for k in range(length):
                a = (k + 1) / (length + 1)
                recipes.append(_Recipe((own(i, 1 - a), own(i + 1, a))))
            frame = span_start + length // 2
        else:
            fade_out = kind is Transition.FADE_OUT or rng.random() < 0.6
            fade_in = kind is Transition.FADE_IN
            if fade_out:
                length = int(rng.integers(8, 21))
                recipes += [_Recipe((own(i, (length - 1 - k) / length),)) for k in range(length)]
            hold = int(rng.integers(0 if fade_out and fade_in else 3, 8))
            recipes += [_Recipe(())] * hold
            frame = len(recipes)
            if fade_in:
                length = int(rng.integers(8, 21))
                recipes += [_Recipe((own(i + 1, (k + 1) / (length + 1)),))
                            for k in range(length)]
        span_end = max(len(recipes), frame + 1)
        truth.boundaries.append(Boundary(frame, kind, span_start, span_end))
        truth.shots.append(TruthShot(shot_start, frame, incoming, scenes[i].kind))
        shot_start, incoming = frame, kind
    truth.shots.append(TruthShot(shot_start, len(recipes), incoming, scenes[-1].kind))
    truth.frame_count = len(recipes)
    if flashes:
        truth.flashes = _place_flashes(rng, recipes, truth.boundaries)
        for flash in truth.flashes:
            strength = rng.uniform(0.85, 1.0)
            for f in range(flash.start, flash.start + flash.length):
                r = recipes[f]
                recipes[f] = _Recipe(tuple(_Layer(x.shot, x.t, x.weight * (1 - strength))
                                           for x in r.layers), strength)
    return ClipPlan(truth, scenes, recipes)


def _pick_transition(rng: np.random.Generator, gradual: bool) -> Transition:
    if not gradual:
        return Transition.CUT
    roll = rng.random()
    if roll < 0.45:
        return Transition.CUT
    if roll < 0.75:
        return Transition.DISSOLVE
    return Transition.FADE_IN if roll < 0.9 else Transition.FADE_OUT


def _place_flashes(rng: np.random.Generator, recipes: list[_Recipe],
                   boundaries: list[Boundary], margin: int = 8) -> list[Flash]:
    """About one flash per three shots, inside steady stretches, `margin` frames clear of
    any transition and of each other."""
    steady = np.array([r.steady for r in recipes])
    for b in boundaries:  # a cut has no transition frames: keep clear of it too
        steady[max(0, b.frame - margin):b.frame + margin] = False
    ok = steady.copy()
    for shift in range(1, margin + 4):  # the whole flash +- margin must be steady
        ok[:-shift] &= steady[shift:]
        ok[shift:] &= steady[:-shift]
    ok[:margin] = False  # ... and inside the clip
    ok[max(0, len(ok) - margin - 3):] = False
    candidates = np.flatnonzero(ok)
    flashes: list[Flash] = []
    for _ in range(max(1, (len(boundaries) + 1) // 3)):
        if len(candidates) == 0:
            break
        start = int(rng.choice(candidates))
        flashes.append(Flash(start, int(rng.integers(1, 4))))
        candidates = candidates[np.abs(candidates - start) > 2 * margin + 4]
    return sorted(flashes, key=lambda f: f.start)


def render_frames(plan: ClipPlan) -> Iterator[np.ndarray]:
    """The clip's frames, uint8 (H, W, 3) RGB, with a little sensor noise."""
    truth = plan.truth
    shape = (truth.height, truth.width, 3)
    # a few noise frames cycled by a stride: per-frame noise without per-frame cost
    bank = np.random.default_rng(truth.seed).integers(-2, 3, (7, *shape), dtype=np.int16)
    for index, recipe in enumerate(plan.recipes):
        noise = bank[(index * 3) % len(bank)]
        if recipe.steady and recipe.white == 0:  # the common case: one shot, full weight
            single = plan.scenes[recipe.layers[0].shot].render(recipe.layers[0].t)
            yield np.clip(single + noise, 0, 255).astype(np.uint8)
            continue
        image = np.zeros(shape, np.float32)
        for layer in recipe.layers:
            if layer.weight > 0:
                image += layer.weight * plan.scenes[layer.shot].render(layer.t)
        image += 255.0 * recipe.white
        noisy = np.round(image).astype(np.int16) + noise
        yield np.clip(noisy, 0, 255).astype(np.uint8)


def write_clip(path: Path, seed: int, **options: Any) -> ClipTruth:
    """Render a clip (options as `plan_clip`) to an H.264 file; returns its truth."""
    plan = plan_clip(seed, **options)
    truth = plan.truth
    with media.VideoWriter(path, truth.width, truth.height, truth.fps) as writer:
        for frame in render_frames(plan):
            writer.write(frame)
    return truth
