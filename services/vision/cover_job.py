"""SelectCover as a job: shots (DetectShots' detector, gradual transitions too) -> frames
sampled at SAMPLE_FPS, decoded straight to SAMPLE_WIDTH px wide -> faces on Triton and
image measures in a worker thread, per chunk -> scores (services.vision.cover_scoring)
-> the top candidates, each written as a full-resolution JPEG -> optionally an animated
cover around the best one (mediamesh.animated_preview: the RenderGif renderer,
size cap included) and a summary plan.

Decoding the next chunk, the face model on Triton and the measures of the current chunk
overlap (frame_pipeline.pipelined plus a worker thread): on two cores both stay busy.
Only measures and face boxes are kept per sample, never the frames, so memory does not
grow with the video. Candidate frames are decoded a second time at full size.

Transitions: the shot detector reports how each shot begins, not how long a gradual
transition lasts, so a dissolve counts as DISSOLVE_HALF_SPAN either side of its boundary
(the detector finds 8-32 frames: 0.16-0.64 s a side at 25 fps) and a fade as FADE_SPAN on
its side (it looks 10 frames for one); the penalty then fades over TRANSITION_REACH. The
animated cover keeps clear of the same spans (`clean_span`).
"""
from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.animated_preview import (
    AnimatedFormat,
    PreviewProgress,
    PreviewResult,
    PreviewSpec,
    render_preview,
)
from mediamesh.errors import InvalidArgument, MediaUndecodable
from mediamesh.frame_pipeline import pipelined
from mediamesh.inference import TritonClient
from mediamesh.storage import StoredOutput
from mediamesh.worker_threads import run_in_thread
from services.vision import cover_scoring
from services.vision.cover_scoring import CoverScore, FaceBox, FrameMeasures
from services.vision.faces import FaceDetector
from services.vision.shot_detection import (
    ShotDetector,
    ShotJob,
    ShotOutcome,
    ShotProgress,
    TimedShot,
    shot_index,
)
from services.vision.shots import Transition

DEFAULT_TOP_K, MAX_TOP_K = 3, 20
DEFAULT_ANIMATED_SECONDS, MAX_ANIMATED_SECONDS = 3.0, 10.0
DEFAULT_SUMMARY_SECONDS, MIN_SUMMARY_SECONDS, MAX_SUMMARY_SECONDS = 5.0, 0.5, 120.0
SAMPLE_FPS = 2.0
SAMPLE_WIDTH = 320
FACE_CHUNK = 16  # sampled frames per face_detection request
CANDIDATE_QUALITY = 92  # JPEG
DISSOLVE_HALF_SPAN = 0.5  # seconds either side of a dissolve's boundary (its middle)
FADE_SPAN = 0.6  # seconds of a fade in after / fade out before its boundary
# Shares of the progress bar: shot detection decodes every frame (small), scoring ~2 fps
# (larger, plus faces), writing re-decodes a few frames and renders the animated cover.
SHOTS_SHARE, SCORING_SHARE = 0.45, 0.4

#: Where candidate i's JPEG goes (the servicer decides; the job only writes).
CandidateOutputs = Callable[[int], StoredOutput]


@dataclass(frozen=True)
class CoverJob:
    """A validated request, in domain terms (seconds, bytes)."""

    source: Path
    top_k: int
    animated: AnimatedFormat | None  # None: no animated cover
    animated_duration: float
    max_animated_bytes: int  # 0 = no cap
    summary_duration: float | None  # None: no summary plan

    @classmethod
    def from_request(cls, source: Path, info: media.MediaInfo, *, top_k: int, animated: bool,
                     animated_format: AnimatedFormat, animated_duration: float,
                     max_animated_bytes: int, summary: bool, summary_duration: float
                     ) -> CoverJob:
        """Defaults for zeros; explicit lengths are checked against the video (a default
        one is cut to it). Every error names its request field."""
        check_options(top_k, animated_duration, summary_duration)
        video = info.duration
        if animated_duration and animated_duration > video + 1e-6:
            raise InvalidArgument(f"animated_duration ({animated_duration:g} s) is longer than "
                                  f"the video ({video:.3f} s)", field_name="animated_duration")
        if summary_duration and summary_duration > video + 1e-6:
            raise InvalidArgument(f"summary_duration ({summary_duration:g} s) is longer than "
                                  f"the video ({video:.3f} s)", field_name="summary_duration")
        return cls(source, top_k or DEFAULT_TOP_K, animated_format if animated else None,
                   animated_duration or min(DEFAULT_ANIMATED_SECONDS, video),
                   max_animated_bytes,
                   (summary_duration or min(DEFAULT_SUMMARY_SECONDS, video)) if summary
                   else None)


