"""`make demo`: the headline job, a beat-matched medley, end to end through the running mesh.

Three ~3-minute songs are rendered here (no copyrighted audio; exact annotations kept), written
as MP3, M4A and WAV, and sent through workflows/medley.yaml: AudioService tracks beats and bars
(beat_tcn on Triton) and finds each chorus, ComposeService stretches the choruses to one tempo
and crossfades them on downbeats at -14 LUFS. The demo then checks the result through the
mesh itself: loudness and true peak of the file (AnalyzeLoudness), and the beats a tracker
finds in the finished medley (AnalyzeRhythm) against the grid the cue sheet promises,
inside the transitions especially.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import mir_eval
import numpy as np
from rich.console import Console
from rich.table import Table

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.jobs import require_healthy_mesh
from mediamesh.medley_cli import render_medley, summary
from mediamesh.synth.songs import SongTruth, render_song
from mediamesh.v1 import audio_pb2, common_pb2

#: (seed, file name): 4/4 songs at 96, 126 and 115 BPM, each about 3 minutes.
DEMO_SONGS = ((50039, "sunday-drive.mp3"), (50047, "neon-harbour.m4a"),
              (50038, "paper-planes.wav"))
RATE = 44_100


def render_songs(folder: Path) -> list[tuple[Path, SongTruth]]:
    folder.mkdir(parents=True, exist_ok=True)
    songs = []
    for seed, name in DEMO_SONGS:
        path = folder / name
        song = render_song(seed, RATE, title=path.stem)
        if not path.exists():
            media.write_audio(path, song.samples, RATE)
        songs.append((path, song.truth))
    return songs


def transition_windows(cue: dict[str, Any]) -> list[tuple[float, float]]:
    """Where consecutive songs overlap in the output."""
    parts = cue["songs"]
    return [(b["output_range"][0], a["output_range"][1]) for a, b in zip(parts, parts[1:])]


def beat_f(reference: np.ndarray, estimated: np.ndarray,
           windows: list[tuple[float, float]] | None = None) -> float:
    """mir_eval beat F-measure (70 ms), optionally only inside `windows`: reference beats in
    the windows, estimated beats in the windows widened by the tolerance (so a beat found
    3 ms after a window's last reference beat still counts as the hit it is)."""
    if windows is not None:
        def inside(t: np.ndarray, margin: float) -> np.ndarray:
            return t[np.any([(t >= a - margin) & (t <= b + margin) for a, b in windows],
                            axis=0)]
        reference, estimated = inside(reference, 0.0), inside(estimated, 0.07)
    return float(mir_eval.beat.f_measure(reference, estimated))


async def check_medley(settings: Settings, uri: str, cue: dict[str, Any]) -> dict[str, float]:
    """Loudness, true peak and re-tracked beats of the finished medley, through the mesh."""
    ref = common_pb2.MediaRef(uri=uri)
    async with MeshClient.from_settings(settings) as mesh:
        loud = await mesh.audio.AnalyzeLoudness(audio_pb2.AnalyzeLoudnessRequest(audio=ref),
                                                timeout=120)
        rhythm = await mesh.audio.AnalyzeRhythm(audio_pb2.AnalyzeRhythmRequest(audio=ref),
                                                timeout=120)
    grid = np.array(cue["beats"])
    tracked = np.array(rhythm.beats)
    return {"integrated_lufs": loud.integrated_lufs, "true_peak_dbtp": loud.true_peak_dbtp,
            "retracked_bpm": rhythm.tempo_bpm,
            "beat_f_whole": beat_f(grid, tracked),
            "beat_f_transitions": beat_f(grid, tracked, transition_windows(cue)),
            "downbeat_f_whole": float(mir_eval.beat.f_measure(np.array(cue["downbeats"]),
                                                              np.array(rhythm.downbeats)))}


def chorus_hits(cue: dict[str, Any], truths: list[SongTruth]) -> list[bool]:
    """Did each song's part start and end within 2 s of one of its real choruses?"""
    hits = []
    for part in cue["songs"]:
        start, end = part["part_range"]
        truth = truths[part["song_index"]]
        hits.append(any(abs(start - s) <= 2 and abs(end - e) <= 2 for s, e in truth.choruses))
    return hits


async def run_demo(settings: Settings, out_dir: Path, console: Console) -> dict[str, object]:
    require_healthy_mesh(settings)
    console.print("[bold]mediamesh demo[/bold]: a beat-matched medley of three songs' choruses "
                  "(workflows/medley.yaml: rhythm -> chorus -> mix, through Triton)")
    songs = render_songs(settings.media_root / "demo" / "songs")
    for path, truth in songs:
        console.print(f"  {path.name}: {truth.tempo_bpm:.0f} BPM {truth.meter}, "
                      f"{truth.beats[-1]:.0f} s", soft_wrap=True)
    started = time.perf_counter()
    written = await render_medley(settings, [p for p, _ in songs], out_dir / "medley.mp3",
                                  crossfade_bars=2, target_lufs=-14.0, full=False,
                                  console=console)
    wall = time.perf_counter() - started
    cue = json.loads(written["cue_sheet"].read_text())
    checks = await check_medley(settings, cue["output"], cue)
    hits = chorus_hits(cue, [t for _, t in songs])
    console.print(summary(written["cue_sheet"]))
    report: dict[str, object] = {
        "medley_wall_s": round(wall, 1), "songs": len(songs), "bpm": cue["bpm"],
        "duration_s": round(cue["duration"], 1),
        "integrated_lufs": round(checks["integrated_lufs"], 2),
        "true_peak_dbtp": round(checks["true_peak_dbtp"], 2),
        "retracked_beat_f": round(checks["beat_f_whole"], 3),
        "retracked_beat_f_in_transitions": round(checks["beat_f_transitions"], 3),
        "retracked_downbeat_f": round(checks["downbeat_f_whole"], 3),
        "choruses_found": f"{sum(hits)}/{len(hits)}",
        "outputs": {k: str(v) for k, v in written.items()}}
    (out_dir / "demo.json").write_text(json.dumps(report, indent=2))
    table = Table(title="medley checked through the mesh")
    table.add_column("what")
    table.add_column("value")
    for key, value in report.items():
        if key != "outputs":
            table.add_row(key, str(value))
    for name, where in written.items():
        table.add_row(name, str(where))
    console.print(table)
    return report
