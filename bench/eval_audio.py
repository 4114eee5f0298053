"""Evaluate beat, downbeat, meter, tempo and chorus detection on songs with exact annotations.

The set is rendered here (`mediamesh.synth.songs`, seeds 0..N-1, never used for training) at
44.1 kHz; every third song goes through an MP3 round trip. Scores come from mir_eval (the
MIREX reference implementations). Side by side, in the same run: our pipeline (the beat_tcn
ONNX model + our numpy DBN), the opt-in madmom pack when it is enabled (madmom's downbeat
BLSTMs as ONNX + the same DBN: the accuracy anchor, non-commercial licence), librosa's
beat_track, and the baseline "the chorus starts 30% into the song". CPU seconds are process
CPU time per minute of audio, decode included, onnxruntime on one thread (the same work
Triton does for the service).

    python bench/eval_audio.py --songs 40
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mir_eval
import numpy as np
import onnxruntime as ort

from mediamesh import media
from mediamesh.audio import beat_decoder, spectral
from mediamesh.config import load_settings
from mediamesh.models import beat_tcn, madmom_frontend, madmom_pack
from mediamesh.synth.songs import SongTruth, render_song
from services.audio import bars, chorus

RESULTS = Path(__file__).parent / "results"
EVAL_RATE = 44_100


@dataclass
class Tracked:
    beats: np.ndarray | None  # None: the method does not track beats
    downbeats: np.ndarray | None
    meter: int | None
    tempo: float
    cpu_s: float
    chorus: tuple[float, float] | None = None


@dataclass
class Scores:
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, method: str, truth: SongTruth, got: Tracked, minutes: float) -> None:
        ref = np.array(truth.beats)
        row: dict[str, Any] = {"method": method, "song": truth.title, "traits": truth.traits,
                               "minutes": minutes, "cpu_s": got.cpu_s}
        if got.beats is not None:
            row["beat_f"] = mir_eval.beat.f_measure(ref, got.beats)
            _, cmlt, _, amlt = mir_eval.beat.continuity(ref, got.beats)
            row["cmlt"], row["amlt"] = cmlt, amlt
            row["tempo_acc1"] = float(abs(got.tempo - truth.tempo_bpm)
                                      <= 0.04 * truth.tempo_bpm)
            row["tempo_acc2"] = float(any(abs(got.tempo * k - truth.tempo_bpm)
                                          <= 0.04 * truth.tempo_bpm
                                          for k in (0.5, 1, 2, 1 / 3, 3)))
        if got.downbeats is not None:
            row["downbeat_f"] = mir_eval.beat.f_measure(np.array(truth.downbeats), got.downbeats)
        if got.meter is not None:
            row["meter_acc"] = float(got.meter == truth.beats_per_bar)
        if got.chorus is not None:
            row["chorus_hit"] = float(chorus_hit(got.chorus, truth))
            row["chorus_start_hit"] = float(any(abs(got.chorus[0] - s) <= 2.0
                                                for s, _ in truth.choruses))
        self.rows.append(row)

    def table(self) -> list[dict[str, Any]]:
        by: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in self.rows:
            by[row["method"]].append(row)
        out = []
        for method, rows in by.items():
            summary: dict[str, Any] = {"method": method, "songs": len(rows)}
            for key in ("beat_f", "cmlt", "amlt", "downbeat_f", "tempo_acc1", "tempo_acc2",
                        "meter_acc", "chorus_hit", "chorus_start_hit"):
                values = [r[key] for r in rows if key in r]
                summary[key] = float(np.mean(values)) if values else None
            minutes = sum(r["minutes"] for r in rows)
            cpu = sum(r["cpu_s"] for r in rows)
            summary["cpu_s_per_min"] = cpu / minutes if minutes else None
            out.append(summary)
        return out


def chorus_hit(got: tuple[float, float], truth: SongTruth, tolerance: float = 2.0) -> bool:
    return any(abs(got[0] - s) <= tolerance and abs(got[1] - e) <= tolerance
               for s, e in truth.choruses)


def render_set(count: int, folder: Path) -> list[tuple[Path, SongTruth, float]]:
    """Write the evaluation songs (every third as MP3) and return (path, truth, minutes)."""
    items = []
    for seed in range(count):
        song = render_song(seed, EVAL_RATE)
        path = folder / f"song-{seed}.{'mp3' if seed % 3 == 0 else 'wav'}"
        media.write_audio(path, song.samples, EVAL_RATE)
        items.append((path, song.truth, song.samples.shape[1] / EVAL_RATE / 60.0))
    return items


class OurTracker:
    """Decode -> spectral front-end -> beat_tcn (onnxruntime, 1 thread) -> numpy DBN."""

    def __init__(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(beat_tcn.build_graph().SerializeToString(),
                                            options, providers=["CPUExecutionProvider"])

    def __call__(self, path: Path) -> tuple[Tracked, np.ndarray, np.ndarray]:
        started = time.process_time()
        mono = media.decode_audio(path, spectral.RATE, True)
        spectrum = spectral.spectrogram(mono)
        features = spectral.features(mono, spectrum)
        acts = self.session.run(None, {"features": features[None]})[0][0]
        est = beat_decoder.decode(acts)
        cpu = time.process_time() - started
        return (Tracked(est.beats, est.downbeats, est.beats_per_bar, est.tempo_bpm, cpu),
                spectrum, est.positions)


class MadmomTracker:
    """Decode at 44.1 kHz -> madmom front-end -> the madmom pack (onnxruntime, 1 thread) ->
    our numpy DBN: what AnalyzeRhythm does with RHYTHM_MODEL_MADMOM."""

    def __init__(self, model: Path) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), options,
                                            providers=["CPUExecutionProvider"])

    @classmethod
    def if_enabled(cls) -> MadmomTracker | None:
        repository = load_settings().model_repository
        if not madmom_pack.is_enabled(repository):
            return None
        return cls(madmom_pack.model_dir(repository) / "1" / "model.onnx")

    def __call__(self, path: Path) -> Tracked:
        started = time.process_time()
        mono = media.decode_audio(path, madmom_frontend.RATE, True)
        features = madmom_frontend.features(mono)
        acts = self.session.run(None, {"features": features})[0]
        est = beat_decoder.decode(acts)
        cpu = time.process_time() - started
        return Tracked(est.beats, est.downbeats, est.beats_per_bar, est.tempo_bpm, cpu)


def librosa_tracker(path: Path) -> Tracked:
    import librosa  # bench-only dependency

    started = time.process_time()
    y = media.decode_audio(path, 22_050, True)
    tempo, beats = librosa.beat.beat_track(y=y, sr=22_050, units="time")
    cpu = time.process_time() - started
    return Tracked(np.asarray(beats), None, None, float(np.atleast_1d(tempo)[0]), cpu)


def detect_chorus(spectrum: np.ndarray, beats: np.ndarray, positions: np.ndarray,
                  meter: int) -> tuple[float, float]:
    found = chorus.detect(bars.FrameFeatures.of(spectrum), beats, positions, meter)
    return found.chorus.start, found.chorus.end


def print_table(table: list[dict[str, Any]]) -> None:
    keys = ["method", "songs", "beat_f", "cmlt", "amlt", "downbeat_f", "tempo_acc1",
            "tempo_acc2", "meter_acc", "chorus_hit", "chorus_start_hit", "cpu_s_per_min"]
    print(" | ".join(f"{k:>15}" for k in keys))
    for row in table:
        print(" | ".join(f"{row[k]:>15.3f}" if isinstance(row[k], float)
                         else f"{str(row[k] if row[k] is not None else '-'):>15}"
                         for k in keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--songs", type=int, default=40)
    parser.add_argument("--no-librosa", action="store_true")
    parser.add_argument("--no-madmom", action="store_true",
                        help="leave out the madmom pack even when it is enabled")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    scores = Scores()
    ours = OurTracker()
    madmom = None if args.no_madmom else MadmomTracker.if_enabled()
    if madmom is None and not args.no_madmom:
        print(f"madmom pack not enabled: no madmom column (opt-in, {madmom_pack.LICENCE}; "
              f"`mediamesh models enable {madmom_pack.PACK} --accept-license "
              f"{madmom_pack.LICENCE_ID}` adds it)")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.time()
        items = render_set(args.songs, Path(tmp))
        print(f"rendered {len(items)} songs ({sum(m for *_, m in items):.0f} min) in "
              f"{time.time() - started:.0f} s")
        median_chorus = float(np.median([e - s for _, t, _ in items for s, e in t.choruses]))
        for path, truth, minutes in items:
            got, spectrum, positions = ours(path)
            assert got.beats is not None  # our tracker always returns its beats
            started_cpu = time.process_time()
            got.chorus = detect_chorus(spectrum, got.beats, positions, got.meter or 4)
            got.cpu_s += time.process_time() - started_cpu
            scores.add("mediamesh (beat_tcn + DBN)", truth, got, minutes)
            if madmom is not None:
                scores.add("madmom pack (ONNX + DBN)", truth, madmom(path), minutes)
            if not args.no_librosa:
                scores.add("librosa beat_track", truth, librosa_tracker(path), minutes)
            start = 0.3 * minutes * 60.0
            scores.add("baseline: chorus at 30%", truth,
                       Tracked(None, None, None, 0.0, 0.0,
                               chorus=(start, start + median_chorus)), minutes)
    table = scores.table()
    print_table(table)
    misses = [(r["song"], r["traits"], round(r["beat_f"], 3), round(r.get("downbeat_f", 0), 3))
              for r in scores.rows if r["method"].startswith("mediamesh")
              and (r["beat_f"] < 0.95 or r.get("downbeat_f", 1) < 0.9)]
    if misses:
        print("weak songs (ours):", misses)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "eval_audio.json"
    out.write_text(json.dumps({"table": table, "rows": scores.rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
