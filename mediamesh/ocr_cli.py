"""`mediamesh ocr IMAGE`: TextService.RecognizeText on the running mesh, as a table (or
JSON): each line's text, confidence and box."""
from __future__ import annotations

from pathlib import Path

from rich.table import Table

from mediamesh.config import Settings
from mediamesh.jobs import call_mesh, stage
from mediamesh.v1 import common_pb2, text_pb2


async def recognise_file(settings: Settings, path: Path, frame_time: float,
                         region: tuple[float, float, float, float] | None
                         ) -> text_pb2.RecognizeTextResponse:
    """Read the text of a local picture (or a video's frame at `frame_time` s)."""
    request = text_pb2.RecognizeTextRequest(image=stage(settings, path), frame_time=frame_time)
    if region is not None:
        request.region.CopyFrom(common_pb2.Box(x=region[0], y=region[1], width=region[2],
                                               height=region[3]))
    response: text_pb2.RecognizeTextResponse = await call_mesh(
        settings, lambda mesh: mesh.text.RecognizeText(request, timeout=120))
    return response


def lines_table(path: Path, response: text_pb2.RecognizeTextResponse) -> Table:
    """One row per line, in reading order; boxes in pixels of the picture."""
    table = Table(title=f"{len(response.lines)} lines in {path.name} "
                        f"({response.width}x{response.height})")
    for column in ("#", "text", "confidence", "box (x, y, w, h px)"):
        table.add_column(column, justify="right" if column in ("#", "confidence") else "left")
    for i, line in enumerate(response.lines):
        b = line.box
        table.add_row(str(i), line.text, f"{line.confidence:.2f}",
                      f"{b.x * response.width:.0f}, {b.y * response.height:.0f}, "
                      f"{b.width * response.width:.0f}, {b.height * response.height:.0f}")
    return table
