"""Adding chapters and subtitle tracks to a video by stream copy: the pictures and sound
are copied packet for packet (no re-encoding, no quality loss, a read and a write).

Why Matroska for subtitles: mp4 only carries subtitles as mov_text, which FFmpeg (and so
PyAV) cannot encode without an ASS header it does not let us set; Matroska carries SRT as
it is, and every player shows and hides it. Chapters work in both.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from mediamesh.media._encode import OutputPath, path_name
from mediamesh.media._source import MediaSource, av_reason, open_input, stream_origin
from mediamesh.media.errors import MediaEncodeError
from mediamesh.media.probe import MediaInfo

# codecs the mp4 muxer takes as they are; anything else goes into Matroska
MP4_VIDEO = frozenset({"h264", "hevc", "av1", "vp9", "mpeg4", "mjpeg"})
MP4_AUDIO = frozenset({"aac", "mp3", "opus", "alac", "flac", "ac3", "eac3"})
MS = Fraction(1, 1000)
# ISO 639-1 -> 639-2/B, the form Matroska and mp4 store
LANGUAGES = {"en": "eng", "zh": "chi", "ja": "jpn", "ko": "kor", "fr": "fre", "de": "ger",
             "es": "spa", "it": "ita", "pt": "por", "ru": "rus", "ar": "ara", "hi": "hin"}


@dataclass(frozen=True)
class Chapter:
    start: float  # seconds
    end: float
    title: str


@dataclass(frozen=True)
class SubtitleTrack:
    """An SRT file to add as a subtitle stream; `language` as ISO 639-1 or 639-2."""

    srt: Path
    language: str = ""
    title: str = ""


def container_for(info: MediaInfo, subtitles: bool = False) -> str:
    """'mp4' when the streams fit in mp4 unchanged and no subtitle track is added, else
    'mkv'."""
    fits = (info.video_codec or "") in MP4_VIDEO and (
        not info.has_audio or (info.audio_codec or "") in MP4_AUDIO)
    return "mp4" if fits and not subtitles else "mkv"


def _language(code: str) -> str:
    code = code.strip().lower()
    return LANGUAGES.get(code, code if len(code) == 3 else "und")


def remux(source: MediaSource, target: OutputPath, *, chapters: Sequence[Chapter] = (),
          subtitles: Sequence[SubtitleTrack] = ()) -> None:
    """Copy `source`'s first video and audio streams into `target` (mp4 or mkv by its
    extension), with `chapters` and `subtitles` added. MediaEncodeError when the streams
    cannot be copied; on any failure the partial `target` is removed."""
    suffix = os.path.splitext(os.fspath(target))[1].lower()
    if subtitles and suffix != ".mkv":
        raise MediaEncodeError(f"cannot add SRT subtitles to {path_name(target)}: mp4 holds "
                               "only mov_text; write .mkv")
    try:
        _remux(source, target, suffix, chapters, subtitles)
    except (av.error.FFmpegError, ValueError) as exc:
        Path(os.fspath(target)).unlink(missing_ok=True)
        raise MediaEncodeError(f"cannot copy the streams into {path_name(target)}: "
                               f"{av_reason(exc) if isinstance(exc, av.error.FFmpegError) else exc}"
                               ) from exc
    except BaseException:
        Path(os.fspath(target)).unlink(missing_ok=True)
        raise


def _remux(source: MediaSource, target: OutputPath, suffix: str, chapters: Sequence[Chapter],
           subtitles: Sequence[SubtitleTrack]) -> None:
    options = {"movflags": "+faststart"} if suffix in (".mp4", ".mov") else {}
    inputs = [av.open(os.fspath(track.srt)) for track in subtitles]
    try:
        with open_input(source) as src, av.open(os.fspath(target), "w", options=options) as dst:
            copied = {}
            for kind in ("video", "audio"):
                streams = [s for s in src.streams if s.type == kind]
                if streams:
                    copied[streams[0].index] = dst.add_stream_from_template(streams[0])
            pending: list[tuple[float, av.Packet]] = []
            for track, srt in zip(subtitles, inputs):
                if not srt.streams.subtitles:
                    raise ValueError(f"{track.srt.name} holds no subtitles")
                stream = dst.add_stream_from_template(srt.streams.subtitles[0])
                stream.metadata["language"] = _language(track.language)
                if track.title:
                    stream.metadata["title"] = track.title
                for packet in srt.demux(srt.streams.subtitles[0]):
                    if packet.dts is None or packet.pts is None or packet.time_base is None:
                        continue
                    packet.stream = stream
                    pending.append((float(packet.pts * packet.time_base), packet))
            pending.sort(key=lambda item: item[0])
            if chapters:
                dst.set_chapters([{"id": i + 1, "start": round(c.start * 1000),
                                   "end": round(c.end * 1000), "time_base": MS,
                                   "metadata": {"title": c.title}}
                                  for i, c in enumerate(chapters)])
            for packet in src.demux(*[s for s in src.streams if s.index in copied]):
                if packet.dts is None:  # the demuxer's flush packet
                    continue
                at = float(packet.dts * packet.time_base) if packet.time_base else 0.0
                while pending and pending[0][0] <= at:  # keep the file interleaved in time
                    dst.mux(pending.pop(0)[1])
                packet.stream = copied[packet.stream.index]
                dst.mux(packet)
            for _, packet in pending:
                dst.mux(packet)
    finally:
        for srt in inputs:
            srt.close()


def read_chapters(path: MediaSource) -> list[tuple[float, float, str]]:
    """A file's chapters as (start, end, title), seconds (what players show)."""
    with open_input(path) as container:
        return [(float(c["start"] * c["time_base"]), float(c["end"] * c["time_base"]),
                 c["metadata"].get("title", "")) for c in container.chapters()]


def read_subtitles(path: MediaSource) -> list[tuple[str, list[tuple[float, float, str]]]]:
    """Each subtitle stream's language and cues (start, end, text), seconds from the video's
    first frame (the muxer may shift every stream, e.g. by the audio codec's priming)."""
    with open_input(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        origin = stream_origin(video) if video is not None else 0.0
        streams = list(container.streams.subtitles)
        cues: dict[int, list[tuple[float, float, str]]] = {s.index: [] for s in streams}
        if streams:
            for packet in container.demux(*streams):
                if packet.pts is None or not packet.size or packet.time_base is None:
                    continue
                start = float(packet.pts * packet.time_base) - origin
                end = start + float((packet.duration or 0) * packet.time_base)
                cues[packet.stream.index].append((start, end, bytes(packet).decode("utf-8")))
        return [(s.metadata.get("language", ""), cues[s.index]) for s in streams]
