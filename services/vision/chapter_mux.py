"""Chapters into a video file by stream copy (no re-encoding: a lecture keeps its exact
pictures and sound, and muxing costs a read and a write)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from mediamesh import media
from services.vision.lecture_chapters import Chapter

# codecs the mp4 muxer takes as they are; anything else goes into Matroska
MP4_VIDEO = {"h264", "hevc", "av1", "vp9", "mpeg4", "mjpeg"}
MP4_AUDIO = {"aac", "mp3", "opus", "alac", "flac", "ac3", "eac3"}
MS = Fraction(1, 1000)


def container_for(info: media.MediaInfo) -> str:
    """'mp4' when the video's streams fit in mp4 unchanged, else 'mkv'."""
    fits = (info.video_codec or "") in MP4_VIDEO and (
        not info.has_audio or (info.audio_codec or "") in MP4_AUDIO)
    return "mp4" if fits else "mkv"


def mux_chapters(source: Path, target: Path, chapters: list[Chapter]) -> None:
    """Copy `source`'s first video and audio streams into `target` (mp4 or mkv by its
    extension) with `chapters` as the container's chapters (titles in their metadata).
    Raises media.MediaEncodeError when the streams cannot be copied."""
    try:
        with av.open(str(source)) as src:
            options = {"movflags": "+faststart"} if target.suffix == ".mp4" else {}
            with av.open(str(target), "w", options=options) as dst:
                copied = {}
                for kind in ("video", "audio"):
                    streams = [s for s in src.streams if s.type == kind]
                    if streams:
                        copied[streams[0].index] = dst.add_stream_from_template(streams[0])
                dst.set_chapters([{"id": c.index + 1, "start": round(c.start * 1000),
                                   "end": round(c.end * 1000), "time_base": MS,
                                   "metadata": {"title": c.title}} for c in chapters])
                for packet in src.demux(*[s for s in src.streams if s.index in copied]):
                    if packet.dts is None:  # the demuxer's flush packet
                        continue
                    packet.stream = copied[packet.stream.index]
                    dst.mux(packet)
    except (av.error.FFmpegError, ValueError) as exc:
        raise media.MediaEncodeError(f"cannot copy the streams into {target.suffix}: "
                                     f"{exc}") from exc


def read_chapters(path: Path) -> list[tuple[float, float, str]]:
    """A file's chapters as (start, end, title), seconds (what players show)."""
    with av.open(str(path)) as container:
        return [(float(c["start"] * c["time_base"]), float(c["end"] * c["time_base"]),
                 c["metadata"].get("title", "")) for c in container.chapters()]
