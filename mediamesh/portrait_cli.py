"""`mediamesh portrait FILE`: SegmentPortrait on the running mesh, with a progress bar.

The input (and a background image or video) is staged into the media root (jobs.stage);
the output stays where the service wrote it (its path is in the result).
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

from mediamesh.config import Settings
from mediamesh.jobs import JobError, run_with_progress, stage
from mediamesh.v1 import common_pb2, vision_pb2

MODES = {"alpha": vision_pb2.PORTRAIT_BACKGROUND_ALPHA_ONLY,
         "color": vision_pb2.PORTRAIT_BACKGROUND_REPLACE_COLOR,
         "image": vision_pb2.PORTRAIT_BACKGROUND_REPLACE_IMAGE,
         "video": vision_pb2.PORTRAIT_BACKGROUND_REPLACE_VIDEO,
         "blur": vision_pb2.PORTRAIT_BACKGROUND_BLUR}


def parse_color(text: str) -> tuple[int, int, int]:
    """'#00ff00', '00ff00' or '0,255,0' as (r, g, b)."""
    value = text.strip().lstrip("#")
    try:
        if "," in value:
            r, g, b = (int(v) for v in value.split(","))
        elif len(value) == 6:
            r, g, b = (int(value[i:i + 2], 16) for i in (0, 2, 4))
        else:
            raise ValueError(text)
    except ValueError:
        raise JobError(f"--color must be like '#00ff00' or '0,255,0', got '{text}'") from None
    if not all(0 <= v <= 255 for v in (r, g, b)):
        raise JobError(f"--color components must be 0-255, got '{text}'")
    return r, g, b


async def segment_portrait(settings: Settings, input_path: Path, console: Console, *,
                           mode: str = "alpha", output: str = "",
                           background: Path | None = None, color: str | None = None,
                           blur_radius: float = 0.0,
                           smoothing: float | None = None,
                           start: float = 0.0, end: float = 0.0
                           ) -> vision_pb2.SegmentPortraitResult:
    """Run SegmentPortrait on a local file with a progress bar (on `console`). `mode` is
    one of MODES; `background` is the image (mode image) or video (mode video); `color`
    the colour for mode color; `smoothing` None leaves the service's default; `output` a
    media-root path ('' = the service picks one; an existing file is overwritten)."""
    if mode not in MODES:
        raise JobError(f"--mode must be one of {', '.join(MODES)}, got '{mode}'")
    request = vision_pb2.SegmentPortraitRequest(
        input=stage(settings, input_path), output=common_pb2.OutputSpec(uri=output,
                                                                         overwrite=True),
        mode=MODES[mode], blur_radius=blur_radius, range=common_pb2.TimeRange(start=start,
                                                                               end=end))
    if smoothing is not None:  # unset: the service's default
        request.temporal_smoothing = smoothing
    if mode in ("image", "video"):
        if background is None:
            raise JobError(f"--mode {mode} needs --background (the {mode} to put behind)")
        getattr(request, f"background_{mode}").CopyFrom(stage(settings, background))
    elif background is not None:
        raise JobError(f"--background is used with --mode image or video, not '{mode}'")
    if mode == "color":
        r, g, b = parse_color(color or "#00ff00")
        request.background_color.CopyFrom(common_pb2.RgbColor(r=r, g=g, b=b))
    elif color is not None:
        raise JobError(f"--color is used with --mode color, not '{mode}'")
    result: vision_pb2.SegmentPortraitResult = await run_with_progress(
        settings, console, f"matting {input_path.name}",
        lambda mesh: mesh.vision.SegmentPortrait(request, timeout=3600))
    return result
