"""Where a video's subtitles are, when the request does not say: text lines found on a few
frames spread over the video, grouped by height in the frame; the height where lines turn
up on the most frames is the subtitle band. video-subtitle-extractor does the same with
the most frequent y-range of its OCR boxes.

Only lines shaped like subtitles vote: centred horizontally, wide enough, one or two text
lines tall. A watermark or a channel logo sits in a corner; scene text (signs, captions in
the picture) is rarely centred and turns up on one shot only. The box alone cannot tell a
centred watermark from subtitles (both stay at one place): the job drops lines that keep
the same text at the same place (subtitle_cues.drop_static_lines). With no height shared by
two frames the default band (the bottom 35%) is kept.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mediamesh import media
from mediamesh.boxes import NormBox
from mediamesh.ocr_reader import TextReader
from mediamesh.worker_threads import run_in_thread

PROBES = 8
PROBE_MAX_SIDE = 960  # the detector's long side on probe frames (subtitles stay >= 20 px)
#: Boxes whose centres are this close (fraction of the frame height) are one row.
ROW_TOLERANCE = 0.04
MIN_FRAMES = 2
#: Subtitles: centred (centre x within this distance of the middle), at least this wide.
MAX_CENTRE_OFFSET = 0.25
MIN_WIDTH = 0.08
MAX_HEIGHT = 0.2  # of the frame: taller boxes are not a line of text (a detector slip)

Box = tuple[float, float, float, float]  # left, top, right, bottom, normalised


@dataclass(frozen=True)
class BandGuess:
    band: NormBox
    detected: bool  # False: no subtitle row was found, the default band is used


def centred(left: float, right: float) -> bool:
    """A horizontal span (fractions of the frame width) centred as subtitles are."""
    return abs((left + right) / 2 - 0.5) <= MAX_CENTRE_OFFSET


def subtitle_shaped(box: Box) -> bool:
    """Centred, wide enough, no taller than a line or two."""
    return centred(box[0], box[2]) and box[2] - box[0] >= MIN_WIDTH \
        and box[3] - box[1] <= MAX_HEIGHT


def choose_band(frames: Sequence[Sequence[Box]], default: NormBox) -> BandGuess:
    """The subtitle band from the text boxes of each probe frame (pure)."""
    rows: list[dict[str, object]] = []  # centre y, frames seen on, boxes
    for index, boxes in enumerate(frames):
        for box in boxes:
            if not subtitle_shaped(box):
                continue
            centre_y = (box[1] + box[3]) / 2
            row = next((r for r in rows
                        if abs(float(r["y"]) - centre_y) <= ROW_TOLERANCE), None)  # type: ignore[arg-type]
            if row is None:
                row = {"y": centre_y, "frames": set(), "boxes": []}
                rows.append(row)
            row["frames"].add(index)  # type: ignore[attr-defined]
            row["boxes"].append(box)  # type: ignore[attr-defined]
    best = max(rows, key=lambda r: (len(r["frames"]), r["y"]), default=None)  # type: ignore[arg-type]
    if best is None or len(best["frames"]) < MIN_FRAMES:  # type: ignore[arg-type]
        return BandGuess(default, False)
    boxes: list[Box] = best["boxes"]  # type: ignore[assignment]
    heights = sorted(b[3] - b[1] for b in boxes)
    margin = heights[len(heights) // 2]  # a line's height: room for a second line
    top = max(0.0, min(b[1] for b in boxes) - margin)
    bottom = min(1.0, max(b[3] for b in boxes) + margin)
    return BandGuess(NormBox(0.0, top, 1.0, bottom - top), True)


async def find_band(reader: TextReader, source: Path, info: media.MediaInfo,
                    default: NormBox) -> BandGuess:
    """Probe PROBES frames spread over the video (not its first and last 5%)."""
    duration = info.duration or 0.0
    width, height = int(info.width or 0), int(info.height or 0)
    if duration <= 0 or not width or not height:
        return BandGuess(default, False)
    times = [duration * (0.05 + 0.9 * (i + 0.5) / PROBES) for i in range(PROBES)]
    frames: list[list[Box]] = []
    for t in times:
        try:
            frame = await run_in_thread(media.read_frame_at, source, t)
        except media.MediaError:
            continue
        quads = await reader.detect(frame.rgb, PROBE_MAX_SIDE)
        frames.append([(q.bounds[0] / width, q.bounds[1] / height, q.bounds[2] / width,
                        q.bounds[3] / height) for q in quads])
    return choose_band(frames, default)
