"""Medley rendering: warp each song onto the plan's grid, match part loudness, crossfade,
master (loudness + true-peak limiter) and write the audio, the cue sheet and the plot.

The rendering steps are plain functions (numpy in, numpy out); `render_medley` runs them
off the event loop and reports progress between them.
"""
from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mediamesh.audio import loudness
from mediamesh.audio.mixing import Clip, Fade, render_clips
from mediamesh.audio.stretch import TimeMap, stretch
from mediamesh.worker_threads import run_in_thread
from services.compose.audio_io import WrittenAudio, write_mastered
from services.compose.medley import MedleyPlan, PartPlan

CUE_SHEET_VERSION = 1


@dataclass(frozen=True)
class MedleyProgress:
    done: int
    total: int
    stage: str
    message: str


@dataclass(frozen=True)
class PartLevel:
    loudness_lufs: float  # of the (stretched) part before any gain
    gain_db: float  # loudness matching plus the song's own gain


@dataclass(frozen=True)
class MedleyResult:
    written: WrittenAudio
    levels: list[PartLevel]
    cue_sheet: dict[str, object]
    plot: Path | None


def _span(start: float, end: float, rate: int) -> tuple[int, int]:
    return int(round(start * rate)), int(round(end * rate))


@dataclass(frozen=True)
class SongAudio:
    """A decoded song, possibly cropped: samples[:, 0] is `offset` seconds into the song."""

    samples: np.ndarray  # (channels, n) float32
    offset: float = 0.0


def render_part(part: PartPlan, song: SongAudio, rate: int) -> np.ndarray:
    """The song's audible span as it sounds in the output: (channels, n) samples for
    output_range, warped by the part's time map (or read as is without one)."""
    begin, end = _span(*part.output_range, rate)
    samples = song.samples
    if part.time_map is None:
        first = int(round((part.source_range[0] - song.offset) * rate))
        out = np.zeros((samples.shape[0], end - begin), np.float32)
        piece = samples[:, max(first, 0):max(first, 0) + end - begin]
        out[:, :piece.shape[1]] = piece
        return out
    time_map = TimeMap(part.time_map.out_times - begin / rate,
                       part.time_map.src_times - song.offset)
    return stretch(samples, rate, time_map, end - begin)


def part_level(part: PartPlan, audio: np.ndarray, rate: int,
               target_lufs: float | None) -> PartLevel:
    """Gain that brings the full-gain part (not its fades) to `target_lufs`, plus the
    song's own gain_db; no matching without a target or for a silent part."""
    begin, _ = _span(*part.output_range, rate)
    a, b = _span(*part.part_output_range, rate)
    measured = loudness.integrated_lufs(audio[:, a - begin:b - begin], rate)
    matching = target_lufs - measured if target_lufs is not None and math.isfinite(measured) \
        else 0.0
    return PartLevel(measured, matching + part.gain_db)


def mix_parts(plan: MedleyPlan, audio: Sequence[np.ndarray], levels: Sequence[PartLevel],
              rate: int, channels: int) -> np.ndarray:
    """All parts on one timeline with their fades (crossfades where they overlap)."""
    clips = [Clip(samples, start=_span(*p.output_range, rate)[0] / rate, gain_db=level.gain_db,
                  fade_in=Fade(p.fade_in, p.fade_in_curve),
                  fade_out=Fade(p.fade_out, p.fade_out_curve))
             for p, samples, level in zip(plan.parts, audio, levels)]
    return render_clips(clips, rate, channels, duration=plan.duration)


def _pair(values: tuple[float, float]) -> list[float]:
    return [round(values[0], 6), round(values[1], 6)]


def cue_sheet(plan: MedleyPlan, levels: Sequence[PartLevel], written: WrittenAudio,
              output_uri: str, rate: int) -> dict[str, object]:
    """Where every song sits, at what tempo and gain, plus the output's exact beat grid
    (what a beat tracker run on the medley should find)."""
    songs = []
    for part, level in zip(plan.parts, levels):
        songs.append({
            "song_index": part.song_index, "title": part.title,
            "source_range": _pair(part.source_range), "part_range": _pair(part.part_range),
            "output_range": _pair(part.output_range),
            "part_output_range": _pair(part.part_output_range),
            "source_bpm": round(part.source_bpm, 3), "tempo_ratio": round(part.tempo_ratio, 5),
            "beat_multiplier": part.beat_multiplier,
            "part_lufs": round(loudness.reportable(level.loudness_lufs), 2),
            "gain_db": round(level.gain_db, 2),
            "fade_in_s": round(part.fade_in, 4), "fade_out_s": round(part.fade_out, 4),
            "crossfade_bars": plan.crossfade_bars})
    return {
        "version": CUE_SHEET_VERSION, "output": output_uri, "sample_rate": rate,
        "transition": plan.transition.value, "bpm": round(plan.bpm, 4),
        "beats_per_bar": plan.beats_per_bar, "crossfade_bars": plan.crossfade_bars,
        "duration": round(written.duration, 6),
        "integrated_lufs": round(loudness.reportable(written.integrated_lufs), 2),
        "true_peak_dbtp": round(loudness.reportable(written.true_peak_dbtp), 2),
        "songs": songs,
        "beats": [round(float(t), 6) for t in plan.beats],
        "downbeats": [round(float(t), 6) for t in plan.downbeats]}


async def render_medley(plan: MedleyPlan, songs: Sequence[SongAudio], rate: int,
                        target_lufs: float | None, ceiling_dbtp: float, output: Path,
                        output_uri: str, cue_path: Path, plot_path: Path | None
                        ) -> AsyncIterator[MedleyProgress | MedleyResult]:
    """Stretch, level, mix, master and write; progress between the steps."""
    count = len(plan.parts)
    total = count + 3
    audio: list[np.ndarray] = []
    levels: list[PartLevel] = []
    for k, part in enumerate(plan.parts):
        yield MedleyProgress(k, total, "stretch", f"warping {part.title} to {plan.bpm:.1f} BPM"
                             if part.time_map is not None else f"cutting {part.title}")
        rendered = await run_in_thread(render_part, part, songs[part.song_index], rate)
        audio.append(rendered)
        levels.append(await run_in_thread(part_level, part, rendered, rate, target_lufs))
    yield MedleyProgress(count, total, "mix", "crossfading")
    channels = songs[0].samples.shape[0]
    mix = await run_in_thread(mix_parts, plan, audio, levels, rate, channels)
    del audio
    yield MedleyProgress(count + 1, total, "encode", "mastering and encoding")
    written = await run_in_thread(write_mastered, output, mix, rate, target_lufs,
                                  ceiling_dbtp)
    sheet = cue_sheet(plan, levels, written, output_uri, rate)
    cue_path.write_text(json.dumps(sheet, indent=1))
    if plot_path is not None:
        yield MedleyProgress(count + 2, total, "plot", "drawing the plot")
        from services.compose.medley_plot import write_plot  # matplotlib only when asked

        await run_in_thread(write_plot, plot_path, mix, rate, plan)
    yield MedleyProgress(total, total, "done", "")
    yield MedleyResult(written, levels, sheet, plot_path)
