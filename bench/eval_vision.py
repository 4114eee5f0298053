"""Evaluate the vision services on media with exact truth: one function per task, a table
per task on stdout and everything in bench/results/eval_vision.json (+ .md).

Sections:
  shots  DetectShots' detector on clips rendered by `mediamesh.synth.videos` (seeds from
         1000, never used by the tests or for tuning; 640x360 at 25 fps, every third at
         30 fps, every sixth at 1280x720; cuts, dissolves, fades, flashes, a fast pan and
         camera shake in each). Side by side in the same run: PySceneDetect's
         ContentDetector and AdaptiveDetector (defaults, OpenCV backend, its own downscale).
         A boundary matches within 1 frame for cuts and anywhere in the transition's span
         (+-1 frame) for gradual ones; one detection matches one boundary. Precision per
         kind counts a detector's unmatched boundaries against the kind it labelled them
         (PySceneDetect's detectors label everything a cut). fps is frames over wall time,
         decode included; ours runs the same model.onnx in onnxruntime on one thread (the
         work Triton does for the service) and the same numpy detector.

  fingerprint  bench/vision_fingerprint.py: altered copies of the shot clips matched back.
  portrait     bench/vision_portrait.py: person mattes on mediamesh.synth.portraits clips.
  reframe      bench/vision_reframe.py: faces kept in 9:16 crops of portrait clips.
  logos        bench/vision_logos.py: static logos found at their drawn boxes.
  subtitles    bench/vision_subtitles.py: burned-in subtitles removed, against clean renders.
  keying       bench/vision_keying.py: green/blue screens with exact alpha, ours beside
               FFmpeg chromakey and colorkey (+despill), and the whole 720p job against
               the decode + encode ceiling.

    python bench/eval_vision.py [--clips 12] [--section shots]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from mediamesh import media
from mediamesh.models import shot_features
from mediamesh.synth import videos
from services.vision import shots

RESULTS = Path(__file__).parent / "results"
FIRST_SEED = 1000


# shots --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detected:
    frame: int
    gradual: bool  # the detector's own label (PySceneDetect: never)
    kind: str  # ours: the transition type; others: "cut"


@dataclass
class Tally:
    """Counts for one detector over the clip set."""

    frames: int = 0
    seconds: float = 0.0
    matched: dict[str, int] = field(default_factory=lambda: {"cut": 0, "gradual": 0})
    truths: dict[str, int] = field(default_factory=lambda: {"cut": 0, "gradual": 0})
    false: dict[str, int] = field(default_factory=lambda: {"cut": 0, "gradual": 0})
    false_at: dict[str, int] = field(default_factory=lambda: {"flash": 0, "pan/shake": 0,
                                                              "other": 0})
    typed_right: int = 0

    def row(self, method: str) -> dict[str, Any]:
        out: dict[str, Any] = {"method": method}
        for kind in ("all", "cut", "gradual"):
            kinds = ("cut", "gradual") if kind == "all" else (kind,)
            tp = sum(self.matched[k] for k in kinds)
            fp = sum(self.false[k] for k in kinds)
            truths = sum(self.truths[k] for k in kinds)
            p = tp / (tp + fp) if tp + fp else 0.0
            r = tp / truths if truths else 0.0
            out[f"{kind}_p"], out[f"{kind}_r"] = p, r
            out[f"{kind}_f1"] = 2 * p * r / (p + r) if p + r else 0.0
        matched = sum(self.matched.values())
        out["type_acc"] = self.typed_right / matched if matched else None
        out["fp_flash"], out["fp_motion"] = self.false_at["flash"], self.false_at["pan/shake"]
        out["fps"] = self.frames / self.seconds if self.seconds else 0.0
        return out


def match_boundaries(found: list[Detected], truth: videos.ClipTruth, tally: Tally) -> None:
    """Greedy one-to-one matching in frame order; adds to `tally`."""
    used: set[int] = set()
    for b in truth.boundaries:
        kind = "gradual" if b.gradual else "cut"
        tally.truths[kind] += 1
        low, high = (b.span_start - 1, b.span_end) if b.gradual else (b.frame - 1, b.frame + 1)
        hit = next((i for i, d in enumerate(found) if i not in used and low <= d.frame <= high),
                   None)
        if hit is not None:
            used.add(hit)
            tally.matched[kind] += 1
            tally.typed_right += found[hit].kind == b.kind.value
    for i, d in enumerate(found):
        if i in used:
            continue
        tally.false["gradual" if d.gradual else "cut"] += 1
        tally.false_at[_false_cause(d.frame, truth)] += 1


def _false_cause(frame: int, truth: videos.ClipTruth) -> str:
    if any(f.start - 2 <= frame <= f.start + f.length + 2 for f in truth.flashes):
        return "flash"
    shot = next(s for s in truth.shots if s.start <= frame < s.end or s is truth.shots[-1])
    return "pan/shake" if shot.content in ("pan", "shake") else "other"


def clip_specs(count: int) -> list[dict[str, Any]]:
    specs = []
    for i in range(count):
        big = i % 6 == 5
        specs.append({"seed": FIRST_SEED + i, "width": 1280 if big else 640,
                      "height": 720 if big else 360, "fps": 30.0 if i % 3 == 2 else 25.0})
    return specs


def render_clips(count: int, folder: Path) -> list[tuple[Path, videos.ClipTruth]]:
    """The clip set, rendered once and cached by generator source and options."""
    version = hashlib.sha256(Path(videos.__file__).read_bytes()).hexdigest()[:10]
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for spec in clip_specs(count):
        name = f"shots-{spec['seed']}-{spec['width']}x{spec['height']}-{spec['fps']:g}-{version}"
        path = folder / f"{name}.mp4"
        plan_options = {k: v for k, v in spec.items() if k != "seed"}
        truth = videos.plan_clip(spec["seed"], **plan_options).truth
        if not path.exists():
            started = time.time()
            videos.write_clip(path.with_suffix(".tmp.mp4"), spec["seed"], **plan_options)
            path.with_suffix(".tmp.mp4").replace(path)
            print(f"rendered {path.name} ({truth.frame_count} frames) in "
                  f"{time.time() - started:.0f} s")
        clips.append((path, truth))
    return clips


class OurShots:
    """The service's pipeline without the server: decode at the analysis size, the
    shot_features graph in onnxruntime (1 thread), services.vision.shots."""

    def __init__(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(shot_features.build_graph().SerializeToString(),
                                            options, providers=["CPUExecutionProvider"])

    def __call__(self, path: Path) -> list[Detected]:
        parts, chunk = [], []
        size = (shot_features.WIDTH, shot_features.HEIGHT)
        for frame in media.iter_frames(path, size=size):
            chunk.append(frame.rgb)
            if len(chunk) == 16:
                parts.append(self._features(chunk))
                chunk = []
        if chunk:
            parts.append(self._features(chunk))
        found = shots.detect_shots(shots.FrameFeatures.concat(parts), shots.ShotParams())
        return [Detected(s.start, s.transition_in not in (shots.Transition.CUT,),
                         s.transition_in.value) for s in found[1:]]

    def _features(self, frames: list[np.ndarray]) -> shots.FrameFeatures:
        hist, thumb = self.session.run(["hist", "thumb"], {"image": np.stack(frames)})
        return shots.FrameFeatures(hist, thumb)


def scenedetect_shots(detector: Callable[[], Any]) -> Callable[[Path], list[Detected]]:
    def run(path: Path) -> list[Detected]:
        from scenedetect import SceneManager, open_video

        manager = SceneManager()
        manager.add_detector(detector())
        manager.detect_scenes(open_video(str(path), backend="opencv"))
        scenes = manager.get_scene_list(start_in_scene=True)
        return [Detected(start.get_frames(), False, "cut") for start, _ in scenes[1:]]
    return run


def eval_shots(count: int) -> dict[str, Any]:
    """Shot boundaries: ours beside PySceneDetect's Content and Adaptive detectors."""
    from scenedetect import AdaptiveDetector, ContentDetector

    methods: dict[str, Callable[[Path], list[Detected]]] = {
        "mediamesh DetectShots (gradual)": OurShots(),
        "PySceneDetect ContentDetector": scenedetect_shots(ContentDetector),
        "PySceneDetect AdaptiveDetector": scenedetect_shots(AdaptiveDetector),
    }
    tallies = {name: Tally() for name in methods}
    clips = render_clips(count, RESULTS / "clips")
    per_clip = []
    for path, truth in clips:
        entry: dict[str, Any] = {"clip": path.name, "frames": truth.frame_count,
                                 "truth": [(b.frame, b.kind.value) for b in truth.boundaries]}
        for name, method in methods.items():
            started = time.perf_counter()
            found = method(path)
            tallies[name].seconds += time.perf_counter() - started
            tallies[name].frames += truth.frame_count
            match_boundaries(found, truth, tallies[name])
            entry[name] = [(d.frame, d.kind) for d in found]
        per_clip.append(entry)
    table = [tally.row(name) for name, tally in tallies.items()]
    boundaries = sum(len(t.boundaries) for _, t in clips)
    return {"title": f"shots: {len(clips)} clips, {boundaries} boundaries, "
                     f"{sum(t.frame_count for _, t in clips)} frames",
            "table": table, "clips": per_clip}


