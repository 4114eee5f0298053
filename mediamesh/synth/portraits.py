"""Portrait clips with an exact person matte: a real person cut out of a photo, moving and
scaling slowly over textured, photographic and plain backgrounds.

The person is scikit-image's astronaut.png (NASA, public domain), head and shoulders,
cut out once with the matte in `data/astronaut_matte.png` (tools/make_astronaut_matte.py;
provenance in data/README.md). Each frame composites the premultiplied cut-out, warped by
one bilinear map, over a background, and the same map warps the matte: so the truth alpha
of every frame is exact by construction (before the video codec touches the colours).

The person stands at the bottom of the frame like someone in a video call, drifts
sideways and towards/away from the camera, and holds still for a while between moves
(frames where the truth does not change: where flicker is measured). Backgrounds keep
moving all the time: scrolling textures, bouncing shapes and gradients
(mediamesh.synth.videos), slow pans over scikit-image photos without people (coffee,
rocket, Hubble deep field), or a plain lit wall. A clip is a deterministic function of
its seed and size.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.synth import videos

MATTE = Path(__file__).parent / "data" / "astronaut_matte.png"
CROP_ROWS = 340  # the matte covers the photo's top rows (see data/README.md)
BACKGROUND_KINDS = ("texture", "shapes", "gradient", "photo", "plain")
PHOTOS = ("coffee", "rocket", "hubble_deep_field")  # scikit-image samples with no people
AUDIO_RATE = 48000
# The astronaut's face in the photo, pixels (left, top, right, bottom): forehead to chin,
# ear to ear, as BlazeFace full range boxes it on the photo (score 0.94), checked by eye
FACE_BOX = (174.0, 70.0, 280.0, 175.0)


@functools.lru_cache(maxsize=1)
def person() -> tuple[np.ndarray, np.ndarray]:
    """The cut-out: RGB float32 (340, 512, 3) premultiplied by its alpha, and the alpha
    float32 (340, 512) in 0..1."""
    from skimage import data  # the test extra: scikit-image ships the photo

    alpha = media.read_image(MATTE)[..., 0].astype(np.float32) / 255.0
    rgb = data.astronaut()[:CROP_ROWS].astype(np.float32)
    if alpha.shape != rgb.shape[:2]:
        raise ValueError(f"{MATTE.name} is {alpha.shape}, the photo crop {rgb.shape[:2]}")
    return rgb * alpha[..., None], alpha


@dataclass(frozen=True)
class Pose:
    """Where the person is in a frame: horizontal centre (fraction of the width) and
    height (fraction of the frame height); the bottom edge is below the frame."""

    centre_x: float
    height: float


@dataclass
class PortraitTruth:
    seed: int
    width: int
    height: int
    fps: float
    frame_count: int
    background: str
    poses: list[Pose] = field(repr=False)

    def still(self, index: int) -> bool:
        """True when frame `index` has the same truth alpha as the frame before."""
        return index > 0 and self.poses[index] == self.poses[index - 1]


def _ease(u: float) -> float:
    return u * u * (3.0 - 2.0 * u)


def plan_poses(rng: np.random.Generator, frames: int, fps: float) -> list[Pose]:
    """Holds of 0.6-1.5 s between eased moves of 0.8-2 s to a new place and size."""
    poses: list[Pose] = []
    current = Pose(float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.75, 0.95)))
    while len(poses) < frames:
        poses += [current] * max(1, round(rng.uniform(0.6, 1.5) * fps))
        target = Pose(float(np.clip(current.centre_x + rng.uniform(-0.3, 0.3), 0.3, 0.7)),
                      float(rng.uniform(0.7, 1.0)))
        steps = max(2, round(rng.uniform(0.8, 2.0) * fps))
        for k in range(1, steps + 1):
            u = _ease(k / steps)
            poses.append(Pose(current.centre_x + (target.centre_x - current.centre_x) * u,
                              current.height + (target.height - current.height) * u))
        current = target
    return poses[:frames]


def _axis_weights(size: int, start: float, scale: float, n: int) -> np.ndarray:
    """(size, n) bilinear weights: output pixel i samples source (i + 0.5 - start) / scale
    - 0.5; zero outside the source (the cut-out is transparent there)."""
    pos = (np.arange(size) + 0.5 - start) / scale - 0.5
    low = np.floor(pos).astype(np.int64)
    frac = (pos - low).astype(np.float32)
    weights = np.zeros((size, n), np.float32)
    for offset, w in ((0, 1.0 - frac), (1, frac)):
        j = low + offset
        ok = (j >= 0) & (j < n)
        weights[np.nonzero(ok)[0], j[ok]] = w[ok]
    return weights


def _warp(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float32 (H, W, C) = rows (H, h) . image (h, w, C) . cols (W, w)^T."""
    h, w, c = image.shape
    x = (rows @ image.reshape(h, w * c)).reshape(len(rows), w, c)
    return np.ascontiguousarray(np.tensordot(x, cols, axes=([1], [1])).transpose(0, 2, 1))


def _origin(pose: Pose, width: int, height: int) -> tuple[float, float, float]:
    """(top, left, scale): where the photo crop's corner lands and how much it is scaled."""
    ph, pw = person()[1].shape
    scale = pose.height * height / ph
    top = height * 1.02 - ph * scale  # the photo's cut edge sits just below the frame
    return top, pose.centre_x * width - pw * scale / 2, scale


