"""The logos section of bench/eval_vision.py: BlurRegions' logo search
(services.vision.region_blur.RegionBlurrer.search_logos: edge_features in onnxruntime on
one thread, as Triton runs it, and services.vision.logos) on clips with a logo drawn at a
known box (mediamesh.synth.overlays; seeds from 4000, never used by the tests): every
corner, logos shown for only part of the clip, and one clip in four without a logo.

Per method:
  recall        logos found with IoU >= 0.5 against the drawn box
  iou           mean IoU of those found (found boxes carry a 2 px margin at 320x180 so a
                blur covers the logo's soft edge: a perfect find scores about 0.6)
  covered       mean fraction of the drawn box inside the found one (what a blur hides)
  false         boxes that match no logo, per clip (clips without a logo included)
  span_err      mean |start - truth| + |end - truth| / 2 of found logos, seconds
  fps           video seconds searched per wall second (decode at 320x180 + model + search)
Methods: ours (median of gradient vectors, consistency and a changing surround); a
static-pixel baseline (pixels whose luma hardly changes over the samples and that have
edges: what a naive 'what stays put' search finds), on the same samples.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from local_models import LocalModels
from scipy import ndimage

from mediamesh import media
from mediamesh.synth import overlays
from services.vision.logos import FoundLogo, find_logos
from services.vision.region_blur import EdgeSamples, RegionBlurrer
from services.vision.regions import NormBox

RESULTS = Path(__file__).parent / "results"
FIRST_SEED = 4000
SECONDS = 10.0
COLUMNS = ["method", "clips", "logos", "recall", "iou", "covered", "false", "span_err",
           "fps"]


@dataclass
class Tally:
    logos: int = 0
    found: int = 0
    ious: list[float] = field(default_factory=list)
    covered: list[float] = field(default_factory=list)
    false: int = 0
    span_errors: list[float] = field(default_factory=list)
    seconds: float = 0.0
    video_seconds: float = 0.0

    def row(self, name: str, clips: int) -> dict[str, Any]:
        return {"method": name, "clips": clips, "logos": self.logos,
                "recall": self.found / self.logos if self.logos else None,
                "iou": float(np.mean(self.ious)) if self.ious else None,
                "covered": float(np.mean(self.covered)) if self.covered else None,
                "false": self.false / clips,
                "span_err": float(np.mean(self.span_errors)) if self.span_errors else None,
                "fps": self.video_seconds / self.seconds if self.seconds else None}


def _overlap(a: NormBox, b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a.x + a.width, b[0] + b[2]) - max(a.x, b[0]))
    iy = max(0.0, min(a.y + a.height, b[1] + b[3]) - max(a.y, b[1]))
    return ix * iy


def _iou(a: NormBox, b: tuple[float, float, float, float]) -> float:
    inter = _overlap(a, b)
    return inter / (a.width * a.height + b[2] * b[3] - inter)


def clip_specs(count: int) -> list[dict[str, Any]]:
    specs = []
    for i in range(count):
        spec: dict[str, Any] = {"seed": FIRST_SEED + i, "corner": overlays.CORNERS[i % 4],
                                "logo": i % 4 != 3}
        if i % 3 == 2:
            spec["span"] = (3.0, SECONDS) if i % 2 else (0.0, 6.0)
        specs.append(spec)
    return specs


def render_clips(count: int, folder: Path) -> list[tuple[Path, overlays.OverlayTruth]]:
    version = hashlib.sha256(Path(overlays.__file__).read_bytes()).hexdigest()[:10]
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for spec in clip_specs(count):
        options = {k: v for k, v in spec.items() if k != "seed"}
        span = spec.get("span")
        name = (f"logo-{spec['seed']}-{spec['corner']}-{int(spec['logo'])}-"
                f"{'-'.join(f'{s:g}' for s in span) if span else 'all'}-{version}")
        path = folder / f"{name}.mp4"
        truth = overlays.render(spec["seed"], seconds=SECONDS, **options)[1]
        if not path.exists():
            overlays.write_clip(path.with_suffix(".tmp.mp4"), spec["seed"], audio=False,
                                seconds=SECONDS, **options)
            path.with_suffix(".tmp.mp4").replace(path)
        clips.append((path, truth))
    return clips


def static_pixels(times: np.ndarray, gradients: np.ndarray, luma: np.ndarray,
                  duration: float) -> list[FoundLogo]:
    """The naive anchor: pixels that barely change and have edges, grouped into boxes."""
    h, w = luma.shape[1:]
    still = luma.std(axis=0) < 0.02
    edgy = np.hypot(gradients[..., 0], gradients[..., 1]).mean(axis=0) > 0.05
    labels, _ = ndimage.label(ndimage.binary_dilation(still & edgy, iterations=3))
    found = []
    for sl in ndimage.find_objects(labels):
        rows, cols = sl
        box = NormBox(cols.start / w, rows.start / h, (cols.stop - cols.start) / w,
                      (rows.stop - rows.start) / h)
        if 0.0004 <= box.width * box.height <= 0.1:
            found.append(FoundLogo(box, 0.0, duration, 1.0))
    return found


async def _samples(blurrer: RegionBlurrer, path: Path) -> EdgeSamples:
    info = media.probe(path)
    async for item in blurrer.edge_samples(path, info):
        if isinstance(item, EdgeSamples):
            return item
    raise RuntimeError(f"{path.name}: no samples")


def _score(tally: Tally, found: list[FoundLogo], truth: overlays.OverlayTruth) -> None:
    matched = False
    for logo in found:
        if truth.box is not None and not matched and _iou(logo.box, truth.box) >= 0.5:
            matched = True
            tally.found += 1
            tally.ious.append(_iou(logo.box, truth.box))
            tally.covered.append(_overlap(logo.box, truth.box) / (truth.box[2] * truth.box[3]))
            tally.span_errors.append((abs(logo.start - truth.start)
                                      + abs(logo.end - truth.end)) / 2)
        else:
            tally.false += 1


def eval_logos(count: int) -> dict[str, Any]:
    """Logo boxes and spans found against the drawn truth."""
    clips = render_clips(count, RESULTS / "clips")
    blurrer = RegionBlurrer(LocalModels())  # type: ignore[arg-type]
    names = ["mediamesh (median of gradients)", "static pixels (anchor)"]
    tallies = {n: Tally() for n in names}
    per_clip = []
    for path, truth in clips:
        started = time.perf_counter()
        samples = asyncio.run(_samples(blurrer, path))
        found = find_logos(samples.times, samples.gradients, samples.luma, samples.duration)
        seconds = time.perf_counter() - started
        naive = static_pixels(samples.times, samples.gradients, samples.luma, samples.duration)
        for name, boxes in ((names[0], found), (names[1], naive)):
            tally = tallies[name]
            tally.logos += truth.box is not None
            tally.seconds += seconds
            tally.video_seconds += SECONDS
            _score(tally, boxes, truth)
        per_clip.append({"clip": path.name, "truth": truth.box,
                         "found": [(round(f.box.x, 3), round(f.box.y, 3), round(f.box.width, 3),
                                    round(f.box.height, 3), round(f.start, 2), round(f.end, 2))
                                   for f in found],
                         "anchor_boxes": len(naive)})
    table = [tallies[n].row(n, len(clips)) for n in names]
    table[1]["fps"] = None  # the same decode and model; the anchor's own cost is nil
    return {"title": f"logos: {len(clips)} clips of {SECONDS:g} s (640x360, logo about 12% "
                     "of the width in each corner, some shown for part of the clip, one clip "
                     "in four without), a match is IoU >= 0.5 with the drawn box",
            "table": table, "columns": COLUMNS, "clips": per_clip}


if __name__ == "__main__":
    import json
    import sys

    result = eval_logos(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
    print(json.dumps(result["table"], indent=1))
    print(json.dumps(result["clips"], indent=1))
