"""`mediamesh cover VIDEO`: SelectCover on the running mesh, with a progress bar; the
candidates as a table (score and its seven components), the animated cover's path and
the summary plan's segments."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from mediamesh.config import Settings
from mediamesh.jobs import JobError, run_with_progress, stage
from mediamesh.v1 import common_pb2, vision_pb2

FORMATS = {"gif": vision_pb2.ANIMATED_FORMAT_GIF, "webp": vision_pb2.ANIMATED_FORMAT_WEBP}


async def select_cover(settings: Settings, video: Path, console: Console, *, top_k: int = 0,
                       animated: str | None = None, seconds: float = 0.0, max_bytes: int = 0,
                       summary: bool = False, output: str = ""
                       ) -> vision_pb2.SelectCoverResult:
    """Run SelectCover on a local file with a progress bar (on `console`)."""
    if animated is not None and animated not in FORMATS:
        raise JobError(f"--animated must be one of {', '.join(FORMATS)}, got '{animated}'")
    if top_k < 0 or max_bytes < 0:
        raise JobError("--top-k and --max-bytes must not be negative")
    request = vision_pb2.SelectCoverRequest(
        video=stage(settings, video), top_k=top_k, animated=animated is not None,
        animated_format=FORMATS.get(animated or "", vision_pb2.ANIMATED_FORMAT_UNSPECIFIED),
        animated_duration=seconds, max_animated_bytes=max_bytes, summary_plan=summary,
        output=common_pb2.OutputSpec(uri=output, overwrite=True))
    result: vision_pb2.SelectCoverResult = await run_with_progress(
        settings, console, f"covers of {video.name}",
        lambda mesh: mesh.vision.SelectCover(request, timeout=3600))
    return result


def candidates_table(result: vision_pb2.SelectCoverResult, media_root: Path) -> Table:
    """One row per candidate, best first: when, how good, why, and where its image is."""
    table = Table(title=f"{len(result.candidates)} cover candidates, best first",
                  caption=f"components 0..1, the last three penalties; images are in "
                          f"{media_root}")
    for column in ("#", "time s", "score", "sharp", "exposure", "colour", "faces", "face cut",
                   "transition", "text", "image"):
        table.add_column(column, justify="left" if column == "image" else "right")
    for i, c in enumerate(result.candidates):
        b = c.breakdown
        table.add_row(str(i), f"{c.time:.2f}", f"{c.score:.3f}",
                      *(f"{v:.2f}" for v in (b.sharpness, b.exposure, b.colorfulness, b.faces,
                                             b.face_cut_penalty, b.transition_penalty,
                                             b.text_penalty)),
                      c.image.uri)
    return table


def summary_lines(result: vision_pb2.SelectCoverResult) -> list[str]:
    """The summary plan as lines of text (none when it was not asked for)."""
    if not result.HasField("summary_plan"):
        return []
    plan = result.summary_plan
    return [f"summary plan: {len(plan.segments)} segments, {plan.duration:.2f} s",
            *(f"  {s.start:7.2f} - {s.end:7.2f} s ({s.end - s.start:.2f} s)"
              for s in plan.segments)]
