"""MuxSubtitles: SRT files checked (each must parse and hold cues) and copied with the
video's streams into Matroska, whose SRT tracks every player can switch on and off."""
from __future__ import annotations

import contextlib

from mediamesh.errors import InvalidArgument
from mediamesh.media.remux import SubtitleTrack
from mediamesh.storage import MediaStore
from mediamesh.v1 import compose_pb2
from mediamesh.worker_threads import run_in_thread
from services.compose.timeline.captions import parse_srt

MAX_TRACKS = 16
MAX_LANGUAGE_CHARS = 8
MAX_TITLE_CHARS = 200
# what MuxSubtitles writes, and why only Matroska (for output_container's message)
SUBTITLED_VIDEO = ("a video with subtitle tracks (Matroska carries SRT as it is; mp4's mov_text "
                   "cannot be written here; to burn subtitles in, use RenderTimeline)")


async def checked_tracks(store: MediaStore, request: compose_pb2.MuxSubtitlesRequest,
                         stack: contextlib.AsyncExitStack) -> tuple[list[SubtitleTrack], list[int]]:
    """Local SRT files for every track, each parsed (INVALID_ARGUMENT naming the track when
    it is not SRT or holds no cue), and their cue counts."""
    if not request.subtitles:
        raise InvalidArgument("subtitles is empty: give at least one SRT track",
                              field_name="subtitles")
    if len(request.subtitles) > MAX_TRACKS:
        raise InvalidArgument(f"at most {MAX_TRACKS} subtitle tracks, got "
                              f"{len(request.subtitles)}", field_name="subtitles")
    tracks, counts = [], []
    for i, track in enumerate(request.subtitles):
        where = f"subtitles[{i}]"
        if len(track.language) > MAX_LANGUAGE_CHARS or not (track.language.isalpha()
                                                             or not track.language):
            raise InvalidArgument(f"{where}.language must be an ISO 639 code like 'en' or "
                                  f"'zho', got '{track.language[:20]}'",
                                  field_name=f"{where}.language")
        if len(track.title) > MAX_TITLE_CHARS:
            raise InvalidArgument(f"{where}.title is over {MAX_TITLE_CHARS} characters",
                                  field_name=f"{where}.title")
        path = await stack.enter_async_context(store.local_file(track.srt, f"{where}.srt"))
        cues = parse_srt(await run_in_thread(path.read_bytes), where)
        if not cues:
            raise InvalidArgument(f"{where}.srt holds no cues", field_name=f"{where}.srt")
        tracks.append(SubtitleTrack(path, track.language, track.title))
        counts.append(len(cues))
    return tracks, counts