def _placement(pose: Pose, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The bilinear maps (rows, cols) that put the photo crop at `pose`."""
    ph, pw = person()[1].shape
    top, left, scale = _origin(pose, width, height)
    return _axis_weights(height, top, scale, ph), _axis_weights(width, left, scale, pw)


def face_box(pose: Pose, width: int, height: int) -> tuple[float, float, float, float]:
    """The face at `pose`, normalised (x, y, width, height) of the frame."""
    top, left, scale = _origin(pose, width, height)
    x0, y0, x1, y1 = FACE_BOX
    return ((left + x0 * scale) / width, (top + y0 * scale) / height,
            (x1 - x0) * scale / width, (y1 - y0) * scale / height)


def person_alpha(pose: Pose, width: int, height: int) -> np.ndarray:
    """The truth alpha float32 (H, W) in 0..1 of the person at `pose`."""
    rows, cols = _placement(pose, width, height)
    return np.clip(rows @ person()[1] @ cols.T, 0.0, 1.0)


def place_person(pose: Pose, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The premultiplied person RGB (H, W, 3) and alpha (H, W), float32, at `pose`."""
    rows, cols = _placement(pose, width, height)
    return _warp(person()[0], rows, cols), person_alpha(pose, width, height)


class _Background:
    """A moving background: a deterministic function of the frame number."""

    def __init__(self, kind: str, rng: np.random.Generator, width: int, height: int) -> None:
        self.kind, self.width, self.height = kind, width, height
        if kind in ("texture", "shapes", "gradient"):
            self.scene = videos._Scene(kind, rng, width, height, rng.random())
        elif kind == "photo":
            from skimage import data

            photo = getattr(data, PHOTOS[int(rng.integers(len(PHOTOS)))])().astype(np.float32)
            # cover the frame at 1.25x, so there is room to pan
            ih, iw = photo.shape[:2]
            self.zoom = 1.25 * max(height / ih, width / iw)
            self.photo = photo
            self.speed = rng.uniform(0.15, 0.35) * rng.choice([-1.0, 1.0])  # px a frame
        elif kind == "plain":
            x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
            y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
            colour = rng.uniform(60, 200, 3).astype(np.float32)
            self.wall = colour * (0.8 + 0.25 * x) * (1.05 - 0.15 * y)
            self.noise = rng.normal(0.0, 1.5, (5, height, width, 1)).astype(np.float32)
        else:
            raise ValueError(f"unknown background {kind!r}; known: {', '.join(BACKGROUND_KINDS)}")

    def render(self, t: int) -> np.ndarray:
        """float32 (H, W, 3) RGB 0..255 at frame `t`."""
        if self.kind == "plain":
            return self.wall + self.noise[t % len(self.noise)]
        if self.kind == "photo":
            ih, iw = self.photo.shape[:2]
            spare = iw * self.zoom - self.width
            left = -videos._bounce(spare / 2 + self.speed * t, spare)
            top = -(ih * self.zoom - self.height) / 2
            rows = _axis_weights(self.height, top, self.zoom, ih)
            cols = _axis_weights(self.width, left, self.zoom, iw)
            return _warp(self.photo, rows, cols)
        return self.scene.render(t).astype(np.float32)


@dataclass
class PortraitClip:
    truth: PortraitTruth
    background: _Background

    def frame(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame `index`: uint8 RGB (H, W, 3) and its truth alpha float32 (H, W) in 0..1."""
        t = self.truth
        rgb, alpha = place_person(t.poses[index], t.width, t.height)
        composite = rgb + self.background.render(index) * (1.0 - alpha[..., None])
        return np.clip(composite + 0.5, 0, 255).astype(np.uint8), alpha

    def alpha(self, index: int) -> np.ndarray:
        """The truth alpha float32 (H, W) in 0..1 of frame `index` (without rendering it)."""
        t = self.truth
        return person_alpha(t.poses[index], t.width, t.height)

    def frames(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i in range(self.truth.frame_count):
            yield self.frame(i)


def plan_clip(seed: int, *, width: int = 640, height: int = 360, fps: float = 25.0,
              seconds: float = 6.0, background: str | None = None) -> PortraitClip:
    """A clip's plan; `background` None picks one of BACKGROUND_KINDS by seed."""
    rng = np.random.default_rng(seed)
    kind = background or BACKGROUND_KINDS[seed % len(BACKGROUND_KINDS)]
    frames = max(1, round(seconds * fps))
    poses = plan_poses(rng, frames, fps)
    truth = PortraitTruth(seed, width, height, fps, frames, kind, poses)
    return PortraitClip(truth, _Background(kind, rng, width, height))


def tone(seconds: float, sample_rate: int = AUDIO_RATE) -> np.ndarray:
    """A quiet two-note chord, so a clip has an audio track to carry through."""
    t = np.arange(int(seconds * sample_rate), dtype=np.float32) / sample_rate
    return (0.1 * np.sin(2 * np.pi * 330.0 * t) + 0.1 * np.sin(2 * np.pi * 440.0 * t)
            ).astype(np.float32)


def write_clip(path: Path, seed: int, *, audio: bool = True, **options: object
               ) -> PortraitClip:
    """Render a clip (options as `plan_clip`) to an H.264 file, with a tone when `audio`;
    returns its plan (the truth alpha of frame i is `clip.frame(i)[1]`)."""
    clip = plan_clip(seed, **options)  # type: ignore[arg-type]
    t = clip.truth
    with media.VideoWriter(path, t.width, t.height, t.fps,
                           audio_sample_rate=AUDIO_RATE if audio else None) as writer:
        for rgb, _ in clip.frames():
            writer.write(rgb)
        if audio:
            writer.write_audio(tone(t.frame_count / t.fps))
    return clip
