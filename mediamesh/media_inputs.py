"""Checks every service makes on an input file before decoding it, with errors that name
the request field."""
from __future__ import annotations

import asyncio
from pathlib import Path

from mediamesh import media
from mediamesh.errors import InvalidArgument, MediaUndecodable


async def probe_picture(path: Path, field_name: str) -> media.MediaInfo:
    """Headers of an image or video input; INVALID_ARGUMENT when it has no picture."""
    try:
        info = await asyncio.to_thread(media.probe, path)
    except media.MediaError as exc:
        raise MediaUndecodable(f"{field_name}: {exc}", field_name=field_name) from exc
    if not info.has_video or not info.width:
        raise InvalidArgument(f"{field_name} has no picture (an image or a video is needed)",
                              field_name=field_name)
    return info


def is_still_image(info: media.MediaInfo) -> bool:
    return info.frame_count == 1 and not info.fps
