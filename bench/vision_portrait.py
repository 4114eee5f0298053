"""The portrait section of bench/eval_vision.py: SegmentPortrait's matte (the
selfie_segmentation model.onnx in onnxruntime on one thread, as Triton runs it for the
service, and services.vision.matting) on clips with an exact person matte
(mediamesh.synth.portraits: the astronaut cut-out moving over textures, shapes,
gradients, photos and plain walls; seeds from 2000, never used by the tests).

Per method, over every frame of every clip (H.264-decoded, as the service sees them):
  iou_mean / iou_min   person IoU (both mattes at 0.5), mean over frames / worst frame
  iou_worst_clip       the lowest per-clip mean
  band_mae             mean |alpha - truth| (0..1) within BAND of the truth edge (px at
                       the frame size, 2% of its height): the quality of the soft edge
  flicker_still        mean |alpha_t - alpha_t-1| in that band on frames whose truth did
                       not change (the person holds still; the background keeps moving),
                       in 8-bit alpha levels (0..255)
  flicker_all          the same over the whole frame and every frame (the truth's own is
                       the person moving)
  fps                  frames over wall time of decode + downscale + model + matte (ours
                       only: the other rows run the same code)
Methods: ours at the CLI's smoothing; the raw per-frame model (smoothing 0, same edge
map); the raw model upscaled without the edge map (probability as alpha); and the truth
itself (flicker 0 by construction, as the floor).
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from scipy import ndimage

from mediamesh import media
from mediamesh.models import selfie_segmentation
from mediamesh.synth import portraits
from services.vision import matting

RESULTS = Path(__file__).parent / "results"
FIRST_SEED = 2000
SECONDS = 6.0
CHUNK = 8
COLUMNS = ["method", "clips", "frames", "iou_mean", "iou_min", "iou_worst_clip", "band_mae",
           "flicker_still", "flicker_all", "fps"]


@dataclass(frozen=True)
class Method:
    name: str
    smoothing: float | None  # None: the truth itself
    edge: matting.EdgeParams | None = field(default_factory=matting.EdgeParams)  # None: p as alpha


@dataclass
class Tally:
    ious: list[float] = field(default_factory=list)
    clip_ious: list[float] = field(default_factory=list)
    band_errors: list[float] = field(default_factory=list)
    flicker_still: list[float] = field(default_factory=list)
    flicker_all: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def row(self, name: str, clips: int) -> dict[str, Any]:
        return {"method": name, "clips": clips, "frames": len(self.ious),
                "iou_mean": float(np.mean(self.ious)), "iou_min": float(np.min(self.ious)),
                "iou_worst_clip": float(np.min(self.clip_ious)),
                "band_mae": float(np.mean(self.band_errors)),
                "flicker_still": 255 * float(np.mean(self.flicker_still))
                if self.flicker_still else None,
                "flicker_all": 255 * float(np.mean(self.flicker_all)) if self.flicker_all
                else None,
                "fps": len(self.ious) / self.seconds if self.seconds else None}


class LocalMatte:
    """The service's pipeline without the server: model_input, the model in onnxruntime
    (1 thread), stabilize, matte."""

    def __init__(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(selfie_segmentation.build_graph().SerializeToString()
                                            if not _built().exists() else str(_built()),
                                            options, providers=["CPUExecutionProvider"])

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        (mask,) = self.session.run(["mask"], {"image": matting.model_input(frames)})
        return mask[..., 0]


def _built() -> Path:
    return Path(__file__).resolve().parents[1] / "model_repository" / "selfie_segmentation" \
        / "1" / "model.onnx"


def clip_specs(count: int) -> list[dict[str, Any]]:
    specs = []
    for i in range(count):
        big = i % 6 == 5
        specs.append({"seed": FIRST_SEED + i, "width": 1280 if big else 640,
                      "height": 720 if big else 360, "fps": 30.0 if i % 3 == 2 else 25.0,
                      "background": portraits.BACKGROUND_KINDS[i % len(
                          portraits.BACKGROUND_KINDS)]})
    return specs


def render_clips(count: int, folder: Path) -> list[tuple[Path, portraits.PortraitClip]]:
    """The clip set, rendered once and cached by generator source and options."""
    version = hashlib.sha256(Path(portraits.__file__).read_bytes()
                             + portraits.MATTE.read_bytes()).hexdigest()[:10]
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for spec in clip_specs(count):
        options = {k: v for k, v in spec.items() if k != "seed"}
        name = (f"portrait-{spec['seed']}-{spec['width']}x{spec['height']}-{spec['fps']:g}-"
                f"{spec['background']}-{version}")
        path = folder / f"{name}.mp4"
        if not path.exists():
            started = time.time()
            portraits.write_clip(path.with_suffix(".tmp.mp4"), spec["seed"], audio=False,
                                 seconds=SECONDS, **options)
            path.with_suffix(".tmp.mp4").replace(path)
            print(f"rendered {path.name} in {time.time() - started:.0f} s")
        clips.append((path, portraits.plan_clip(spec["seed"], seconds=SECONDS, **options)))
    return clips


def _band(truth: np.ndarray, width: int) -> np.ndarray:
    inside = truth >= 0.5
    return ndimage.binary_dilation(inside, iterations=width) & \
        ~ndimage.binary_erosion(inside, iterations=width)


def _iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    a, b = alpha >= 0.5, truth >= 0.5
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _mattes(model: LocalMatte, path: Path, method: Method, tally: Tally
            ) -> list[np.ndarray]:
    """Every frame's alpha (H, W) float32 0..1 for one method (timed)."""
    started = time.perf_counter()
    out: list[np.ndarray] = []
    state = None
    chunk: list[np.ndarray] = []
    frames = media.iter_frames(path)
    smoothing = matting.Smoothing(strength=method.smoothing or 0.0)

    def flush() -> None:
        nonlocal state
        if not chunk:
            return
        smoothed, state = matting.stabilize(model.probabilities(np.stack(chunk)), state,
                                            smoothing)
        h, w = chunk[0].shape[:2]
        for p in smoothed:
            if method.edge is None:
                out.append(matting.upsample_linear(p, h, w))
            else:
                out.append(matting.matte(p, h, w, method.edge)[..., 0] / np.float32(255.0))
        chunk.clear()

    for frame in frames:
        chunk.append(frame.rgb)
        if len(chunk) == CHUNK:
            flush()
    flush()
    tally.seconds += time.perf_counter() - started
    return out


