"""Evaluate lecture chaptering (VisionService.SplitLecture's job) on rendered lectures with
exact truth: a table on stdout, everything in bench/results/eval_lecture.json (+ .md).

Decks (mediamesh.synth.lectures, seeds from 5000, never used by the tests or for tuning):
English and Chinese titles, with and without the presenter's picture-in-picture and the
cursor, template decks (one header bar, only titles and bullets change), slide builds (a
bullet appearing: truth says no change), clips playing inside every third slide,
cross-fades of 0.5-0.8 s (truth: the fade's first frame), 960x540 and 1280x720 at 10-25
fps, about one slide in four shown only 2.5-4 s. The job is the service's own
(services.vision.lecture_job.LectureSplitter: detection, key frames, OCR, the chapter
files and the stream-copy mux) with both OCR models in onnxruntime on one thread through
bench/local_models.py (the work Triton does for the service).

A detected change matches the nearest true change within 1 s (one to one); precision and
recall count matches; the error is |detected - true| seconds over matches; builds taken
for changes count as false positives. Title CER (jiwer) compares each chapter whose start
matched with its slide's title, per language. Speed is video seconds per wall second, the
whole job.

    python bench/eval_lecture.py [--decks 6]

Needs the bench extra (jiwer) and a CJK font (`make eval-lecture` installs
fonts-wqy-zenhei); without one the Chinese decks are rendered with English titles.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jiwer
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from local_models import LocalModels

from mediamesh import media
from mediamesh.ocr_reader import TextReader
from mediamesh.storage import StoredOutput
from mediamesh.synth import lectures
from services.vision.lecture_job import (
    LectureJob,
    LectureOutcome,
    LectureOutputs,
    LectureSplitter,
    slide_params,
)

RESULTS = Path(__file__).parent / "results"
SEED = 5000
TOLERANCE_S = 1.0
COLUMNS = ["deck", "lang", "pip", "cursor", "template", "clips", "fade s", "size", "fps",
           "changes",
           "precision", "recall", "mean error s", "builds kept", "title CER", "speed x"]


def deck_specs(decks: int) -> list[lectures.LectureSpec]:
    """`decks` lectures cycling through the conditions (language, presenter, cursor,
    template, size, frame rate)."""
    Spec = lectures.LectureSpec
    shapes = [Spec(language="en", presenter=True, cursor=True, fps=15.0, clips=True),
              Spec(language="zh", presenter=True, cursor=True, width=1280, height=720,
                   fps=12.0, dissolve=0.5),
              Spec(language="en", presenter=True, cursor=True, template=True, fps=10.0),
              Spec(language="zh", presenter=False, cursor=True, template=True, fps=25.0,
                   clips=True),
              Spec(language="en", presenter=False, cursor=False, width=1280, height=720,
                   fps=15.0, dissolve=0.8),
              Spec(language="zh", presenter=True, cursor=True, fps=20.0)]
    return [dataclasses.replace(shapes[k % len(shapes)], seed=SEED + k,
                                durations=lectures.random_durations(
                                    np.random.default_rng(SEED + k), 8))
            for k in range(decks)]


def match_changes(found: list[float], truth: list[float], tolerance: float = TOLERANCE_S
                  ) -> list[tuple[float, float]]:
    """(found, true) pairs within `tolerance`, one to one, closest pairs first."""
    pairs = sorted(((abs(f - t), i, j) for i, f in enumerate(found)
                    for j, t in enumerate(truth) if abs(f - t) <= tolerance))
    used_f: set[int] = set()
    used_t: set[int] = set()
    matched = []
    for _, i, j in pairs:
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
            matched.append((found[i], truth[j]))
    return matched


async def chapter(path: Path, workdir: Path, reader: TextReader) -> tuple[LectureOutcome,
                                                                            float]:
    """The job on one lecture; its outcome and wall seconds."""
    info = media.probe(path)
    outputs = LectureOutputs(*[StoredOutput(workdir / f"{path.stem}{suffix}", "")
                               for suffix in (".chapters.mp4", ".chapters.json",
                                              ".chapters.vtt", ".ffmetadata.txt")])
    start = time.perf_counter()
    outcome = None
    async for item in LectureSplitter(reader).run(LectureJob(path, slide_params(0, 0)), info,
                                                  outputs):
        if isinstance(item, LectureOutcome):
            outcome = item
    assert outcome is not None
    return outcome, time.perf_counter() - start


def score_deck(outcome: LectureOutcome, truth: lectures.LectureTruth) -> dict[str, Any]:
    """Change precision / recall / error, builds mistaken for changes, title pairs."""
    found = [c.start for c in outcome.chapters[1:]]
    matched = match_changes(found, list(truth.changes))
    builds_taken = len(match_changes(found, list(truth.builds), 0.5))
    starts = {round(t, 6): k for k, t in enumerate(truth.starts)}
    titles = [(truth.titles[0], outcome.chapters[0].title)]
    for f, t in matched:
        k = starts[round(t, 6)]
        titles.append((truth.titles[k], next(c.title for c in outcome.chapters
                                             if c.start == f)))
    return {"found": len(found), "true": len(truth.changes), "matched": len(matched),
            "errors": [abs(f - t) for f, t in matched], "builds": len(truth.builds),
            "builds_taken": builds_taken,
            "titles": titles}


def cer(pairs: list[tuple[str, str]]) -> float:
    if not pairs:
        return float("nan")
    return float(jiwer.cer([t for t, _ in pairs], [r or " " for _, r in pairs]))


def evaluate_lecture(decks: int = 6, workdir: Path | None = None) -> dict[str, Any]:
    """Render `decks` lectures, chapter them in-process, score them. Returns a section
    {"title", "columns", "table" (a row per deck and one for all), "summary", "titles"},
    the shape bench/eval_text.py and bench/eval_compose.py print and save."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = workdir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        return asyncio.run(_evaluate(deck_specs(decks), folder))


