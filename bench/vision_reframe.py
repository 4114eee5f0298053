"""The reframe section of bench/eval_vision.py: Reframe's whole job (services.vision
.reframe_job.Reframer: shots, faces, people, saliency, camera per shot, crop, scale,
encode), run in-process on the models in onnxruntime (bench/local_models.py), on clips
where the face's box is exact in every frame (mediamesh.synth.portraits: the astronaut
moving and scaling over textures, shapes, gradients, photos and walls; seeds from 3000,
never used by the tests; every third clip is two clips back to back, a hard cut between).

Per method, 16:9 -> 9:16, over every frame of every clip:
  face_in       fraction of frames whose whole face box is inside the crop (0.5% slack)
  face_in_worst the lowest per-clip fraction
  jerk          mean |d3x/dt3| of the crop's centre within shots, frame widths per s^3
                (0 = still or constant speed; the face's own path is the reference row)
  fps           frames over wall time of the whole job, decode to encoded mp4 (ours only)
Methods: ours (automatic camera per shot); ours forced stationary; a fixed centre crop
(what a plain crop filter gives); the face's own centre (jerk reference only).
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
from mediamesh.synth import portraits
from services.vision import reframe_job
from services.vision.reframe_path import CameraMode, crop_at, crop_size, path_jerk
from services.vision.shot_detection import shot_index

RESULTS = Path(__file__).parent / "results"
FIRST_SEED = 3000
SECONDS = 6.0
ASPECT = (9, 16)
TOLERANCE = 0.005
COLUMNS = ["method", "clips", "frames", "face_in", "face_in_worst", "jerk", "fps"]


@dataclass
class Tally:
    inside: list[bool] = field(default_factory=list)
    clip_inside: list[float] = field(default_factory=list)
    jerks: list[float] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0

    def add(self, crops: list[tuple[float, float, float, float]],
            faces: list[tuple[float, float, float, float]], fps: float,
            cuts: tuple[int, ...]) -> None:
        held = [_inside(f, c) for f, c in zip(faces, crops, strict=True)]
        self.inside += held
        self.clip_inside.append(float(np.mean(held)))
        centres = np.array([c[0] + c[2] / 2 for c in crops])
        for a, b in zip((0, *cuts), (*cuts, len(crops)), strict=True):  # within shots
            self.jerks.append(path_jerk(np.arange(b - a) / fps, centres[a:b]))
        self.frames += len(crops)

    def row(self, name: str, clips: int, timed: bool) -> dict[str, Any]:
        return {"method": name, "clips": clips, "frames": self.frames,
                "face_in": float(np.mean(self.inside)) if self.inside else None,
                "face_in_worst": min(self.clip_inside) if self.clip_inside else None,
                "jerk": float(np.mean(self.jerks)),
                "fps": self.frames / self.seconds if timed and self.seconds else None}


def _inside(face: tuple[float, ...], crop: tuple[float, ...]) -> bool:
    fx, fy, fw, fh = face
    cx, cy, cw, ch = crop
    return (fx >= cx - TOLERANCE and fx + fw <= cx + cw + TOLERANCE
            and fy >= cy - TOLERANCE and fy + fh <= cy + ch + TOLERANCE)


@dataclass(frozen=True)
class Clip:
    path: Path
    poses: list[portraits.Pose]
    width: int
    height: int
    fps: float
    background: str
    cuts: tuple[int, ...]  # frames where a new shot starts


def render_clips(count: int, folder: Path) -> list[Clip]:
    """The clip set, rendered once and cached by generator source and options."""
    version = hashlib.sha256(Path(portraits.__file__).read_bytes()).hexdigest()[:10]
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for i in range(count):
        seed = FIRST_SEED + i
        width, height = (1280, 720) if i % 6 == 5 else (640, 360)
        fps = 30.0 if i % 4 == 3 else 25.0
        kinds = portraits.BACKGROUND_KINDS
        parts = [portraits.plan_clip(seed, width=width, height=height, fps=fps,
                                     seconds=SECONDS, background=kinds[i % len(kinds)])]
        if i % 3 == 1:  # two clips back to back: the camera must reset at the cut
            parts = [portraits.plan_clip(seed * 10 + k, width=width, height=height, fps=fps,
                                         seconds=SECONDS / 2,
                                         background=kinds[(i + k) % len(kinds)])
                     for k in range(2)]
        name = "+".join(p.truth.background for p in parts)
        path = folder / f"reframe-{seed}-{width}x{height}-{fps:g}-{name}-{version}.mp4"
        if not path.exists():
            with media.VideoWriter(path.with_suffix(".tmp.mp4"), width, height, fps) as writer:
                for part in parts:
                    for rgb, _ in part.frames():
                        writer.write(rgb)
            path.with_suffix(".tmp.mp4").replace(path)
        clips.append(Clip(path, [p for part in parts for p in part.truth.poses], width, height,
                          fps, name, (parts[0].truth.frame_count,) if len(parts) > 1 else ()))
    return clips


async def _reframe(models: LocalModels, clip: Clip, options: reframe_job.ReframeOptions,
                   folder: Path) -> list[reframe_job.ShotPlan]:
    info = media.probe(clip.path)
    output = StoredOutput(folder / f"{clip.path.stem}.out.mp4", "bench")
    plans: list[reframe_job.ShotPlan] = []
    async for item in reframe_job.Reframer(models).run(  # type: ignore[arg-type]
            reframe_job.ReframeJob(clip.path, options), info, output):
        if isinstance(item, reframe_job.ReframeOutcome):
            plans = item.plans
    return plans


def _crops(plans: list[reframe_job.ShotPlan], frames: int, fps: float
           ) -> list[tuple[float, float, float, float]]:
    starts = [p.start for p in plans]
    out = []
    for i in range(frames):
        t = i / fps
        box = crop_at(plans[shot_index(starts, t)], t)
        out.append((box.x, box.y, box.width, box.height))
    return out


def eval_reframe(count: int) -> dict[str, Any]:
    """Face containment and path smoothness of reframed clips against the exact truth."""
    clips = render_clips(count, RESULTS / "clips")
    models = LocalModels()
    auto = reframe_job.ReframeOptions.checked(0, 0, ASPECT, None, False, 0.0, [])
    still = reframe_job.ReframeOptions.checked(0, 0, ASPECT, CameraMode.STATIONARY, False, 0.0,
                                               [])
    names = ["mediamesh (automatic camera)", "mediamesh (forced stationary)", "centre crop",
             "face centre (reference)"]
    tallies = {n: Tally() for n in names}
    per_clip = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            faces = [portraits.face_box(p, clip.width, clip.height) for p in clip.poses]
            crop_w = crop_size(clip.width, clip.height, *ASPECT)[0] / clip.width
            entry: dict[str, Any] = {"clip": clip.path.name}
            for name, options in ((names[0], auto), (names[1], still)):
                started = time.perf_counter()
                plans = asyncio.run(_reframe(models, clip, options, Path(tmp)))
                tallies[name].seconds += time.perf_counter() - started
                crops = _crops(plans, len(faces), clip.fps)
                tallies[name].add(crops, faces, clip.fps, clip.cuts)
                entry[name] = {"face_in": tallies[name].clip_inside[-1],
                               "modes": [p.mode.value for p in plans]}
            centre = [((1 - crop_w) / 2, 0.0, crop_w, 1.0)] * len(faces)
            tallies[names[2]].add(centre, faces, clip.fps, clip.cuts)
            own = [(f[0] + f[2] / 2 - crop_w / 2, 0.0, crop_w, 1.0) for f in faces]
            tallies[names[3]].add(own, faces, clip.fps, clip.cuts)
            entry[names[2]] = tallies[names[2]].clip_inside[-1]
            per_clip.append(entry)
    table = [tallies[n].row(n, len(clips), i < 2) for i, n in enumerate(names)]
    table[3]["face_in"] = table[3]["face_in_worst"] = None  # unclamped: not a crop
    frames = sum(len(c.poses) for c in clips)
    return {"title": f"reframe: {len(clips)} clips, {frames} frames, 16:9 -> 9:16, the face's "
                     "exact box against the crop (0.5% slack); jerk in frame widths/s^3; fps "
                     "= the whole job, decode to mp4, models in onnxruntime on 1 thread",
            "table": table, "columns": COLUMNS, "clips": per_clip}


if __name__ == "__main__":
    import json
    import sys

    result = eval_reframe(int(sys.argv[1]) if len(sys.argv) > 1 else 6)
    print(json.dumps(result["table"], indent=1))
    print(json.dumps(result["clips"], indent=1))
