"""`mediamesh medley a.mp3 b.m4a c.wav -o out.mp3`: the friendly front of workflows/medley.yaml.

Local songs are staged into the media root, the medley workflow runs on the mesh (progress
bars fed by the run's events), and the medley, its cue sheet and its picture are copied next
to `-o`. The summary comes from the cue sheet, so it shows what was rendered.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mediamesh import workflow_cli as wc
from mediamesh.config import Settings
from mediamesh.jobs import JobError, stage

WORKFLOW = "medley"


async def render_medley(settings: Settings, songs: list[Path], output: Path, *,
                        crossfade_bars: int, target_lufs: float, full: bool,
                        console: Console) -> dict[str, Path]:
    """Run the medley workflow; returns the local files written ({medley, cue_sheet, plot})."""
    if len(songs) < 2:
        raise JobError("a medley needs at least 2 songs")
    uris = [stage(settings, song).uri for song in songs]
    inputs: dict[str, Any] = {
        "songs": uris, "crossfade_bars": crossfade_bars, "target_lufs": target_lufs,
        "segment": "full" if full else "chorus", "output": f"medley/{output.name}"}
    outputs = await wc.run_to_end(settings, WORKFLOW, inputs, console, "medley")
    written: dict[str, Path] = {}
    for key, suffix in (("medley", output.suffix), ("cue_sheet", ".cue.json"),
                        ("plot", ".png")):
        target = output if key == "medley" else output.with_suffix(suffix)
        copied = wc.copy_output(settings, outputs.get(key), target)
        if copied is not None:
            written[key] = copied
    return written


def summary(cue_sheet: Path) -> Table:
    """The cue sheet as a table: where each song sits, what was taken, how it was stretched."""
    cue = json.loads(cue_sheet.read_text())
    table = Table(title=f"medley at {cue.get('bpm', 0):.1f} BPM, "
                        f"{cue.get('integrated_lufs', 0):.1f} LUFS, "
                        f"{cue.get('true_peak_dbtp', 0):.1f} dBTP")
    for column in ("#", "song", "starts", "source range", "source BPM", "stretch", "gain dB"):
        table.add_column(column, justify="right" if column not in ("song",) else "left")
    for i, part in enumerate(cue["songs"]):
        src = part.get("source_range", [0, 0])
        out = part.get("output_range", [0, 0])
        table.add_row(str(i + 1), str(part.get("title", "")), _clock(out[0]),
                      f"{_clock(src[0])}-{_clock(src[1])}", f"{part.get('source_bpm', 0):.1f}",
                      f"x{part.get('tempo_ratio', 1):.3f}", f"{part.get('gain_db', 0):+.1f}")
    return table


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"