async def _evaluate(specs: list[lectures.LectureSpec], folder: Path) -> dict[str, Any]:
    reader = TextReader(LocalModels())  # type: ignore[arg-type]
    rows, scores, wall, video_s = [], [], 0.0, 0.0
    by_language: dict[str, list[tuple[str, str]]] = {}
    for k, spec in enumerate(specs):
        path = folder / f"lecture{k}.mp4"
        truth = lectures.render_lecture(path, spec)
        outcome, seconds = await chapter(path, folder, reader)
        score = score_deck(outcome, truth)
        scores.append(score)
        wall += seconds
        video_s += truth.duration
        by_language.setdefault(truth.language, []).extend(score["titles"])
        rows.append(_row(f"#{k}", truth.language, spec, score, truth.duration / seconds))
    total = {key: sum(s[key] for s in scores) for key in ("found", "true", "matched",
                                                          "builds", "builds_taken")}
    errors = [e for s in scores for e in s["errors"]]
    all_row = {"deck": "all", "lang": "+".join(sorted(by_language)), "pip": "", "cursor": "",
               "template": "", "clips": "", "fade s": "", "size": "", "fps": "",
               "changes": total["true"],
               "precision": total["matched"] / max(1, total["found"]),
               "recall": total["matched"] / max(1, total["true"]),
               "mean error s": float(np.mean(errors)) if errors else float("nan"),
               "builds kept": f"{total['builds'] - total['builds_taken']}/{total['builds']}",
               "title CER": cer([p for pairs in by_language.values() for p in pairs]),
               "speed x": video_s / wall}
    rows.append(all_row)
    summary = {"changes": total["true"], "precision": all_row["precision"],
               "recall": all_row["recall"], "mean_error_s": all_row["mean error s"],
               "title_cer": {lang: cer(pairs) for lang, pairs in by_language.items()},
               "speed_x": all_row["speed x"], "video_seconds": video_s, "wall_seconds": wall,
               "tolerance_s": TOLERANCE_S}
    misread = [{"truth": t, "read": r} for pairs in by_language.values() for t, r in pairs
               if t != r]
    return {"title": "Lecture chaptering (SplitLecture's job; change within 1 s)",
            "columns": COLUMNS, "table": rows, "summary": summary, "misread": misread}


def _row(name: str, language: str, spec: lectures.LectureSpec, score: dict[str, Any],
         speed: float) -> dict[str, Any]:
    return {"deck": name, "lang": language, "pip": "yes" if spec.presenter else "no",
            "cursor": "yes" if spec.cursor else "no",
            "template": "yes" if spec.template else "no", "clips": "yes" if spec.clips else "no",
            "fade s": f"{spec.dissolve:g}", "size": f"{spec.width}x{spec.height}",
            "fps": f"{spec.fps:g}", "changes": score["true"],
            "precision": score["matched"] / max(1, score["found"]),
            "recall": score["matched"] / max(1, score["true"]),
            "mean error s": float(np.mean(score["errors"])) if score["errors"] else float("nan"),
            "builds kept": f"{score['builds'] - score['builds_taken']}/{score['builds']}",
            "title CER": cer(score["titles"]), "speed x": speed}


def markdown(section: dict[str, Any]) -> str:
    columns = section["columns"]
    lines = [f"**{section['title']}**", "", "| " + " | ".join(columns) + " |",
             "|" + "---|" * len(columns)]
    for row in section["table"]:
        lines.append("| " + " | ".join(f"{row[c]:.3f}" if isinstance(row[c], float)
                                       else str(row[c]) for c in columns) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decks", type=int, default=6)
    args = parser.parse_args()
    section = evaluate_lecture(args.decks)
    print(markdown(section), end="\n\n")
    summary = section["summary"]
    print("title CER: " + ", ".join(f"{lang} {value:.4f}" for lang, value in
                                     sorted(summary["title_cer"].items())))
    for error in section["misread"][:10]:
        print(f"  {error['truth']!r} -> {error['read']!r}")
    RESULTS.mkdir(exist_ok=True)
    saved = RESULTS / "eval_lecture.json"
    saved.write_text(json.dumps(section, indent=1, ensure_ascii=False))
    (RESULTS / "eval_lecture.md").write_text(markdown(section) + "\n")
    print(f"wrote {saved} and eval_lecture.md")


if __name__ == "__main__":
    main()
