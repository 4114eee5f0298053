"""Reframe as a job, AutoFlip's way: shots (shot_features on Triton) -> signals on frames
sampled at 5 fps (faces: face_detection, people: selfie_segmentation, both on Triton;
saliency: spectral residual in numpy) -> a camera mode and a smoothed crop path per shot
(services/vision/reframe_path.py) -> every frame cropped along the path, scaled to the
output size, blur-padded where the required content does not fit -> encode, audio kept.

Signals by default: faces are required (a crop that cuts a face off is the failure
viewers see), people pull the crop towards them, and saliency (Hou & Zhang's spectral
residual, a cheap stand-in until a learned saliency model ships) steers only samples that
show neither. A request's own `signals` list is used as given, every signal combined.
"""
from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from mediamesh import media
from mediamesh.errors import InvalidArgument
from mediamesh.frame_pipeline import pipelined
from mediamesh.inference import TritonClient
from mediamesh.models.face_detection import Face
from mediamesh.storage import StoredOutput
from mediamesh.worker_threads import run_in_thread
from services.vision.faces import FaceDetector
from services.vision.matting import gaussian_blur
from services.vision.portrait import PortraitSegmenter
from services.vision.reframe_path import (
    CameraMode,
    Detection,
    PathParams,
    Sample,
    ShotPlan,
    crop_at,
    crop_size,
    plan_video,
)
from services.vision.regions import NormBox
from services.vision.shot_detection import ShotDetector, ShotJob, ShotOutcome, shot_index
from services.vision.video_output import OutputFormat, Rewrite, Span, no_inference, rewrite_video

SAMPLE_FPS = 5.0
ANALYSIS_WIDTH = 256  # frames are sampled at this width (the person model's input width)
SAMPLE_CHUNK = 16  # sampled frames per pair of Triton requests
RENDER_CHUNK = 8
MAX_OUTPUT_SIDE = 4096
MAX_PAN_SPEED = 5.0  # fractions of the frame per second: beyond this it is a cut anyway
DEFAULT_ASPECT = (9, 16)
PERSON_THRESHOLD = 0.5
MIN_PERSON_AREA = 0.02  # of the frame: smaller blobs are mask noise
PAD_BLUR_FRACTION = 0.05  # blur-pad background sigma, of the output height


class Signal(StrEnum):
    FACE = "face"
    PERSON = "person"
    SALIENCY = "saliency"


@dataclass(frozen=True)
class SignalWeight:
    kind: Signal
    weight: float
    required: bool


DEFAULT_SIGNALS = (SignalWeight(Signal.FACE, 1.0, True), SignalWeight(Signal.PERSON, 0.5, False),
                   SignalWeight(Signal.SALIENCY, 0.2, False))


@dataclass(frozen=True)
class ReframeOptions:
    """The request's geometry and camera settings, checked."""

    aspect: tuple[int, int]
    size: tuple[int, int] | None  # output pixels; None = the crop's own size
    forced_mode: CameraMode | None
    allow_pad: bool
    max_pan_speed: float | None
    signals: tuple[SignalWeight, ...]
    saliency_fallback: bool  # default signals: saliency only where no face or person is seen

    @classmethod
    def checked(cls, width: int, height: int, aspect: tuple[int, int], forced: CameraMode | None,
                allow_pad: bool, max_pan_speed: float,
                signals: Sequence[SignalWeight]) -> ReframeOptions:
        """INVALID_ARGUMENT, naming the field, for one output side without the other, sizes
        over MAX_OUTPUT_SIDE, an aspect with a zero side, a bad speed or signal list."""
        if bool(width) != bool(height):
            missing = "target_height" if width else "target_width"
            raise InvalidArgument(f"target_width and target_height go together: set {missing} "
                                  "too, or neither (then aspect_ratio decides)",
                                  field_name=missing)
        if max(width, height) > MAX_OUTPUT_SIDE:
            raise InvalidArgument(f"the output is at most {MAX_OUTPUT_SIDE} px a side, asked "
                                  f"{width}x{height}", field_name="target_width")
        if width:
            aspect = (width, height)
        elif aspect == (0, 0):
            aspect = DEFAULT_ASPECT
        elif min(aspect) == 0:
            raise InvalidArgument(f"aspect_ratio {aspect[0]}:{aspect[1]} has a zero side: give "
                                  "both parts, e.g. 9:16", field_name="aspect_ratio")
        elif max(aspect) / min(aspect) > 20:
            raise InvalidArgument(f"aspect_ratio {aspect[0]}:{aspect[1]} is beyond 20:1",
                                  field_name="aspect_ratio")
        if not (max_pan_speed == 0 or 0 < max_pan_speed <= MAX_PAN_SPEED):  # NaN fails too
            raise InvalidArgument(f"max_pan_speed must be in (0, {MAX_PAN_SPEED:g}] fractions of "
                                  f"the frame per second (0 = the default "
                                  f"{PathParams().max_pan_speed:g}), got {max_pan_speed:g}",
                                  field_name="max_pan_speed")
        kinds = [s.kind for s in signals]
        if len(set(kinds)) != len(kinds):
            raise InvalidArgument("signals lists a kind twice", field_name="signals")
        for i, s in enumerate(signals):
            if not (math.isfinite(s.weight) and s.weight >= 0):
                raise InvalidArgument(f"signals[{i}].weight must be >= 0, got {s.weight:g}",
                                      field_name=f"signals[{i}].weight")
        return cls(aspect, (width, height) if width else None, forced, allow_pad,
                   max_pan_speed or None, tuple(signals) or DEFAULT_SIGNALS, not signals)


