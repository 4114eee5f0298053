"""Boxes as the contract gives them (common.proto's Box: x, y, width, height as fractions
0..1 of the frame), and the one check every RPC that takes a box applies."""
from __future__ import annotations

import math
from dataclasses import dataclass

from mediamesh.errors import InvalidArgument


@dataclass(frozen=True)
class NormBox:
    x: float
    y: float
    width: float
    height: float

    def pixels(self, frame_width: int, frame_height: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) in pixels, clipped to the frame, covering every pixel
        the box touches (rounding outwards: a blur must not leave a sliver of a face)."""
        left = max(0, math.floor(self.x * frame_width))
        top = max(0, math.floor(self.y * frame_height))
        right = min(frame_width, math.ceil((self.x + self.width) * frame_width))
        bottom = min(frame_height, math.ceil((self.y + self.height) * frame_height))
        return left, top, right, bottom


def check_box(box: NormBox, field_name: str) -> NormBox:
    """`box` if it has an area and lies inside the frame, else INVALID_ARGUMENT naming
    `field_name`."""
    if not all(math.isfinite(v) for v in (box.x, box.y, box.width, box.height)):
        raise InvalidArgument(f"{field_name} has a value that is not a number",
                              field_name=field_name)
    if box.width <= 0 or box.height <= 0:
        raise InvalidArgument(f"{field_name} has no area ({box.width:g} x {box.height:g}): "
                              "width and height are fractions of the frame, > 0",
                              field_name=field_name)
    if box.x < 0 or box.y < 0 or box.x + box.width > 1 + 1e-9 \
            or box.y + box.height > 1 + 1e-9:
        raise InvalidArgument(f"{field_name} ({box.x:g}, {box.y:g}, {box.width:g}, "
                              f"{box.height:g}) reaches outside the frame: x, y, width and "
                              "height are fractions 0..1", field_name=field_name)
    return box
