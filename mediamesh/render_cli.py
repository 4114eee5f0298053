"""`mediamesh render TIMELINE`: a timeline written as YAML or JSON (the Timeline message of
compose.proto, field names as in the proto or in lowerCamelCase) rendered by
ComposeService.RenderTimeline, with a progress bar.

Media paths in the file may be local files (relative to the timeline file's folder, or
absolute): they are staged into the media root first, as every CLI command does; other
URIs (paths already in the media root, nats://) are passed as they are.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from rich.console import Console

from mediamesh.config import Settings
from mediamesh.jobs import JobError, run_with_progress, stage
from mediamesh.v1 import common_pb2, compose_pb2


def load_timeline(path: Path) -> compose_pb2.Timeline:
    """The Timeline in a .yaml/.yml/.json file; JobError saying what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise JobError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise JobError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                       f"{exc}") from exc
    if not isinstance(data, dict):
        raise JobError(f"{path} must hold one timeline (a mapping with width, height, fps, "
                       "video_tracks, ...)")
    if "timeline" in data and isinstance(data["timeline"], dict):
        data = data["timeline"]  # a RenderTimelineRequest-shaped file
    try:
        return json_format.ParseDict(data, compose_pb2.Timeline())
    except json_format.ParseError as exc:
        raise JobError(f"{path} is not a Timeline: {exc}") from exc


def _refs(timeline: compose_pb2.Timeline) -> list[common_pb2.MediaRef]:
    refs = [c.source for t in timeline.video_tracks for c in t.clips]
    refs += [o.image for o in timeline.overlays] + [o.alpha for o in timeline.overlays]
    refs += [t.srt for t in timeline.text_tracks]
    refs += [c.source for t in timeline.audio_tracks for c in t.clips]
    return [r for r in refs if r.WhichOneof("source") == "uri" and r.uri]


def stage_local_media(settings: Settings, timeline: compose_pb2.Timeline, base: Path) -> int:
    """Local files named by the timeline are copied into the media root and their URIs
    rewritten; returns how many were staged."""
    staged = 0
    for ref in _refs(timeline):
        if "://" in ref.uri:
            continue
        local = Path(ref.uri).expanduser()
        local = local if local.is_absolute() else base / local
        if local.is_file():
            ref.uri = stage(settings, local).uri
            staged += 1
    return staged


async def render_timeline_file(settings: Settings, path: Path, out: Path, console: Console
                               ) -> tuple[compose_pb2.RenderTimelineResult, Path]:
    timeline = load_timeline(path)
    stage_local_media(settings, timeline, path.parent)
    request = compose_pb2.RenderTimelineRequest(timeline=timeline,
                                                output=common_pb2.OutputSpec(
                                                    container=out.suffix.lstrip(".") or "mp4"))
    result: compose_pb2.RenderTimelineResult = await run_with_progress(
        settings, console, f"rendering {path.name}",
        lambda mesh: mesh.compose.RenderTimeline(request, timeout=24 * 3600))
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(settings.media_root / result.output.uri, out)
    return result, out