@dataclass(frozen=True)
class ReframeJob:
    source: Path
    options: ReframeOptions


@dataclass(frozen=True)
class ReframeProgress:
    stage: str  # "shots" | "signals" | "rendering"
    done: int
    total: int


@dataclass(frozen=True)
class ReframeOutcome:
    output: StoredOutput
    plans: list[ShotPlan]
    frames: int
    size: tuple[int, int]


# signals ------------------------------------------------------------------------------


def person_boxes(probability: np.ndarray) -> list[tuple[NormBox, float]]:
    """Boxes (and areas, fractions of the frame) of the people in a probability map."""
    h, w = probability.shape
    labels, count = ndimage.label(probability >= PERSON_THRESHOLD)
    out = []
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        area = float((labels[sl] == index).sum()) / (h * w)
        if area >= MIN_PERSON_AREA:
            rows, cols = sl
            out.append((NormBox(cols.start / w, rows.start / h, (cols.stop - cols.start) / w,
                                (rows.stop - rows.start) / h), area))
    return out


def saliency_box(rgb: np.ndarray) -> NormBox | None:
    """The most salient blob by spectral residual (Hou & Zhang, CVPR 2007) on a 64-wide
    luma: what stands out from the picture's own average spectrum. None on flat frames."""
    h, w = rgb.shape[:2]
    small = np.asarray(Image.fromarray(rgb).convert("L").resize((64, max(8, round(64 * h / w))),
                                                                 Image.BILINEAR), np.float32)
    spectrum = np.fft.fft2(small)
    log_amplitude = np.log(np.abs(spectrum) + 1e-6)
    residual = log_amplitude - ndimage.uniform_filter(log_amplitude, 3, mode="nearest")
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    saliency = ndimage.gaussian_filter(saliency, 2.5)
    if saliency.max() <= 0 or small.std() < 2:
        return None
    labels, _ = ndimage.label(saliency >= 3 * saliency.mean())
    if labels.max() == 0:
        return None
    sums = ndimage.sum(saliency, labels, range(1, labels.max() + 1))
    rows, cols = ndimage.find_objects(labels)[int(np.argmax(sums))]
    sh, sw = saliency.shape
    return NormBox(cols.start / sw, rows.start / sh, (cols.stop - cols.start) / sw,
                   (rows.stop - rows.start) / sh)


def _face_box(face: Face) -> NormBox:
    x0, y0, x1, y1 = face.box
    return NormBox(x0, y0, x1 - x0, y1 - y0)


def sample_of(time: float, rgb: np.ndarray, faces: list[Face], probability: np.ndarray,
              options: ReframeOptions) -> Sample:
    """One sample's detections, weighted as the options say."""
    detections: list[Detection] = []
    by_kind = {s.kind: s for s in options.signals}
    if (face := by_kind.get(Signal.FACE)) is not None:
        detections += [Detection(_face_box(f), face.weight * f.score, face.required)
                       for f in faces]
    if (person := by_kind.get(Signal.PERSON)) is not None:
        detections += [Detection(box, person.weight, person.required)
                       for box, _ in person_boxes(probability)]
    salient = by_kind.get(Signal.SALIENCY)
    if salient is not None and not (options.saliency_fallback and detections):
        box = saliency_box(rgb)
        if box is not None:
            detections.append(Detection(box, salient.weight, salient.required))
    return Sample(time, tuple(detections))


# rendering ----------------------------------------------------------------------------


def _resized(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[1] == width and image.shape[0] == height:
        return np.ascontiguousarray(image)
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize(
        (width, height), Image.BILINEAR, reducing_gap=2.0))


def _pixels(box: NormBox, width: int, height: int) -> tuple[int, int, int, int]:
    left = min(max(0, round(box.x * width)), width - 1)
    top = min(max(0, round(box.y * height)), height - 1)
    right = max(left + 1, min(width, round((box.x + box.width) * width)))
    bottom = max(top + 1, min(height, round((box.y + box.height) * height)))
    return left, top, right, bottom