def check_options(top_k: int, animated_duration: float, summary_duration: float) -> None:
    """The request's numbers alone (0 = default), before any file is opened."""
    if not 0 <= top_k <= MAX_TOP_K:
        raise InvalidArgument(f"top_k must be 1-{MAX_TOP_K} (0 = the default {DEFAULT_TOP_K}),"
                              f" got {top_k}", field_name="top_k")
    if not 0 <= animated_duration <= MAX_ANIMATED_SECONDS:  # NaN fails too
        raise InvalidArgument(f"animated_duration must be in (0, {MAX_ANIMATED_SECONDS:g}] s "
                              f"(0 = the default {DEFAULT_ANIMATED_SECONDS:g} s), got "
                              f"{animated_duration:g}", field_name="animated_duration")
    if summary_duration != 0 and not MIN_SUMMARY_SECONDS <= summary_duration \
            <= MAX_SUMMARY_SECONDS:  # NaN fails too
        raise InvalidArgument(f"summary_duration must be in [{MIN_SUMMARY_SECONDS:g}, "
                              f"{MAX_SUMMARY_SECONDS:g}] s (0 = the default "
                              f"{DEFAULT_SUMMARY_SECONDS:g} s), got {summary_duration:g}",
                              field_name="summary_duration")


@dataclass(frozen=True)
class CoverProgress:
    stage: str  # "shots" | "scoring" | "writing"
    done: int
    total: int
    fraction: float  # of the whole job, 0..1
    message: str = ""


@dataclass(frozen=True)
class Candidate:
    time: float
    image: StoredOutput
    score: CoverScore
    shot: int  # index into CoverOutcome.shots


@dataclass(frozen=True)
class CoverOutcome:
    candidates: list[Candidate]  # best first
    animated: StoredOutput | None
    animated_range: tuple[float, float] | None
    summary: list[tuple[float, float]] | None  # chronological (start, end) seconds
    shots: list[TimedShot]


@dataclass
class _Samples:
    """What scoring keeps of each sampled frame."""

    times: list[float]
    measures: list[FrameMeasures]
    faces: list[list[FaceBox]]


def sample_size(width: int, height: int) -> tuple[int, int]:
    """SAMPLE_WIDTH wide, the aspect kept, an even height."""
    return SAMPLE_WIDTH, max(2, round(SAMPLE_WIDTH * height / max(1, width) / 2) * 2)


def transitions(shots: Sequence[TimedShot], fps: float) -> list[tuple[float, float]]:
    """(start, end) seconds of every transition, for cover_scoring.transition_penalty: a cut
    is the instant between its two frames; gradual ones are widened (see the module doc)."""
    spans = []
    for placed in shots:
        kind = placed.shot.transition_in
        at = max(0.0, placed.start - 0.5 / fps)  # between the old shot's last frame and ours
        if kind is Transition.CUT:
            spans.append((at, at))
        elif kind is Transition.DISSOLVE:
            spans.append((max(0.0, at - DISSOLVE_HALF_SPAN), at + DISSOLVE_HALF_SPAN))
        elif kind is Transition.FADE_IN:
            spans.append((at, at + FADE_SPAN))
        elif kind is Transition.FADE_OUT:
            spans.append((max(0.0, at - FADE_SPAN), at))
    return spans


def clean_span(shots: Sequence[TimedShot], index: int, length: float,
               info: media.MediaInfo) -> tuple[float, float]:
    """Shot `index`'s span without the gradual transitions at its ends (as `transitions`
    widens them), for an animated cover of `length` s; the whole shot if that leaves less."""
    if not shots:
        return 0.0, info.duration
    shot = shots[index]
    start, end = shot.start, shot.end
    kind = shot.shot.transition_in
    start += {Transition.DISSOLVE: DISSOLVE_HALF_SPAN, Transition.FADE_IN: FADE_SPAN}.get(kind, 0)
    if index + 1 < len(shots):
        after = shots[index + 1].shot.transition_in
        end -= {Transition.DISSOLVE: DISSOLVE_HALF_SPAN, Transition.FADE_OUT: FADE_SPAN
                }.get(after, 0.0)
    return (start, end) if end - start >= length else (shot.start, shot.end)


def highlight_shots(shots: Sequence[TimedShot], shot_of: Sequence[int],
                    totals: Sequence[float], info: media.MediaInfo) -> list[tuple[float, float]]:
    """(start, end) of the shots a summary may use: those with a sample scoring above 0, so
    a black or flat slate is never a highlight (all of them when every sample is 0)."""
    spans = [(s.start, s.end) for s in shots] or [(0.0, info.duration)]
    live = {i for i, total in zip(shot_of, totals, strict=True) if total > 0}
    return [span for i, span in enumerate(spans) if i in live] or spans


