"""`mediamesh reframe VIDEO`: Reframe on the running mesh, with a progress bar and the
camera chosen for each shot."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from mediamesh.config import Settings
from mediamesh.jobs import JobError, run_with_progress, stage
from mediamesh.v1 import common_pb2, vision_pb2

MODES = {"auto": vision_pb2.CAMERA_MODE_UNSPECIFIED,
         "stationary": vision_pb2.CAMERA_MODE_STATIONARY,
         "panning": vision_pb2.CAMERA_MODE_PANNING,
         "tracking": vision_pb2.CAMERA_MODE_TRACKING}


def parse_pair(text: str, separator: str, option: str, example: str) -> tuple[int, int]:
    """'9:16' (or '1080x1920') as two positive whole numbers."""
    try:
        a, b = (int(v) for v in text.lower().split(separator))
    except ValueError:
        raise JobError(f"{option} must be like {example}, got '{text}'") from None
    if a <= 0 or b <= 0:
        raise JobError(f"{option} needs two positive numbers, got '{text}'")
    return a, b


async def reframe(settings: Settings, video: Path, console: Console, *, aspect: str = "9:16",
                  size: str | None = None, mode: str = "auto", pad: bool = False,
                  max_pan_speed: float = 0.0, output: str = "") -> vision_pb2.ReframeResult:
    """Run Reframe on a local file with a progress bar (on `console`)."""
    if mode not in MODES:
        raise JobError(f"--mode must be one of {', '.join(MODES)}, got '{mode}'")
    w, h = parse_pair(aspect, ":", "--aspect", "9:16")
    request = vision_pb2.ReframeRequest(
        video=stage(settings, video), output=common_pb2.OutputSpec(uri=output, overwrite=True),
        aspect_ratio=vision_pb2.AspectRatio(width=w, height=h), force_mode=MODES[mode],
        allow_blur_pad=pad, max_pan_speed=max_pan_speed)
    if size:
        request.target_width, request.target_height = parse_pair(size, "x", "--size",
                                                                 "1080x1920")
    result: vision_pb2.ReframeResult = await run_with_progress(
        settings, console, f"reframing {video.name}",
        lambda mesh: mesh.vision.Reframe(request, timeout=3600))
    return result


def shots_table(result: vision_pb2.ReframeResult) -> Table:
    table = Table(title="camera per shot")
    for column in ("shot", "from s", "to s", "camera", "padded"):
        table.add_column(column, justify="right" if column.endswith("s") else "left")
    for i, shot in enumerate(result.shots):
        name = vision_pb2.CameraMode.Name(shot.mode).removeprefix("CAMERA_MODE_").lower()
        table.add_row(str(i), f"{shot.range.start:.2f}", f"{shot.range.end:.2f}", name,
                      "yes" if shot.padded else "")
    return table
