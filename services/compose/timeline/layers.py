"""Pictures for the compositor: video clips and stills fitted to the output frame, and
overlay images or videos with their alpha, each read forward as the timeline plays.

Why forward-only readers: the renderer asks for timeline frames in order, so each clip's
decoder runs once from its first frame (one seek) and holds one decoded frame; memory
stays bounded by the number of clips on screen, however long the sources are. Frames are
scaled by swscale while decoding (iter_frames' size), never by numpy afterwards.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import cv2
import numpy as np

from mediamesh import media
from services.compose.timeline.spec import Fit, OverlaySpec, Rect, VideoClipSpec

EPS = 1e-6  # seconds
F = TypeVar("F", media.VideoFrame, media.YuvFrame)


@dataclass(frozen=True)
class Picture:
    """Pixels placed at (x, y) of the output frame; `alpha` (float32 0..1, same height and
    width) or None for opaque."""

    rgb: np.ndarray
    x: int
    y: int
    alpha: np.ndarray | None = None


@dataclass(frozen=True)
class FitGeometry:
    """How a source of one size lands in the frame: scaled to `scaled`, then the window
    at `crop` (x, y) of size `size` is pasted at `paste` (x, y) of the output."""

    scaled: tuple[int, int]
    crop: tuple[int, int]
    size: tuple[int, int]
    paste: tuple[int, int]


def fit_geometry(source: tuple[int, int], frame: tuple[int, int], fit: Fit) -> FitGeometry:
    """Crop covers the frame (centred), pad fits inside it (centred), stretch fills it."""
    sw, sh = source
    fw, fh = frame
    if fit is Fit.STRETCH:
        return FitGeometry((fw, fh), (0, 0), (fw, fh), (0, 0))
    scale = max(fw / sw, fh / sh) if fit is Fit.CROP else min(fw / sw, fh / sh)
    w, h = max(1, round(sw * scale)), max(1, round(sh * scale))
    if fit is Fit.CROP:
        w, h = max(w, fw), max(h, fh)
        return FitGeometry((w, h), ((w - fw) // 2, (h - fh) // 2), (fw, fh), (0, 0))
    w, h = min(w, fw), min(h, fh)
    return FitGeometry((w, h), (0, 0), (w, h), ((fw - w) // 2, (fh - h) // 2))


def _window(rgb: np.ndarray, geometry: FitGeometry) -> np.ndarray:
    x, y = geometry.crop
    w, h = geometry.size
    return rgb[y:y + h, x:x + w]


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (image.shape[1], image.shape[0]) == size:
        return image
    shrinking = size[0] < image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


class ForwardFrames(Generic[F]):
    """The frame on screen at increasing source times: the last one starting at or before
    the asked time (the first frame for earlier times, the last for later ones)."""

    def __init__(self, frames: Iterator[F]) -> None:
        self._frames = frames
        self._current: F | None = next(frames, None)
        self._next: F | None = next(frames, None)

    def at(self, time: float) -> F | None:
        while self._next is not None and self._next.time <= time + EPS:
            self._current, self._next = self._next, next(self._frames, None)
        return self._current

    def close(self) -> None:
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()


class ClipLayer:
    """One video clip or still on a track, fitted to the output frame.

    Each output frame shows the source frame nearest to its source time (the clip's
    start and in-point are snapped to the frame grids when the timeline is resolved, so
    at equal rates this is exact, and across rates picture and sound stay within half a
    frame). A source already at the output size is decoded as 4:2:0 planes: frames that
    show it alone go to the encoder untouched (`planes`), the others convert once."""

    def __init__(self, clip: VideoClipSpec, path: Path, info: media.MediaInfo,
                 frame: tuple[int, int]) -> None:
        self.clip = clip
        self.geometry = fit_geometry((info.width or 1, info.height or 1), frame, clip.fit)
        self._half_frame = 0.5 / (info.fps or 25.0)
        self._still: np.ndarray | None = None
        self._frames: ForwardFrames[media.VideoFrame] | None = None
        self._planar: ForwardFrames[media.YuvFrame] | None = None
        self._rgb_of: tuple[int, np.ndarray] | None = None
        if clip.still:
            image = media.read_image(path)
            self._still = _window(_resized(image, self.geometry.scaled), self.geometry)
            return
        # from one frame early: a range starting mid-frame opens on the frame then on
        # screen, which began before the range did
        early = max(0.0, clip.source_start - 2 * self._half_frame)
        native = (info.width, info.height) == frame == self.geometry.scaled \
            and self.geometry.crop == (0, 0) and frame[0] % 2 == 0 and frame[1] % 2 == 0
        if native:
            self._planar = ForwardFrames(media.iter_yuv_frames(path, start=early,
                                                               end=clip.source_end))
        else:
            self._frames = ForwardFrames(media.iter_frames(
                path, start=early, end=clip.source_end, size=self.geometry.scaled))

    def _source_time(self, t: float) -> float:
        """The source time shown at timeline second `t`, moved half a frame on so the
        forward reader's "last frame starting before" is the nearest frame."""
        assert self.clip.source_end is not None
        return min(self.clip.source_time(t), self.clip.source_end) + self._half_frame

    def planes(self, t: float) -> media.YuvPlanes | None:
        """The frame at `t` as 4:2:0 planes when the source is decoded that way, else None."""
        if self._planar is None:
            return None
        frame = self._planar.at(self._source_time(t))
        return None if frame is None else frame.planes

    def picture(self, t: float) -> Picture | None:
        """What the clip shows at timeline second `t` (its last frame once it has ended)."""
        if self._still is not None:
            return Picture(self._still, *self.geometry.paste)
        if self._planar is not None:
            yuv = self._planar.at(self._source_time(t))
            if yuv is None:
                return None
            if self._rgb_of is None or self._rgb_of[0] != yuv.index:
                self._rgb_of = (yuv.index, yuv.planes.to_rgb())
            return Picture(self._rgb_of[1], 0, 0)
        assert self._frames is not None
        decoded = self._frames.at(self._source_time(t))
        if decoded is None:
            return None
        full = decoded.rgb
        rgb = _window(full, self.geometry) if self.geometry.crop != (0, 0) or \
            full.shape[1::-1] != self.geometry.size else full
        return Picture(rgb, *self.geometry.paste)

    def close(self) -> None:
        for frames in (self._frames, self._planar):
            if frames is not None:
                frames.close()


