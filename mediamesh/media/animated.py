"""Animated GIF and WebP writers for previews and short clips.

GIF is limited to 256 colours, so frames go through FFmpeg's two-pass
palettegen/paletteuse filters: one palette optimised for the whole clip, with
dithering. That means every frame is buffered (in the filter graph) until the
palette exists - fine for previews, not for long videos. Animated WebP
(libwebp_anim) keeps full colour and alpha and is much smaller. Both loop forever
by default (``loop=0``). Frames are uint8 HxWx3 (or HxWx4 for WebP alpha),
``fps`` is frames per second.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction
from itertools import chain
from typing import Any, cast

import av
import numpy as np
from av.container import OutputContainer
from av.filter import Graph
from av.video.stream import VideoStream

from mediamesh.media._convert import as_image, image_frame, with_channels
from mediamesh.media._encode import OutputPath, add_video_stream, encode, frame_rate, writing

__all__ = ["write_gif", "write_webp"]


def write_gif(path: OutputPath, frames: Iterable[np.ndarray], fps: float, loop: int = 0) -> None:
    """Write an animated GIF with a clip-wide optimised palette (alpha is dropped)."""
    rate = frame_rate(fps)
    images = _uniform_frames(frames, channels=3)
    first = next(images)
    height, width = first.shape[:2]
    with writing(path, "gif", {"loop": str(loop)}) as container:
        stream = add_video_stream(container, "gif", width, height, rate, "pal8")
        graph = _palette_graph(width, height, 1 / rate)
        for index, image in enumerate(chain([first], images)):
            frame = image_frame(image)
            frame.pts, frame.time_base = index, 1 / rate
            graph.push(frame)
            _drain(graph, container, stream)
        graph.push(None)
        _drain(graph, container, stream)
        encode(container, stream, None)


def write_webp(
    path: OutputPath, frames: Iterable[np.ndarray], fps: float, quality: int = 75, loop: int = 0
) -> None:
    """Write an animated WebP; ``quality`` 0-100 (lossy). RGBA frames keep their alpha."""
    rate = frame_rate(fps)
    images = _uniform_frames(frames, channels=None)
    first = next(images)
    height, width, channels = first.shape
    with writing(path, "webp", {"loop": str(loop)}) as container:
        pix_fmt = "yuva420p" if channels == 4 else "yuv420p"
        stream = add_video_stream(
            container, "libwebp_anim", width, height, rate, pix_fmt, {"quality": str(quality)}
        )
        for index, image in enumerate(chain([first], images)):
            frame = image_frame(image)
            frame.pts = index
            encode(container, stream, frame)
        encode(container, stream, None)


def _uniform_frames(frames: Iterable[np.ndarray], channels: int | None) -> Iterator[np.ndarray]:
    """Validate frames lazily; all must match the first one's size. ``channels`` forces 3 or 4."""
    shape: tuple[int, ...] | None = None
    for index, raw in enumerate(frames):
        image = as_image(raw, f"frame {index}")
        image = with_channels(image, channels or (shape[2] if shape else image.shape[2]))
        if shape is None:
            shape = image.shape
        elif image.shape != shape:
            raise ValueError(f"frame {index} has shape {image.shape}, but frame 0 has {shape}")
        yield image
    if shape is None:
        raise ValueError("no frames to write")


def _palette_graph(width: int, height: int, time_base: Fraction) -> Graph:
    """buffer -> split -> palettegen -> paletteuse(frames, palette) -> buffersink."""
    graph = Graph()
    source = graph.add_buffer(width=width, height=height,
                              format=cast(Any, "rgb24"),  # PyAV accepts the name
                              time_base=time_base)
    split = graph.add("split")
    palettegen = graph.add("palettegen", "stats_mode=full")
    paletteuse = graph.add("paletteuse", "dither=sierra2_4a:diff_mode=rectangle")
    sink = graph.add("buffersink")
    source.link_to(split)
    split.link_to(palettegen, 0, 0)
    split.link_to(paletteuse, 1, 0)
    palettegen.link_to(paletteuse, 0, 1)
    paletteuse.link_to(sink)
    graph.configure()
    return graph


def _drain(graph: Graph, container: OutputContainer, stream: VideoStream) -> None:
    """Encode whatever paletted frames the graph has ready."""
    while True:
        try:
            frame = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return
        encode(container, stream, frame)
