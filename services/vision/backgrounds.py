"""Replacement backgrounds that are videos: decoded scaled to cover the output frame and
centre-cropped, looped when shorter than the foreground, picked by time (so a 30 fps
background under a 25 fps clip plays at its own speed). For SegmentPortrait and
KeyGreenScreen."""
from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.errors import InvalidArgument, MediaUndecodable
from mediamesh.media_inputs import is_still_image

_EPS = 1e-6


def read_background_image(path: Path) -> np.ndarray:
    """The background_image's pixels; INVALID_ARGUMENT when it does not decode."""
    try:
        return media.read_image(path)
    except media.MediaError as exc:
        raise MediaUndecodable(f"background_image: {exc}", field_name="background_image") \
            from exc


def check_background_video(info: media.MediaInfo) -> None:
    """A background_video must move: a still image belongs in background_image."""
    if is_still_image(info):
        raise InvalidArgument("background_video is a still image: send it as "
                              "background_image instead", field_name="background_video")


def cover_size(width: int, height: int, out_width: int, out_height: int) -> tuple[int, int]:
    """(w, h) to scale a width x height picture to so it covers out_width x out_height with
    its aspect kept (one side equal, the other at least as large)."""
    scale = max(out_width / width, out_height / height)
    return max(out_width, math.ceil(width * scale - 1e-9)), \
        max(out_height, math.ceil(height * scale - 1e-9))


class BackgroundVideo:
    """Frames of a background video for successive output times (seconds, increasing
    except when the caller starts over), uint8 (out_height, out_width, 3)."""

    def __init__(self, source: Path, info: media.MediaInfo, out_width: int, out_height: int,
                 field_name: str = "background_video") -> None:
        if not info.width or not info.height:
            raise InvalidArgument(f"{field_name} has no picture", field_name=field_name)
        self.source, self.field_name = source, field_name
        self.out_width, self.out_height = out_width, out_height
        self.size = cover_size(info.width, info.height, out_width, out_height)
        self.duration = info.duration
        self.frame_gap = 1.0 / (info.fps or 25.0)  # how long the last frame stays on screen
        self._frames: Iterator[media.VideoFrame] | None = None
        self._current: media.VideoFrame | None = None
        self._next: media.VideoFrame | None = None
        self._period: float | None = None  # seconds, once the first pass ended

    def _restart(self) -> None:
        self._frames = media.iter_frames(self.source, size=self.size)
        self._current, self._next = self._read(), None
        if self._current is None:
            raise InvalidArgument(f"{self.field_name} has no decodable frames",
                                  field_name=self.field_name)

    def _read(self) -> media.VideoFrame | None:
        assert self._frames is not None
        try:
            return next(self._frames, None)
        except media.MediaError as exc:
            raise MediaUndecodable(f"{self.field_name} cannot be decoded: {exc}",
                                   field_name=self.field_name) from exc

    def frame_at(self, seconds: float) -> np.ndarray:
        """The background frame on screen at `seconds` of the output (looped)."""
        if self._period:
            seconds %= self._period
        if self._current is None or seconds + _EPS < self._current.time:
            self._restart()
        assert self._current is not None
        while True:
            if self._next is None:
                self._next = self._read()
            if self._next is None:  # the first pass ended: now the period is known
                if self._period is None:
                    self._period = max(self.duration, self._current.time + self.frame_gap)
                    if seconds + _EPS >= self._period:
                        return self.frame_at(seconds)
                return self._crop(self._current.rgb)
            if self._next.time > seconds + _EPS:
                return self._crop(self._current.rgb)
            self._current, self._next = self._next, None

    def _crop(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        top, left = (h - self.out_height) // 2, (w - self.out_width) // 2
        return np.ascontiguousarray(rgb[top:top + self.out_height, left:left + self.out_width])

