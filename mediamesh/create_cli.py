"""`mediamesh create SCRIPT.txt --media DIR`: the friendly front of workflows/create.yaml.

The library's videos (and a music file from it, unless --music names one) are staged into
the media root, the create workflow runs on the mesh with a progress bar per step (fed by
the run's events), and the video, its timeline JSON and its contact sheet are copied to
--out. The table shows which shot each sentence got and how well it matched.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mediamesh import workflow_cli as wc
from mediamesh.config import Settings
from mediamesh.jobs import JobError, stage

WORKFLOW = "create"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".m4v")
MUSIC_SUFFIXES = (".wav", ".mp3", ".m4a", ".flac", ".ogg")
LANGUAGES = ("auto", "en", "zh")


def library_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files under `folder` (recursively) with one of the suffixes, in name order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


async def create_video(settings: Settings, script: Path, media_dir: Path, *,
                       music: Path | None, language: str, out_dir: Path, width: int,
                       height: int, fps: float, console: Console
                       ) -> tuple[dict[str, Path], list[dict[str, Any]]]:
    """Run the create workflow; returns the local files written ({video, timeline,
    contact_sheet}) and the matches (sentence -> shot)."""
    if language not in LANGUAGES:
        raise JobError(f"--language must be one of {', '.join(LANGUAGES)}, got '{language}'")
    if not script.is_file():
        raise JobError(f"{script} does not exist")
    text = script.read_text(encoding="utf-8")
    if not text.strip():
        raise JobError(f"{script} is empty: write the sentences to narrate")
    if not media_dir.is_dir():
        raise JobError(f"--media {media_dir} is not a folder")
    videos = library_files(media_dir, VIDEO_SUFFIXES)
    if not videos:
        raise JobError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) under {media_dir}")
    if music is None:
        found = library_files(media_dir, MUSIC_SUFFIXES)
        music = found[0] if found else None
    inputs: dict[str, Any] = {
        "script": text, "media": [stage(settings, v).uri for v in videos],
        "language": language, "width": width, "height": height, "fps": fps,
        "name": f"create/{script.stem}"}
    if music is not None:
        inputs["music"] = stage(settings, music).uri
    console.print(f"{len(videos)} videos, music: {music.name if music else 'none'}",
                  soft_wrap=True)
    outputs = await wc.run_to_end(settings, WORKFLOW, inputs, console, "create")
    shots = len(outputs.get("matches") or [])
    console.print(f"{outputs.get('duration', 0):.1f} s narrated in "
                  f"{outputs.get('language', '?')}, {shots} shots, "
                  f"{int(outputs.get('cuts_on_beat', 0))} of {max(0, shots - 1)} cuts on a beat",
                  soft_wrap=True)
    written: dict[str, Path] = {}
    for key, suffix in (("video", ".mp4"), ("timeline", ".timeline.json"),
                        ("contact_sheet", ".sheet.png")):
        copied = wc.copy_output(settings, outputs.get(key), out_dir / f"{script.stem}{suffix}")
        if copied is not None:
            written[key] = copied
    return written, list(outputs.get("matches") or [])


def matches_table(matches: list[dict[str, Any]]) -> Table:
    """Which shot each sentence got, and the description it matched."""
    table = Table(title="sentences and their shots")
    for column in ("#", "sentence", "shot", "range", "score", "matched"):
        table.add_column(column, justify="right" if column in ("#", "score") else "left")
    for i, m in enumerate(matches):
        table.add_row(str(i + 1), str(m.get("sentence", "")), Path(str(m.get("media", ""))).name,
                      f"{m.get('start') or 0:.1f}-{m.get('end') or 0:.1f} s",
                      f"{m.get('score') or 0:.2f}", str(m.get("matched_text", "")))
    return table