def render_crop(rgb: np.ndarray, crop: NormBox, out_w: int, out_h: int,
                allow_pad: bool) -> np.ndarray:
    """The output picture for one frame. A crop box of the output's aspect is cut and
    scaled; a wider box (a padded keyframe holding content that does not fit) is either
    letterboxed over a blurred fill of its centre (allow_pad) or cut to the output's
    aspect around its centre."""
    h, w = rgb.shape[:2]
    left, top, right, bottom = _pixels(crop, w, h)
    box_w, box_h = right - left, bottom - top
    want = out_w / out_h
    if abs(box_w / box_h - want) <= 0.02 * want:
        return _resized(rgb[top:bottom, left:right], out_w, out_h)
    # the output's aspect around the box's centre, inside the frame
    fill_h = min(h, box_h) if box_w / box_h > want else min(h, round(box_w / want))
    fill_w = min(w, round(fill_h * want))
    cx, cy = (left + right) / 2, (top + bottom) / 2
    fl = int(min(max(0, round(cx - fill_w / 2)), w - fill_w))
    ft = int(min(max(0, round(cy - fill_h / 2)), h - fill_h))
    fill = _resized(rgb[ft:ft + fill_h, fl:fl + fill_w], out_w, out_h)
    if not allow_pad:
        return fill
    sigma = PAD_BLUR_FRACTION * out_h
    out = np.clip(gaussian_blur(fill, sigma) * 0.7 + 0.5, 0, 255).astype(np.uint8)
    scale = min(out_w / box_w, out_h / box_h)
    cw, ch = max(1, round(box_w * scale)), max(1, round(box_h * scale))
    content = _resized(rgb[top:bottom, left:right], cw, ch)
    ox, oy = (out_w - cw) // 2, (out_h - ch) // 2
    out[oy:oy + ch, ox:ox + cw] = content
    return out


def _even(value: int) -> int:
    return max(2, value - value % 2)


class Reframer:
    """Runs one ReframeJob against Triton; yields ReframeProgress then one ReframeOutcome."""

    def __init__(self, triton: TritonClient) -> None:
        self.shots = ShotDetector(triton)
        self.faces = FaceDetector(triton)
        self.people = PortraitSegmenter(triton)

    async def _signals(self, chunk: list[media.VideoFrame]
                       ) -> tuple[list[list[Face]], np.ndarray]:
        frames = np.stack([f.rgb for f in chunk])
        faces, people = await asyncio.gather(self.faces.detect(frames),
                                             self.people.probabilities(frames))
        return faces, people

    async def run(self, job: ReframeJob, info: media.MediaInfo, output: StoredOutput
                  ) -> AsyncIterator[ReframeProgress | ReframeOutcome]:
        src_w, src_h = int(info.width or 0), int(info.height or 0)
        options = job.options
        crop_w, crop_h = crop_size(src_w, src_h, *options.aspect)
        out_w, out_h = (_even(options.size[0]), _even(options.size[1])) if options.size \
            else (crop_w, crop_h)
        bounds: list[tuple[float, float]] = []
        async for item in self.shots.run(ShotJob.whole(job.source), info, None):
            if isinstance(item, ShotOutcome):
                bounds = [(s.start, s.end) for s in item.shots]
            else:
                yield ReframeProgress("shots", item.done, item.total)
        samples: list[Sample] = []
        expected = max(1, round(info.duration * SAMPLE_FPS))
        size = (ANALYSIS_WIDTH, max(2, round(ANALYSIS_WIDTH * src_h / src_w / 2) * 2))
        frames = media.iter_frames(job.source, fps=SAMPLE_FPS, size=size)
        async for chunk, (faces, people) in pipelined(frames, SAMPLE_CHUNK, self._signals):
            samples += await run_in_thread(
                lambda: [sample_of(f.time, f.rgb, fs, p, options)
                         for f, fs, p in zip(chunk, faces, people, strict=True)])
            yield ReframeProgress("signals", len(samples), max(expected, len(samples)))
        params = PathParams(**({"max_pan_speed": options.max_pan_speed}
                               if options.max_pan_speed else {}),
                            forced_mode=options.forced_mode)
        shots = [(start, end, [s for s in samples if start <= s.time < end])
                 for start, end in bounds or [(0.0, info.duration)]]
        plans = await run_in_thread(plan_video, shots, src_w, src_h, crop_w, crop_h, params)
        starts = [p.start for p in plans]

        def render(chunk: list[media.VideoFrame], _: None) -> list[np.ndarray]:
            return [render_crop(f.rgb, crop_at(plans[shot_index(starts, f.time)], f.time),
                                out_w, out_h, options.allow_pad) for f in chunk]

        done = 0
        async for done, total in rewrite_video(
                Span.of(job.source, info, 0.0, None), output.path,
                OutputFormat(out_w, out_h, info.has_audio),
                Rewrite(no_inference, render, RENDER_CHUNK), "video"):
            yield ReframeProgress("rendering", done, total)
        yield ReframeOutcome(output, plans, done, (out_w, out_h))
