"""`mediamesh lecture VIDEO` (VisionService.SplitLecture) on the running mesh: a progress
bar, then the chapters as a table; `--out DIR` copies the chaptered video and the chapter
files there, named after the input."""
from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mediamesh.config import Settings
from mediamesh.jobs import JobError, run_with_progress, stage
from mediamesh.v1 import common_pb2, vision_pb2


async def split_lecture(settings: Settings, video: Path, console: Console, *,
                        sample_fps: float = 0.0, min_segment: float = 0.0
                        ) -> vision_pb2.SplitLectureResult:
    """Run SplitLecture on a local file with a progress bar (on `console`)."""
    request = vision_pb2.SplitLectureRequest(
        video=stage(settings, video), output=common_pb2.OutputSpec(overwrite=True),
        sample_fps=sample_fps, min_segment_seconds=min_segment)
    result: vision_pb2.SplitLectureResult = await run_with_progress(
        settings, console, f"chaptering {video.name}",
        lambda mesh: mesh.vision.SplitLecture(request, timeout=3600))
    return result


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:05.2f}"


def chapters_table(result: vision_pb2.SplitLectureResult) -> Table:
    table = Table(title=f"{len(result.chapters)} chapters, {_clock(result.duration)}")
    for column in ("#", "start", "end", "title", "conf"):
        table.add_column(column, justify="left" if column == "title" else "right")
    for chapter in result.chapters:
        table.add_row(str(chapter.index + 1), _clock(chapter.range.start),
                      _clock(chapter.range.end), chapter.title,
                      f"{chapter.title_confidence:.2f}")
    return table


def copy_outputs(settings: Settings, result: vision_pb2.SplitLectureResult, video: Path,
                 out_dir: Path) -> list[Path]:
    """The result's four files copied into `out_dir` as <input stem>.chapters.<ext> etc."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JobError(f"--out {out_dir}: {exc.strerror}") from exc
    copied = []
    for ref, suffix in ((result.video, ".chapters"), (result.chapters_json, ".chapters"),
                        (result.webvtt, ".chapters"), (result.ffmetadata, ".ffmetadata")):
        source = settings.media_root / ref.uri
        target = out_dir / f"{video.stem}{suffix}{source.suffix}"
        shutil.copyfile(source, target)
        copied.append(target)
    return copied
