"""Pictures as 4:2:0 YUV planes, the form H.264 and VP9 decode to and encode from.

A job that only mixes pixels (keying over a background, mattes) can work on the planes
directly: no swscale conversion to RGB and back, and half the bytes of an RGB frame. The
planes are limited range (16-235 luma), as swscale writes them from RGB.
"""
from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import VideoReformatter

PIXEL_FORMAT = "yuv420p"


@dataclass(frozen=True, eq=False)
class YuvPlanes:
    """uint8 planes: y (H, W), u and v (ceil(H / 2), ceil(W / 2))."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        return int(self.y.shape[0])

    @property
    def chroma(self) -> np.ndarray:
        """U and V stacked, (2, h, w): the keyer's input."""
        return np.stack([self.u, self.v])

    @classmethod
    def from_frame(cls, frame: av.VideoFrame,
                   reformatter: VideoReformatter | None = None) -> YuvPlanes:
        """A decoded frame's planes, converted by swscale only when it is not yuv420p."""
        if frame.format.name != PIXEL_FORMAT:
            converter = reformatter if reformatter is not None else VideoReformatter()
            frame = converter.reformat(frame, format=PIXEL_FORMAT)
        return cls(*(_plane_array(plane) for plane in frame.planes))

    @classmethod
    def from_rgb(cls, rgb: np.ndarray) -> YuvPlanes:
        """An RGB uint8 (H, W, 3) picture in the planes swscale would encode it to."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[..., :3]), format="rgb24")
        return cls.from_frame(frame)

    @classmethod
    def of_colour(cls, rgb: tuple[int, int, int]) -> tuple[int, int, int]:
        """The (Y, U, V) of one RGB colour, as swscale converts it."""
        planes = cls.from_rgb(np.full((2, 2, 3), rgb, dtype=np.uint8))
        return int(planes.y[0, 0]), int(planes.u[0, 0]), int(planes.v[0, 0])

    def to_frame(self, width: int | None = None, height: int | None = None) -> av.VideoFrame:
        """A yuv420p frame of (width, height), at least the planes' size: extra columns
        and rows (an encoder's even size) repeat the edge."""
        width, height = width or self.width, height or self.height
        frame = av.VideoFrame(width, height, PIXEL_FORMAT)
        for plane, data in zip(frame.planes, (self.y, self.u, self.v), strict=True):
            target = _rows(plane)
            h, w = data.shape
            target[:h, :w] = data
            if plane.width > w:
                target[:h, w:plane.width] = data[:, -1:]
            if plane.height > h:
                target[h:, :plane.width] = target[h - 1:h, :plane.width]
        return frame

    def to_rgb(self) -> np.ndarray:
        """uint8 (H, W, 3) RGB, as swscale decodes it."""
        frame = self.to_frame(self.width + self.width % 2, self.height + self.height % 2)
        rgb = frame.to_ndarray(format="rgb24")
        return np.ascontiguousarray(rgb[:self.height, :self.width])


def _rows(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """The plane's buffer as (height, line_size) rows, padding included, without a copy."""
    return np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)


def _plane_array(plane: av.video.plane.VideoPlane) -> np.ndarray:
    return np.ascontiguousarray(_rows(plane)[:, :plane.width])