def eval_fingerprints(count: int) -> dict[str, Any]:
    """Copies of the shot clips matched back to their originals (bench/vision_fingerprint.py)."""
    from vision_fingerprint import eval_fingerprint

    return eval_fingerprint(render_clips(count, RESULTS / "clips"), RESULTS / "copies")


def eval_portraits(count: int) -> dict[str, Any]:
    """Person mattes against exact truth (bench/vision_portrait.py)."""
    from vision_portrait import eval_portrait

    return eval_portrait(count)


def eval_reframes(count: int) -> dict[str, Any]:
    """Faces kept inside 9:16 crops of 16:9 clips (bench/vision_reframe.py)."""
    from vision_reframe import eval_reframe

    return eval_reframe(count)


def eval_blurs(count: int) -> dict[str, Any]:
    """Logos found at their drawn boxes, none in clips without (bench/vision_logos.py)."""
    from vision_logos import eval_logos

    return eval_logos(count)


def eval_subtitle_removal(count: int) -> dict[str, Any]:
    """Burned-in subtitles removed, against the clean renders (bench/vision_subtitles.py)."""
    from vision_subtitles import eval_subtitles

    return eval_subtitles(count)


def eval_keyings(count: int) -> dict[str, Any]:
    """Ours beside FFmpeg chromakey / colorkey + despill (bench/vision_keying.py)."""
    from vision_keying import eval_keying

    return eval_keying(count)


