"""`mediamesh shots VIDEO`: DetectShots on the running mesh, as a table (or JSON).

The video is staged into the media root (jobs.stage), the RPC's progress drives a bar, and
keyframes stay where the service wrote them (their paths are printed).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from google.protobuf import json_format
from rich.console import Console
from rich.table import Table

from mediamesh.config import Settings
from mediamesh.jobs import run_with_progress, stage
from mediamesh.v1 import common_pb2, vision_pb2

_TRANSITION_NAMES = {
    vision_pb2.TRANSITION_TYPE_UNSPECIFIED: "-",
    vision_pb2.TRANSITION_TYPE_CUT: "cut",
    vision_pb2.TRANSITION_TYPE_DISSOLVE: "dissolve",
    vision_pb2.TRANSITION_TYPE_FADE_IN: "fade in",
    vision_pb2.TRANSITION_TYPE_FADE_OUT: "fade out",
    vision_pb2.TRANSITION_TYPE_WIPE: "wipe",
}


async def detect_shots(settings: Settings, video: Path, console: Console, *,
                       gradual: bool = False, keyframes: bool = False,
                       sensitivity: float = 0.0, start: float = 0.0, end: float = 0.0
                       ) -> vision_pb2.DetectShotsResult:
    """Run DetectShots on a local file with a progress bar (on `console`)."""
    request = vision_pb2.DetectShotsRequest(
        video=stage(settings, video), range=common_pb2.TimeRange(start=start, end=end),
        threshold_sensitivity=sensitivity, detect_gradual=gradual, with_keyframes=keyframes)
    result: vision_pb2.DetectShotsResult = await run_with_progress(
        settings, console, f"shots in {video.name}",
        lambda mesh: mesh.vision.DetectShots(request, timeout=3600))
    return result


def shots_table(result: vision_pb2.DetectShotsResult, media_root: Path) -> Table:
    """One row per shot: where it is, how it begins, what it looks like."""
    with_keyframes = any(shot.keyframe.uri for shot in result.shots)
    table = Table(title=f"{len(result.shots)} shots in {result.frame_count} frames "
                        f"at {result.fps:g} fps",
                  caption=f"keyframes are in {media_root}" if with_keyframes else None)
    for column in ("#", "start s", "end s", "frames", "transition in", "luma", "motion",
                   "keyframe"):
        table.add_column(column, justify="right" if column not in ("transition in",
                                                                   "keyframe") else "left")
    for shot in result.shots:
        table.add_row(str(shot.index), f"{shot.range.start:.3f}", f"{shot.range.end:.3f}",
                      f"{shot.start_frame}-{shot.end_frame - 1}",
                      _TRANSITION_NAMES.get(shot.transition_in, "?"), f"{shot.mean_luma:.2f}",
                      f"{shot.motion:.2f}", shot.keyframe.uri)
    return table


def shots_json(result: vision_pb2.DetectShotsResult, media_root: Path) -> dict[str, Any]:
    """The result as the contract's JSON, with each keyframe's local path added."""
    data = json_format.MessageToDict(result, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)
    for shot, message in zip(data.get("shots", []), result.shots, strict=True):
        if message.keyframe.uri:
            shot["keyframe"]["path"] = str(media_root / message.keyframe.uri)
    return data