def eval_portrait(count: int) -> dict[str, Any]:
    """Person matte quality and steadiness against the exact truth of generated clips."""
    methods = [Method(f"mediamesh (smoothing {matting.DEFAULT_SMOOTHING:g})",
                      matting.DEFAULT_SMOOTHING),
               Method("raw per-frame model (smoothing 0)", 0.0),
               Method("raw model, probability as alpha", 0.0, None),
               Method("truth", None)]
    tallies = {m.name: Tally() for m in methods}
    clips = render_clips(count, RESULTS / "clips")
    model = LocalMatte()
    per_clip = []
    for path, clip in clips:
        truth = [clip.alpha(i) for i in range(clip.truth.frame_count)]
        band_px = max(2, round(clip.truth.height * 0.02))
        bands = [_band(t, band_px) for t in truth]
        entry: dict[str, Any] = {"clip": path.name, "background": clip.truth.background}
        for method in methods:
            tally = tallies[method.name]
            alphas = truth if method.smoothing is None else _mattes(model, path, method, tally)
            if len(alphas) != len(truth):
                raise RuntimeError(f"{path.name}: decoded {len(alphas)} frames, "
                                   f"truth has {len(truth)}")
            ious = [_iou(a, t) for a, t in zip(alphas, truth, strict=True)]
            tally.ious += ious
            tally.clip_ious.append(float(np.mean(ious)))
            tally.band_errors += [float(np.abs(a - t)[b].mean())
                                  for a, t, b in zip(alphas, truth, bands, strict=True)]
            for i in range(1, len(alphas)):
                change = np.abs(alphas[i] - alphas[i - 1])
                tally.flicker_all.append(float(change.mean()))
                if clip.truth.still(i):
                    tally.flicker_still.append(float(change[bands[i]].mean()))
            entry[method.name] = float(np.mean(ious))
        per_clip.append(entry)
    table = [tallies[m.name].row(m.name, len(clips)) for m in methods]
    for row in table[1:]:
        row["fps"] = None
    frames = sum(c.truth.frame_count for _, c in clips)
    return {"title": f"portrait: {len(clips)} clips, {frames} frames, person matte against "
                     "the exact truth (IoU at 0.5; band = 2% of the height around the edge; "
                     "flicker in 8-bit alpha levels; fps = decode + model (onnxruntime, "
                     "1 thread) + matte)",
            "table": table, "columns": COLUMNS, "clips": per_clip}


if __name__ == "__main__":
    import json
    import sys

    result = eval_portrait(int(sys.argv[1]) if len(sys.argv) > 1 else 6)
    print(json.dumps(result["table"], indent=1))
    print(json.dumps(result["clips"], indent=1))
