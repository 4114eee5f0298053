"""Small conversions between contract messages and domain values, shared by every service."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from mediamesh.storage import StoredOutput
from mediamesh.v1 import common_pb2


def media_ref(output: StoredOutput, mime_type: str = "") -> common_pb2.MediaRef:
    return common_pb2.MediaRef(uri=output.uri, mime_type=mime_type, name=output.name)


def progress(done: int, total: int, stage: str, message: str = "") -> common_pb2.Progress:
    return common_pb2.Progress(fraction=min(1.0, done / total) if total else 0.0, stage=stage,
                               message=message, done=done, total=total)


def time_range(r: common_pb2.TimeRange, field_name: str = "range") -> tuple[float, float | None]:
    """(start, end or None) in seconds; an unset range is the whole media."""
    from mediamesh.errors import InvalidArgument

    start, end = float(r.start), float(r.end)
    if start < 0:
        raise InvalidArgument(f"{field_name}.start must be >= 0 s, got {start}",
                              field_name=f"{field_name}.start")
    if end > 0 and end <= start:
        raise InvalidArgument(f"{field_name}.end ({end} s) must be after start ({start} s)",
                              field_name=f"{field_name}.end")
    return start, (end if end > 0 else None)


MIME_BY_EXTENSION = {"mp4": "video/mp4", "webm": "video/webm", "mkv": "video/x-matroska",
                     "mov": "video/quicktime", "png": "image/png",
                     "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
                     "wav": "audio/wav", "mp3": "audio/mpeg", "m4a": "audio/mp4",
                     "flac": "audio/flac", "aac": "audio/aac", "ogg": "audio/ogg",
                     "srt": "application/x-subrip", "json": "application/json"}


def mime_for(output: StoredOutput) -> str:
    return MIME_BY_EXTENSION.get(output.path.suffix.lstrip(".").lower(), "application/octet-stream")


def output_container(spec: common_pb2.OutputSpec, allowed: Sequence[str], default: str,
                     what: str, field_name: str = "output") -> str:
    """The format an RPC writes: OutputSpec.container, else the uri's extension, else
    `default`. INVALID_ARGUMENT when it is not one of `allowed` (`what` says what is
    written, and why it is limited if it is) or when the uri's extension says otherwise."""
    from mediamesh.errors import InvalidArgument

    suffix = PurePosixPath(spec.uri).suffix.lstrip(".").lower() if spec.uri else ""
    chosen = (spec.container or suffix or default).lower().lstrip(".")
    if chosen not in allowed:
        raise InvalidArgument(f"{field_name}: {what} is written as {', '.join(allowed)}, not "
                              f"'{chosen}'", field_name=f"{field_name}.container")
    if spec.uri and suffix != chosen:
        raise InvalidArgument(f"{field_name}.uri '{spec.uri}' must end in .{chosen}",
                              field_name=f"{field_name}.uri")
    return chosen
