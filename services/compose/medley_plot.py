"""A PNG of a medley: waveform envelope, the output beat grid (beats, downbeats, bar
numbers), each song's part and the transitions, labelled with the song titles. Drawn with
matplotlib's Agg backend (no display needed)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: servers have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from services.compose.medley import MedleyPlan, Transition  # noqa: E402

ENVELOPE_POINTS = 4000  # columns of the envelope: enough for a 14-inch figure
MAX_BEAT_LINES = 1500  # beyond this, beat lines are a grey wash: draw downbeats only
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def envelope(samples: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin start index, min, max) of the channel mean over `points` equal bins."""
    mono = np.atleast_2d(samples).mean(axis=0)
    size = max(1, mono.shape[0] // points)
    usable = mono[: mono.shape[0] // size * size].reshape(-1, size)
    return np.arange(usable.shape[0]) * size, usable.min(axis=1), usable.max(axis=1)


def write_plot(path: Path, samples: np.ndarray, rate: int, plan: MedleyPlan) -> None:
    """Draw the medley's plan over its waveform and save a PNG at `path`."""
    fig, ax = plt.subplots(figsize=(14, 4.8), dpi=100)
    try:
        starts, low, high = envelope(samples, ENVELOPE_POINTS)
        times = starts / rate
        ax.fill_between(times, low, high, color="#444444", linewidth=0, zorder=3)
        if plan.beats.size <= MAX_BEAT_LINES:
            ax.vlines(plan.beats, -1.05, 1.05, color="#bbbbbb", linewidth=0.4, zorder=1)
        ax.vlines(plan.downbeats, -1.05, 1.05, color="#666666", linewidth=0.8, zorder=2)
        step = max(1, int(np.ceil(plan.downbeats.size / 40)))  # at most ~40 bar numbers
        for number, t in enumerate(plan.downbeats):
            if number % step == 0:
                ax.text(t, -1.12, str(number + 1), fontsize=6, ha="center", va="top",
                        color="#666666")
        for k, part in enumerate(plan.parts):
            colour = COLOURS[k % len(COLOURS)]
            ax.fill_between(part.output_range, -1.05, 1.05, color=colour, alpha=0.10,
                            linewidth=0, zorder=0)
            ax.fill_between(part.part_output_range, 1.1, 1.22, color=colour, alpha=0.8,
                            linewidth=0, zorder=4)
            label = part.title if part.time_map is None else \
                f"{part.title}  ({part.source_bpm:.0f} BPM x{part.tempo_ratio:.3f})"
            ax.text(part.part_output_range[0], 1.27, label, fontsize=8, color=colour,
                    ha="left", va="bottom", fontweight="bold")
        for a, b in zip(plan.parts, plan.parts[1:]):
            begin, end = b.output_range[0], a.output_range[1]
            ax.fill_between([begin, end], -1.05, 1.05, facecolor="none", edgecolor="#000000",
                            hatch="///", linewidth=0, alpha=0.35, zorder=5)
            kind = "cut" if plan.transition is Transition.CUT else (
                f"{plan.crossfade_bars}-bar crossfade" if plan.transition
                is Transition.BEAT_MATCHED else f"{end - begin:.1f} s crossfade")
            ax.text((begin + end) / 2, -1.32, kind, fontsize=7, ha="center", va="top")
        ax.set_xlim(0, max(plan.duration, 1e-3))
        ax.set_ylim(-1.45, 1.5)
        ax.set_yticks([])
        ax.set_xlabel("output time (s)   -   thin lines: beats, dark lines: downbeats "
                      "(bar numbers below), hatched: transitions")
        ax.set_title(f"Medley: {len(plan.parts)} songs, {plan.bpm:.1f} BPM, "
                     f"{plan.transition.value.replace('_', ' ')}", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
