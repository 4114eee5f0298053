"""The subtitles section of bench/eval_vision.py: RemoveSubtitles' whole job
(services.vision.subtitle_job.SubtitleRemover: band search, text_detection in onnxruntime
on one thread as Triton runs it, background plate, inpainting, encode) on clips with
subtitles burned in at known times and boxes, scored against the same clips rendered
without them (mediamesh.synth.subtitles; seeds from 5000, never used by the tests; every
third clip at 1280x720).

Per method, over the frames that show a subtitle:
  residual     fraction of those frames where the text detector still finds text over the
               cue's box after removal (the 'OCR finds nothing' check; 0 is the goal)
  psnr_band    PSNR (dB) of the subtitle band (bottom 25%) against the clean render
  psnr_rest    PSNR of the rest of the frame against the clean render (the re-encode only)
  cue_recall   cues whose erased span starts and ends within 2 frames of the truth
  fps          frames over wall time of the whole job, decode to encoded mp4
Methods: ours (temporal plate, then Telea), ours with Navier-Stokes, ours spatial only
(no plate: what the plate adds), ours blurring the text, and the input itself.
"""
from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from local_models import LocalModels

from mediamesh import media
from mediamesh.storage import StoredOutput
from mediamesh.synth import subtitles
from services.vision.subtitle_job import SubtitleJob, SubtitleOutcome, SubtitleRemover
from services.vision.subtitle_removal import Band, Method, text_boxes

RESULTS = Path(__file__).parent / "results"
FIRST_SEED = 5000
SECONDS = 8.0
COLUMNS = ["method", "clips", "frames", "residual", "psnr_band", "psnr_rest", "cue_recall",
           "fps"]


@dataclass
class Tally:
    residual: list[bool] = field(default_factory=list)
    band_se: list[float] = field(default_factory=list)  # squared errors, pooled
    rest_se: list[float] = field(default_factory=list)
    cues: int = 0
    cues_found: int = 0
    frames: int = 0
    seconds: float = 0.0

    def row(self, name: str, clips: int, timed: bool) -> dict[str, Any]:
        return {"method": name, "clips": clips, "frames": self.frames,
                "residual": float(np.mean(self.residual)),
                "psnr_band": _db(float(np.mean(self.band_se))),
                "psnr_rest": _db(float(np.mean(self.rest_se))),
                "cue_recall": self.cues_found / self.cues if timed else None,
                "fps": self.frames / self.seconds if timed and self.seconds else None}


def _db(mse: float) -> float:
    return float(10 * np.log10(255 ** 2 / max(mse, 1e-9)))


def render_clips(count: int, folder: Path) -> list[tuple[Path, np.ndarray, Any]]:
    version = hashlib.sha256(Path(subtitles.__file__).read_bytes()).hexdigest()[:10]
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for i in range(count):
        size = (1280, 720) if i % 3 == 2 else (640, 360)
        frames, clean, truth = subtitles.render(FIRST_SEED + i, width=size[0], height=size[1],
                                                seconds=SECONDS)
        path = folder / f"subtitles-{FIRST_SEED + i}-{size[0]}x{size[1]}-{version}.mp4"
        if not path.exists():
            with media.VideoWriter(path.with_suffix(".tmp.mp4"), *size, truth.fps) as writer:
                for frame in frames:
                    writer.write(frame)
            path.with_suffix(".tmp.mp4").replace(path)
        clips.append((path, clean, truth))
    return clips


async def _remove(remover: SubtitleRemover, path: Path, method: Method, temporal: bool,
                  out: Path) -> SubtitleOutcome:
    info = media.probe(path)
    async for item in remover.run(SubtitleJob(path, None, method, temporal), info,
                                  StoredOutput(out, "bench")):
        if isinstance(item, SubtitleOutcome):
            return item
    raise RuntimeError(f"{path.name}: no outcome")