class CoverSelector:
    """Runs one CoverJob against Triton; yields CoverProgress then one CoverOutcome."""

    def __init__(self, triton: TritonClient) -> None:
        self.shot_detector = ShotDetector(triton)
        self.face_detector = FaceDetector(triton)

    async def run(self, job: CoverJob, info: media.MediaInfo, candidate_outputs: CandidateOutputs,
                  animated_output: StoredOutput | None
                  ) -> AsyncIterator[CoverProgress | CoverOutcome]:
        fps = info.fps or 25.0
        shots: list[TimedShot] = []
        async for item in self.shot_detector.run(ShotJob.whole(job.source), info, None):
            if isinstance(item, ShotProgress):
                yield CoverProgress("shots", item.done, item.total, SHOTS_SHARE * item.fraction)
            elif isinstance(item, ShotOutcome):
                shots = item.shots
        samples = _Samples([], [], [])
        async for item in self._sample(job.source, info, samples):
            yield item
        if not samples.times:
            raise InvalidArgument("no video frames to choose a cover from", field_name="video")
        spans = transitions(shots, fps)
        starts = [s.start for s in shots]
        scores = [cover_scoring.score(m, f, cover_scoring.transition_penalty(t, spans, fps))
                  for t, m, f in zip(samples.times, samples.measures, samples.faces, strict=True)]
        shot_of = [shot_index(starts, t) for t in samples.times]
        picked = cover_scoring.pick_candidates(samples.times, scores, shot_of, job.top_k)
        written: list[StoredOutput] = []
        try:
            candidates: list[Candidate] = []
            steps = len(picked) + (1 if job.animated else 0)
            for i, index in enumerate(picked):
                output = candidate_outputs(i)
                frame = await run_in_thread(_full_frame, job.source, samples.times[index],
                                            fps)
                written.append(output)
                await run_in_thread(media.write_image, output.path, frame,
                                    CANDIDATE_QUALITY)
                candidates.append(Candidate(samples.times[index], output, scores[index],
                                            shot_of[index]))
                yield _writing(i + 1, steps)
            window = None
            if job.animated and animated_output is not None:
                best = candidates[0]
                window = cover_scoring.animated_window(
                    best.time, clean_span(shots, best.shot, job.animated_duration, info),
                    job.animated_duration, info.duration)
                written.append(animated_output)
                async for step in self._animate(job, info, window, animated_output):
                    yield _writing(len(picked), steps, step)
                yield _writing(steps, steps)
            plan = None
            if job.summary_duration is not None:
                totals = [s.total for s in scores]
                plan = await run_in_thread(
                    cover_scoring.summary_plan, highlight_shots(shots, shot_of, totals, info),
                    samples.times, totals, job.summary_duration, frame_rate=fps)
        except BaseException:
            for output in written:  # never leave half a set behind
                output.path.unlink(missing_ok=True)
            raise
        yield CoverOutcome(candidates, animated_output if window else None, window, plan, shots)

    async def _sample(self, source: Path, info: media.MediaInfo, samples: _Samples
                      ) -> AsyncIterator[CoverProgress]:
        """Score every sampled frame's picture and faces, appending to `samples`."""
        expected = max(1, math.ceil(info.duration * SAMPLE_FPS))
        size = sample_size(int(info.width or SAMPLE_WIDTH), int(info.height or SAMPLE_WIDTH))
        rate = SAMPLE_FPS if (info.fps or math.inf) > SAMPLE_FPS else None
        frames = media.iter_frames(source, fps=rate, size=size)
        yield CoverProgress("scoring", 0, expected, SHOTS_SHARE)
        async for chunk, (faces, measures) in pipelined(frames, FACE_CHUNK, self._examine):
            samples.times += [f.time for f in chunk]
            samples.faces += faces
            samples.measures += measures
            done = len(samples.times)
            total = max(expected, done)
            yield CoverProgress("scoring", done, total,
                                SHOTS_SHARE + SCORING_SHARE * done / total)

    async def _examine(self, chunk: list[media.VideoFrame]
                       ) -> tuple[list[list[FaceBox]], list[FrameMeasures]]:
        """Faces (Triton) and measures (a worker thread) of a chunk, at the same time."""
        faces, measures = await asyncio.gather(
            self.face_detector.detect(np.stack([f.rgb for f in chunk])),
            run_in_thread(lambda: [cover_scoring.frame_measures(f.rgb) for f in chunk]))
        return [[FaceBox(*face.box, face.score) for face in found] for found in faces], measures

    @staticmethod
    async def _animate(job: CoverJob, info: media.MediaInfo, window: tuple[float, float],
                       output: StoredOutput) -> AsyncIterator[float]:
        """Render the animated cover (RenderGif's renderer); yields the share done."""
        assert job.animated is not None
        spec = PreviewSpec.from_request(info, window[0], window[1], 0, 0.0, job.animated,
                                        job.max_animated_bytes)
        async for item in render_preview(job.source, output.path, info, spec,
                                         budget_field="max_animated_bytes",
                                         shorten="animated_duration"):
            if isinstance(item, PreviewProgress):
                yield item.attempt / max(1, item.attempts)
            elif isinstance(item, PreviewResult):
                return


def _writing(done: int, total: int, partial: float = 0.0) -> CoverProgress:
    share = 1.0 - SHOTS_SHARE - SCORING_SHARE
    return CoverProgress("writing", done, total,
                         1.0 - share + share * min(1.0, (done + partial) / max(1, total)))


def _full_frame(source: Path, when: float, fps: float) -> np.ndarray:
    """The frame shown at `when` (a sampled frame's own time), at full size."""
    try:
        first = list(itertools.islice(media.iter_frames(source, start=when,
                                                        end=when + 1.0 / fps), 1))
        return first[0].rgb if first else media.read_frame_at(source, when).rgb
    except media.MediaError as exc:
        raise MediaUndecodable(f"video cannot be decoded at {when:.3f} s: {exc}",
                               field_name="video") from exc