def pixel_rect(rect: Rect, frame: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x, y, width, height) in whole pixels of a normalised box, at least 1 x 1."""
    fw, fh = frame
    x, y = round(rect[0] * fw), round(rect[1] * fh)
    w = max(1, min(fw - x, round(rect[2] * fw)))
    h = max(1, min(fh - y, round(rect[3] * fh)))
    return x, y, w, h


class OverlayLayer:
    """An image or video stretched into its box, with alpha from the image itself (PNG/WebP
    with transparency), from a separate matte (image or video, its luma), and opacity."""

    def __init__(self, spec: OverlaySpec, image_path: Path, image_is_still: bool,
                 alpha_path: Path | None, alpha_is_still: bool, frame: tuple[int, int]) -> None:
        self.spec = spec
        self.x, self.y, w, h = pixel_rect(spec.rect, frame)
        self.size = (w, h)
        self._still_rgb: np.ndarray | None = None
        self._still_alpha: np.ndarray | None = None
        self._video: ForwardFrames[media.VideoFrame] | None = None
        self._matte: ForwardFrames[media.VideoFrame] | None = None
        if image_is_still:
            image = _resized(media.read_image(image_path, keep_alpha=True), self.size)
            self._still_rgb = np.ascontiguousarray(image[..., :3])
            if image.shape[2] == 4:
                self._still_alpha = image[..., 3].astype(np.float32) / 255.0
        else:
            self._video = ForwardFrames(media.iter_frames(image_path, size=self.size))
        if alpha_path is not None:
            if alpha_is_still:
                matte = _resized(media.read_image(alpha_path), self.size)
                self._still_alpha = matte[..., 0].astype(np.float32) / 255.0
            else:
                self._matte = ForwardFrames(media.iter_frames(alpha_path, size=self.size))

    def shown(self, t: float) -> bool:
        return self.spec.start - EPS <= t and (self.spec.end is None or t < self.spec.end - EPS)

    def picture(self, t: float) -> Picture | None:
        local = t - self.spec.start
        if self._video is None:
            rgb = self._still_rgb
        else:
            shown = self._video.at(local)
            rgb = None if shown is None else shown.rgb
        if rgb is None:
            return None
        alpha = self._still_alpha
        if self._matte is not None:
            matte = self._matte.at(local)
            alpha = None if matte is None else matte.rgb[..., 0].astype(np.float32) / 255.0
        if self.spec.opacity < 1.0:
            alpha = np.full(rgb.shape[:2], self.spec.opacity, np.float32) if alpha is None \
                else alpha * np.float32(self.spec.opacity)
        return Picture(rgb, self.x, self.y, alpha)

    def close(self) -> None:
        for frames in (self._video, self._matte):
            if frames is not None:
                frames.close()


def draw(canvas: np.ndarray, picture: Picture) -> None:
    """Paint `picture` onto `canvas` in place (alpha-blended where it has alpha), clipped
    to the canvas."""
    h, w = picture.rgb.shape[:2]
    x0, y0 = max(0, picture.x), max(0, picture.y)
    x1, y1 = min(canvas.shape[1], picture.x + w), min(canvas.shape[0], picture.y + h)
    if x1 <= x0 or y1 <= y0:
        return
    src = picture.rgb[y0 - picture.y:y1 - picture.y, x0 - picture.x:x1 - picture.x]
    if picture.alpha is None:
        canvas[y0:y1, x0:x1] = src
        return
    a = picture.alpha[y0 - picture.y:y1 - picture.y, x0 - picture.x:x1 - picture.x, None]
    below = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = (below + (src.astype(np.float32) - below) * a + 0.5).astype(np.uint8)