async def _residual(remover: SubtitleRemover, frames: np.ndarray, truth: Any,
                    indices: list[int]) -> list[bool]:
    """Per subtitle frame: does the detector still find text over the cue's box?"""
    h, w = frames.shape[1:3]
    band = Band(0, int(0.75 * h), w, h)
    found = []
    for start in range(0, len(indices), 16):
        part = indices[start:start + 16]
        probabilities = await remover.probabilities([frames[i] for i in part], band)
        for i, p in zip(part, probabilities, strict=True):
            cue = truth.cue_at(i)
            cx0, cx1 = cue.box[0], cue.box[0] + cue.box[2]
            hit = any(min(cx1, right) - max(cx0, left) > 0.02
                      for left, _, right, _ in text_boxes(p))
            found.append(hit)
    return found


def _score(tally: Tally, frames: np.ndarray, clean: np.ndarray, truth: Any,
           residual: list[bool], indices: list[int]) -> None:
    h = frames.shape[1]
    top = int(0.75 * h)
    picked = frames[indices].astype(np.float32)
    reference = clean[indices].astype(np.float32)
    tally.band_se.append(float(((picked[:, top:] - reference[:, top:]) ** 2).mean()))
    tally.rest_se.append(float(((picked[:, :top] - reference[:, :top]) ** 2).mean()))
    tally.residual += residual
    tally.frames += len(frames)


def eval_subtitles(count: int) -> dict[str, Any]:
    """Residual text and band PSNR after removal, against the clean renders."""
    clips = render_clips(count, RESULTS / "clips")
    remover = SubtitleRemover(LocalModels())  # type: ignore[arg-type]
    methods = [("mediamesh (plate + Telea)", Method.TELEA, True),
               ("mediamesh (plate + Navier-Stokes)", Method.NAVIER_STOKES, True),
               ("mediamesh spatial only (Telea, no plate)", Method.TELEA, False),
               ("mediamesh (blur the text)", Method.BLUR, True)]
    tallies = {name: Tally() for name, _, _ in methods}
    tallies["input (subtitles left in)"] = Tally()
    per_clip = []
    with tempfile.TemporaryDirectory() as tmp:
        for path, clean, truth in clips:
            indices = [i for i in range(truth.frame_count) if truth.cue_at(i)]
            source = np.stack([f.rgb for f in media.iter_frames(path)])
            entry: dict[str, Any] = {"clip": path.name, "cues": len(truth.cues)}
            for name, method, temporal in methods:
                out = Path(tmp) / f"{path.stem}.{method.value}.{temporal}.mp4"
                started = time.perf_counter()
                outcome = asyncio.run(_remove(remover, path, method, temporal, out))
                tallies[name].seconds += time.perf_counter() - started
                cleaned = np.stack([f.rgb for f in media.iter_frames(out)])
                residual = asyncio.run(_residual(remover, cleaned, truth, indices))
                _score(tallies[name], cleaned, clean, truth, residual, indices)
                tallies[name].cues += len(truth.cues)
                tallies[name].cues_found += sum(
                    any(abs(a - c.start) <= 2 / truth.fps and abs(b - c.end) <= 2 / truth.fps
                        for a, b in outcome.erased) for c in truth.cues)
                entry[name] = {"residual": float(np.mean(residual)),
                               "spans": [(round(a, 2), round(b, 2)) for a, b in outcome.erased]}
            residual = asyncio.run(_residual(remover, source, truth, indices))
            _score(tallies["input (subtitles left in)"], source, clean, truth, residual, indices)
            per_clip.append(entry)
    table = [t.row(name, len(clips), name.startswith("mediamesh"))
             for name, t in tallies.items()]
    frames = sum(t.frame_count for _, _, t in clips)
    cues = sum(len(t.cues) for _, _, t in clips)
    return {"title": f"subtitles: {len(clips)} clips, {frames} frames, {cues} cues (white text, "
                     "black outline, over pans, textures, shapes, shake); PSNR against the clean "
                     "render on subtitle frames; fps = the whole job, models in onnxruntime on "
                     "1 thread",
            "table": table, "columns": COLUMNS, "clips": per_clip}


if __name__ == "__main__":
    import json
    import sys

    result = eval_subtitles(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    print(json.dumps(result["table"], indent=1))
