"""A contact sheet: frames of a video in a grid, each with its time, as one picture, so a
person sees at a glance what an edit shows and when."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mediamesh import media
from mediamesh.errors import InvalidArgument

DEFAULT_COUNT = 12
MAX_FRAMES = 100
DEFAULT_COLUMNS = 4
DEFAULT_THUMB_WIDTH = 320
THUMB_WIDTH_RANGE = (64, 1280)
GAP = 6  # pixels between and around the frames
LABEL_HEIGHT_RATIO = 0.12  # of the thumbnail height, under each frame
BACKGROUND = (24, 24, 24)


@dataclass(frozen=True)
class SheetLayout:
    columns: int
    thumb_width: int

    @classmethod
    def of(cls, columns: int, thumb_width: int) -> SheetLayout:
        columns = columns or DEFAULT_COLUMNS
        if columns > MAX_FRAMES:
            raise InvalidArgument(f"columns must be at most {MAX_FRAMES}, got {columns}",
                                  field_name="columns")
        lo, hi = THUMB_WIDTH_RANGE
        width = thumb_width or DEFAULT_THUMB_WIDTH
        if not lo <= width <= hi:
            raise InvalidArgument(f"thumb_width must be {lo}..{hi} pixels, got {width}",
                                  field_name="thumb_width")
        return cls(columns, width)


def frame_times(times: list[float], count: int, duration: float) -> list[float]:
    """The times asked for (checked against the video), or `count` evenly spaced ones, each
    in the middle of its share of the video."""
    if times:
        if len(times) > MAX_FRAMES:
            raise InvalidArgument(f"{len(times)} times; a sheet holds at most {MAX_FRAMES}",
                                  field_name="times")
        for i, t in enumerate(times):
            if not 0 <= t <= duration:
                raise InvalidArgument(f"times[{i}] = {t:g} s is outside the video (0..."
                                      f"{duration:.3f} s)", field_name=f"times[{i}]")
        return list(times)
    count = count or DEFAULT_COUNT
    if count > MAX_FRAMES:
        raise InvalidArgument(f"count must be at most {MAX_FRAMES}, got {count}",
                              field_name="count")
    return [duration * (k + 0.5) / count for k in range(count)]


def clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:05.2f}"


def compose(frames: list[media.VideoFrame], times: list[float], layout: SheetLayout
            ) -> np.ndarray:
    """The frames scaled to the layout's width, in rows, each over its time stamp."""
    first = frames[0].rgb
    thumb_w = layout.thumb_width
    thumb_h = max(1, round(first.shape[0] * thumb_w / first.shape[1]))
    label_h = max(12, round(thumb_h * LABEL_HEIGHT_RATIO))
    columns = min(layout.columns, len(frames))
    rows = -(-len(frames) // columns)
    sheet = Image.new("RGB", (GAP + columns * (thumb_w + GAP),
                              GAP + rows * (thumb_h + label_h + GAP)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=max(10, round(label_h * 0.8)))
    for k, (frame, t) in enumerate(zip(frames, times, strict=True)):
        x = GAP + (k % columns) * (thumb_w + GAP)
        y = GAP + (k // columns) * (thumb_h + label_h + GAP)
        thumb = Image.fromarray(frame.rgb[..., :3]).resize((thumb_w, thumb_h), Image.BILINEAR)
        sheet.paste(thumb, (x, y))
        draw.text((x + 2, y + thumb_h + 1), f"#{k + 1}  {clock(t)}", font=font,
                  fill=(235, 235, 235))
    return np.asarray(sheet)
