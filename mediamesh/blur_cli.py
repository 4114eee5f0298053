"""`mediamesh blur VIDEO`: BlurRegions on the running mesh, with a progress bar.

Boxes are written as fractions of the frame, `x,y,w,h` (static), or as keyframes
`t:x,y,w,h;t:x,y,w,h` (seconds; the box moves linearly between them).
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

from mediamesh.config import Settings
from mediamesh.jobs import JobError, run_with_progress, stage
from mediamesh.v1 import common_pb2, vision_pb2

STYLES = {"gaussian": vision_pb2.BLUR_STYLE_GAUSSIAN, "mosaic": vision_pb2.BLUR_STYLE_MOSAIC}
BOX_HELP = "'x,y,w,h' fractions of the frame, or keyframes 't:x,y,w,h;t:x,y,w,h' (seconds)"


def _box(text: str, spec: str) -> common_pb2.Box:
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise JobError(f"--box '{spec}': a box is {BOX_HELP}") from None
    return common_pb2.Box(x=x, y=y, width=w, height=h)


def parse_region(spec: str) -> vision_pb2.Region:
    """A --box value as a Region (the service checks the numbers)."""
    region = vision_pb2.Region()
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        when, _, box = part.rpartition(":")
        try:
            seconds = float(when) if when else 0.0
        except ValueError:
            raise JobError(f"--box '{spec}': '{when}' is not a time in seconds") from None
        region.keyframes.add(time=seconds).box.CopyFrom(_box(box, spec))
    if not region.keyframes:
        raise JobError(f"--box '{spec}' is empty: give {BOX_HELP}")
    return region


async def blur_regions(settings: Settings, video: Path, console: Console, *,
                       boxes: list[str], logos: bool, style: str = "gaussian",
                       strength: float = 0.0, output: str = ""
                       ) -> vision_pb2.BlurRegionsResult:
    """Run BlurRegions on a local file with a progress bar (on `console`)."""
    if style not in STYLES:
        raise JobError(f"--style must be one of {', '.join(STYLES)}, got '{style}'")
    if not boxes and not logos:
        raise JobError(f"nothing to blur: give --box ({BOX_HELP}) and/or --logos")
    request = vision_pb2.BlurRegionsRequest(
        video=stage(settings, video), output=common_pb2.OutputSpec(uri=output, overwrite=True),
        regions=[parse_region(b) for b in boxes], style=STYLES[style], strength=strength,
        auto_detect_logos=logos)
    result: vision_pb2.BlurRegionsResult = await run_with_progress(
        settings, console, f"blurring {video.name}",
        lambda mesh: mesh.vision.BlurRegions(request, timeout=3600))
    return result