SECTIONS: dict[str, Callable[[int], dict[str, Any]]] = {"shots": eval_shots,
                                                        "keying": eval_keyings,
                                                        "fingerprint": eval_fingerprints,
                                                        "portrait": eval_portraits,
                                                        "reframe": eval_reframes,
                                                        "logos": eval_blurs,
                                                        "subtitles": eval_subtitle_removal}
COLUMNS = ["method", "all_p", "all_r", "all_f1", "cut_p", "cut_r", "cut_f1", "gradual_p",
           "gradual_r", "gradual_f1", "type_acc", "fp_flash", "fp_motion", "fps"]


def markdown(section: dict[str, Any]) -> str:
    columns = [c for c in section.get("columns", COLUMNS)
               if any(c in row for row in section["table"])]
    lines = [f"**{section['title']}**", "", "| " + " | ".join(columns) + " |",
             "|" + "---|" * len(columns)]
    for row in section["table"]:
        cells = []
        for c in columns:
            value = row.get(c)
            cells.append("-" if value is None else f"{value:.0f}" if c.startswith("fps")
                         else f"{value:.3f}" if isinstance(value, float) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=12, help="clips per section")
    parser.add_argument("--section", choices=sorted(SECTIONS), action="append",
                        help="run only these sections (default: all)")
    args = parser.parse_args()
    saved = RESULTS / "eval_vision.json"
    # a run of some sections keeps the others' last results
    results = json.loads(saved.read_text()) if saved.exists() else {}
    for name in args.section or list(SECTIONS):
        results[name] = SECTIONS[name](args.clips)
        print(markdown(results[name]), end="\n\n")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "eval_vision.json").write_text(json.dumps(results, indent=1))
    (RESULTS / "eval_vision.md").write_text("\n\n".join(markdown(r) for r in results.values())
                                            + "\n")
    print(f"wrote {RESULTS / 'eval_vision.json'} and eval_vision.md")


if __name__ == "__main__":
    main()
