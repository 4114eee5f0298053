"""The fingerprint section of bench/eval_vision.py: Fingerprint + MatchFingerprints' code
(the frame_hash graph in onnxruntime on one thread, services.vision.fingerprint) on altered
copies of the evaluation clips with exact alignment truth (mediamesh.synth.copies).

Every copy is matched as the query against every original: the pair with its own original
is a positive (it must match, at the right offset), every other pair a negative. Reported
per kind of copy: true-positive rate at the default min_score and at the score threshold
that lets through 1% of the negatives, offset error, and the speed of fingerprinting.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from mediamesh import media
from mediamesh.models import frame_hash
from mediamesh.synth import copies, videos
from services.vision import fingerprint

RECIPES = (
    copies.CopyRecipe(crf=36),
    copies.CopyRecipe(scale=0.5, crf=28),
    copies.CopyRecipe(trim_start=1.37, keep=12.0),
    copies.CopyRecipe(logo=True, crf=26),
    copies.CopyRecipe(trim_start=2.6, scale=2 / 3, crf=30, logo=True),
)
SAMPLE_FPS = 2.0
COLUMNS = ["copies", "pairs", "tpr_default", "tpr_at_fpr1", "offset_err_s", "fpr_default",
           "negatives", "threshold_fpr1"]


class LocalFingerprinter:
    """The service's pipeline without the server: decode sampled frames at 64x64, the
    frame_hash graph in onnxruntime (1 thread), hash_bits."""

    def __init__(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(frame_hash.build_graph().SerializeToString(),
                                            options, providers=["CPUExecutionProvider"])
        self.seconds = 0.0
        self.video_seconds = 0.0

    def __call__(self, path: Path) -> fingerprint.Fingerprint:
        started = time.perf_counter()
        frames = list(media.iter_frames(path, fps=fingerprint.analysis_fps(SAMPLE_FPS),
                                        size=(frame_hash.SIZE, frame_hash.SIZE)))
        dct, quality = self.session.run(["dct", "quality"],
                                        {"image": np.stack([f.rgb for f in frames])})
        duration = media.probe(path).duration
        samples = fingerprint.pool_samples(np.asarray([f.time for f in frames]), dct,
                                           quality[:, 0], SAMPLE_FPS, duration)
        self.seconds += time.perf_counter() - started
        self.video_seconds += duration
        return samples.fingerprint(SAMPLE_FPS, duration)


def eval_fingerprint(clips: list[tuple[Path, videos.ClipTruth]], folder: Path
                     ) -> dict[str, Any]:
    """TPR at FPR 1% and offset error of copy -> original matching."""
    hasher = LocalFingerprinter()
    originals = [hasher(path) for path, _ in clips]
    folder.mkdir(parents=True, exist_ok=True)
    positives: dict[str, list[tuple[float, float]]] = {r.label: [] for r in RECIPES}
    negatives: list[float] = []
    per_pair = []
    for k, (path, _) in enumerate(clips):
        for recipe in RECIPES:
            target = folder / f"{path.stem}-{recipe.label.replace(', ', '_').replace(' ', '')}.mp4"
            truth = copies.write_copy(path, target, recipe)
            query = hasher(target)
            for j, original in enumerate(originals):
                found = fingerprint.match(query, original,
                                          fingerprint.MatchParams(min_score=0.0))
                score = found.score if found else 0.0
                if j == k:
                    error = abs(found.offset - truth.offset) if found else float("inf")
                    positives[recipe.label].append((score, error))
                    per_pair.append({"copy": target.name, "score": score,
                                     "offset": found.offset if found else None,
                                     "true_offset": truth.offset})
                else:
                    negatives.append(score)
    for j, a in enumerate(originals):  # unrelated originals against each other
        for b in originals[j + 1:]:
            found = fingerprint.match(a, b, fingerprint.MatchParams(min_score=0.0))
            negatives.append(found.score if found else 0.0)
    threshold = float(np.quantile(negatives, 0.99, method="higher")) if negatives else 0.0
    default = fingerprint.MatchParams().min_score
    table = []
    for label, scores in [*positives.items(), ("all", [s for v in positives.values()
                                                       for s in v])]:
        hits = np.asarray([s for s, _ in scores])
        errors = np.asarray([e for s, e in scores if s >= default])
        table.append({"copies": label, "pairs": len(scores),
                      "tpr_default": float((hits >= default).mean()),
                      "tpr_at_fpr1": float((hits > threshold).mean()),
                      "offset_err_s": float(errors.mean()) if len(errors) else None,
                      "fpr_default": float((np.asarray(negatives) >= default).mean()),
                      "negatives": len(negatives), "threshold_fpr1": threshold})
    speed = hasher.video_seconds / hasher.seconds if hasher.seconds else 0.0
    return {"title": f"fingerprint: {len(clips)} originals x {len(RECIPES)} altered copies, "
                     f"{len(negatives)} unrelated pairs; fingerprinting {speed:.0f}x real time "
                     f"(decode + hash at {SAMPLE_FPS:g} samples/s, 1 thread)",
            "table": table, "columns": COLUMNS, "pairs": per_pair,
            "max_negative": float(max(negatives, default=0.0))}
