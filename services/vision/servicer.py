"""VisionService servicer: validate, run the job, pack events. RPCs not yet built answer
UNIMPLEMENTED (the generated base class, mapped by the shared interceptor)."""
from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

import grpc
import numpy as np

from mediamesh import media
from mediamesh.animated_preview import AnimatedFormat
from mediamesh.errors import InvalidArgument, MeshError, StatusCode
from mediamesh.grpc_server import ServiceBinding
from mediamesh.media_inputs import check_video, is_still_image, probe_picture
from mediamesh.ocr_reader import TextReader
from mediamesh.protocol import media_ref, mime_for, progress, time_range
from mediamesh.service_runtime import ServiceContext
from mediamesh.storage import MediaStore, StoredOutput
from mediamesh.v1 import common_pb2, vision_pb2, vision_pb2_grpc
from mediamesh.worker_threads import run_in_thread
from services.vision import (
    lecture_job,
    matting,
    portrait,
    reframe_job,
    region_blur,
    subtitle_job,
)
from services.vision.backgrounds import check_background_video, read_background_image
from services.vision.cover_job import CoverJob, CoverOutcome, CoverSelector, check_options
from services.vision.fingerprint import (
    ALGORITHM,
    VERSION,
    Alignment,
    Fingerprint,
    MatchParams,
    Samples,
    match,
)
from services.vision.fingerprint_job import (
    Fingerprinter,
    FingerprintJob,
    FingerprintProgress,
    sample_rate,
)
from services.vision.green_screen import (
    GreenScreenKeyer,
    KeyJob,
    KeyOutcome,
    OutputMode,
    output_extension,
)
from services.vision.keying import KeyChannel, KeyParams
from services.vision.reframe_path import CameraMode
from services.vision.regions import NormBox, Region, Style, check_box
from services.vision.shot_detection import (
    ShotDetector,
    ShotJob,
    ShotOutcome,
    TimedShot,
)
from services.vision.shots import ShotParams, Transition
from services.vision.subtitle_removal import Method as InpaintMethod

MAX_MATCH_PAIRS = 2_000_000_000  # query x candidate samples: ~40 hour-long pairs, seconds

_KEY_COLORS = {
    vision_pb2.KEY_COLOR_GREEN: KeyChannel.GREEN,
    vision_pb2.KEY_COLOR_BLUE: KeyChannel.BLUE,
}
_KEY_COLOR_OUT = {KeyChannel.GREEN: vision_pb2.KEY_COLOR_GREEN,
                  KeyChannel.BLUE: vision_pb2.KEY_COLOR_BLUE}
_OUTPUT_MODES = {
    vision_pb2.KEY_OUTPUT_MODE_UNSPECIFIED: OutputMode.COMPOSITE,
    vision_pb2.KEY_OUTPUT_MODE_COMPOSITE: OutputMode.COMPOSITE,
    vision_pb2.KEY_OUTPUT_MODE_ALPHA_ONLY: OutputMode.ALPHA_ONLY,
    vision_pb2.KEY_OUTPUT_MODE_FOREGROUND_ALPHA: OutputMode.FOREGROUND_ALPHA,
}
_CAMERA_MODES = {
    vision_pb2.CAMERA_MODE_UNSPECIFIED: None,
    vision_pb2.CAMERA_MODE_STATIONARY: CameraMode.STATIONARY,
    vision_pb2.CAMERA_MODE_PANNING: CameraMode.PANNING,
    vision_pb2.CAMERA_MODE_TRACKING: CameraMode.TRACKING,
}
_CAMERA_MODE_OUT = {mode: value for value, mode in _CAMERA_MODES.items() if mode}
_SIGNALS = {
    vision_pb2.SIGNAL_KIND_FACE: reframe_job.Signal.FACE,
    vision_pb2.SIGNAL_KIND_PERSON: reframe_job.Signal.PERSON,
    vision_pb2.SIGNAL_KIND_SALIENCY: reframe_job.Signal.SALIENCY,
}
_ANIMATED_FORMATS = {
    vision_pb2.ANIMATED_FORMAT_UNSPECIFIED: AnimatedFormat.GIF,
    vision_pb2.ANIMATED_FORMAT_GIF: AnimatedFormat.GIF,
    vision_pb2.ANIMATED_FORMAT_WEBP: AnimatedFormat.WEBP,
}
_INPAINT_METHODS = {
    vision_pb2.INPAINT_METHOD_UNSPECIFIED: InpaintMethod.TELEA,
    vision_pb2.INPAINT_METHOD_TELEA: InpaintMethod.TELEA,
    vision_pb2.INPAINT_METHOD_NAVIER_STOKES: InpaintMethod.NAVIER_STOKES,
    vision_pb2.INPAINT_METHOD_BLUR: InpaintMethod.BLUR,
}
_BLUR_STYLES = {
    vision_pb2.BLUR_STYLE_UNSPECIFIED: Style.GAUSSIAN,
    vision_pb2.BLUR_STYLE_GAUSSIAN: Style.GAUSSIAN,
    vision_pb2.BLUR_STYLE_MOSAIC: Style.MOSAIC,
}
_TRANSITIONS = {
    Transition.NONE: vision_pb2.TRANSITION_TYPE_UNSPECIFIED,
    Transition.CUT: vision_pb2.TRANSITION_TYPE_CUT,
    Transition.DISSOLVE: vision_pb2.TRANSITION_TYPE_DISSOLVE,
    Transition.FADE_IN: vision_pb2.TRANSITION_TYPE_FADE_IN,
    Transition.FADE_OUT: vision_pb2.TRANSITION_TYPE_FADE_OUT,
}


def _shot_message(index: int, placed: TimedShot) -> vision_pb2.Shot:
    shot = placed.shot
    message = vision_pb2.Shot(
        index=index, range=common_pb2.TimeRange(start=placed.start, end=placed.end),
        start_frame=placed.start_frame, end_frame=placed.end_frame,
        transition_in=_TRANSITIONS[shot.transition_in], mean_luma=shot.mean_luma,
        motion=shot.motion)
    if placed.keyframe is not None:
        message.keyframe.CopyFrom(media_ref(placed.keyframe, "image/jpeg"))
    return message


def _keyframe_output(store: MediaStore, base: StoredOutput, index: int) -> StoredOutput:
    return store.sibling(base, f".shot{index:03d}", "jpg")


def _color(c: common_pb2.RgbColor) -> tuple[int, int, int]:
    values = (c.r, c.g, c.b)
    if any(v > 255 for v in values):
        raise InvalidArgument(f"background_color components must be 0-255, got {values}",
                              field_name="background_color")
    return values  # type: ignore[return-value]


class VisionServicer(vision_pb2_grpc.VisionServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.keyer = GreenScreenKeyer(ctx.triton)
        self.shot_detector = ShotDetector(ctx.triton)
        self.fingerprinter = Fingerprinter(ctx.triton)
        self.blurrer = region_blur.RegionBlurrer(ctx.triton)
        self.cover_selector = CoverSelector(ctx.triton)
        self.lecture_splitter = lecture_job.LectureSplitter(TextReader(ctx.triton))

    async def SplitLecture(self, request: vision_pb2.SplitLectureRequest,
                           context: grpc.aio.ServicerContext
                           ) -> AsyncIterator[vision_pb2.SplitLectureEvent]:
        params = lecture_job.slide_params(request.sample_fps, request.min_segment_seconds)
        store = self.ctx.store
        async with store.local_file(request.video, "video") as source:
            info = await probe_picture(source, "video")
            check_video(info, 0.0, None, self.ctx.settings.max_video_seconds, "video",
                        "SplitLecture")
            video = await store.output_path(
                request.output.uri, lecture_job.output_extension(request.output.uri, info),
                overwrite=request.output.overwrite)
            outputs = lecture_job.LectureOutputs(
                video, store.sibling(video, ".chapters", "json"),
                store.sibling(video, ".chapters", "vtt"),
                store.sibling(video, ".ffmetadata", "txt"))
            job = lecture_job.LectureJob(source, params)
            async for item in self.lecture_splitter.run(job, info, outputs):
                if isinstance(item, lecture_job.LectureOutcome):
                    published = [await store.publish(o) for o in outputs.all()]
                    yield vision_pb2.SplitLectureEvent(result=_lecture_result(item, published))
                else:
                    yield vision_pb2.SplitLectureEvent(progress=common_pb2.Progress(
                        fraction=item.fraction, stage=item.stage, done=item.done,
                        total=item.total))

    async def Reframe(self, request: vision_pb2.ReframeRequest,  # noqa: N802
                      context: grpc.aio.ServicerContext
                      ) -> AsyncIterator[vision_pb2.ReframeEvent]:
        if request.force_mode not in _CAMERA_MODES:
            raise InvalidArgument(f"unknown force_mode {request.force_mode}; use "
                                  "CAMERA_MODE_STATIONARY, _PANNING or _TRACKING (or leave it "
                                  "unset for a choice per shot)", field_name="force_mode")
        options = reframe_job.ReframeOptions.checked(
            request.target_width, request.target_height,
            (request.aspect_ratio.width, request.aspect_ratio.height),
            _CAMERA_MODES[request.force_mode], request.allow_blur_pad, request.max_pan_speed,
            [_signal(s, f"signals[{i}]") for i, s in enumerate(request.signals)])
        store = self.ctx.store
        async with store.local_file(request.video, "video") as source:
            info = await probe_picture(source, "video")
            check_video(info, 0.0, None, self.ctx.settings.max_video_seconds, "video", "Reframe")
            output = await store.output_path(request.output.uri, "mp4",
                                             overwrite=request.output.overwrite)
            job = reframe_job.ReframeJob(source, options)
            async for item in reframe_job.Reframer(self.ctx.triton).run(job, info, output):
                if isinstance(item, reframe_job.ReframeOutcome):
                    await store.publish(item.output)
                    yield vision_pb2.ReframeEvent(result=_reframe_result(item, options))
                else:
                    yield vision_pb2.ReframeEvent(
                        progress=progress(item.done, item.total, item.stage))

    async def RemoveSubtitles(self, request: vision_pb2.RemoveSubtitlesRequest,  # noqa: N802
                              context: grpc.aio.ServicerContext
                              ) -> AsyncIterator[vision_pb2.RemoveSubtitlesEvent]:
        method = _INPAINT_METHODS.get(request.method)
        if method is None:
            raise InvalidArgument(f"unknown method {request.method}; use INPAINT_METHOD_TELEA, "
                                  "INPAINT_METHOD_NAVIER_STOKES or INPAINT_METHOD_BLUR",
                                  field_name="method")
        band = None
        if request.HasField("region"):
            r = request.region
            band = check_box(NormBox(r.x, r.y, r.width, r.height), "region")
        store = self.ctx.store
        async with store.local_file(request.video, "video") as source:
            info = await probe_picture(source, "video")
            check_video(info, 0.0, None, math.inf, "video", "RemoveSubtitles")
            if band is not None and band.height * (info.height or 0) < 8:
                raise InvalidArgument(f"region is {band.height * (info.height or 0):.0f} px "
                                      "tall; a subtitle band needs at least 8", field_name="region")
            output = await store.output_path(request.output.uri, "mp4",
                                             overwrite=request.output.overwrite)
            job = subtitle_job.SubtitleJob(source, band, method)
            async for item in subtitle_job.SubtitleRemover(self.ctx.triton).run(job, info,
                                                                                 output):
                if isinstance(item, subtitle_job.SubtitleOutcome):
                    await store.publish(item.output)
                    b = item.band
                    yield vision_pb2.RemoveSubtitlesEvent(result=vision_pb2.RemoveSubtitlesResult(
                        output=media_ref(item.output, "video/mp4"),
                        erased=[common_pb2.TimeRange(start=a, end=z) for a, z in item.erased],
                        band_used=common_pb2.Box(x=b.x, y=b.y, width=b.width, height=b.height)))
                else:
                    yield vision_pb2.RemoveSubtitlesEvent(
                        progress=progress(item.done, item.total, item.stage))

    async def BlurRegions(self, request: vision_pb2.BlurRegionsRequest,  # noqa: N802
                          context: grpc.aio.ServicerContext
                          ) -> AsyncIterator[vision_pb2.BlurRegionsEvent]:
        job_regions = tuple(_region(r, f"regions[{i}]") for i, r in enumerate(request.regions))
        if not job_regions and not request.auto_detect_logos:
            raise InvalidArgument("nothing to blur: give regions (boxes, static or keyframed) "
                                  "or set auto_detect_logos", field_name="regions")
        style = _BLUR_STYLES.get(request.style)
        if style is None:
            raise InvalidArgument(f"unknown style {request.style}; use BLUR_STYLE_GAUSSIAN or "
                                  "BLUR_STYLE_MOSAIC", field_name="style")
        if not 0 <= request.strength <= 1:  # NaN fails too
            raise InvalidArgument(f"strength must be in [0, 1] (0 = the default "
                                  f"{region_blur.DEFAULT_STRENGTH:g}), got {request.strength:g}",
                                  field_name="strength")
        store = self.ctx.store
        async with store.local_file(request.video, "video") as source:
            info = await probe_picture(source, "video")
            still = is_still_image(info)
            if still and request.auto_detect_logos:
                raise InvalidArgument("auto_detect_logos needs a video (a logo is found by "
                                      "what stays put across frames); video is a still image",
                                      field_name="auto_detect_logos")
            if not still:
                check_video(info, 0.0, None, math.inf, "video", "BlurRegions")
            output = await store.output_path(request.output.uri, "png" if still else "mp4",
                                             overwrite=request.output.overwrite)
            job = region_blur.BlurJob(source, job_regions, style,
                                      request.strength or region_blur.DEFAULT_STRENGTH,
                                      request.auto_detect_logos)
            async for item in self.blurrer.run(job, info, output):
                if isinstance(item, region_blur.BlurOutcome):
                    await store.publish(item.output)
                    yield vision_pb2.BlurRegionsEvent(result=vision_pb2.BlurRegionsResult(
                        output=media_ref(item.output, mime_for(item.output)),
                        detected=[vision_pb2.DetectedRegion(
                            box=common_pb2.Box(x=d.box.x, y=d.box.y, width=d.box.width,
                                               height=d.box.height),
                            range=common_pb2.TimeRange(start=d.start, end=d.end),
                            confidence=d.confidence) for d in item.detected]))
                else:
                    yield vision_pb2.BlurRegionsEvent(
                        progress=progress(item.done, item.total, item.stage))

    async def KeyGreenScreen(self, request: vision_pb2.KeyGreenScreenRequest,  # noqa: N802
                             context: grpc.aio.ServicerContext
                             ) -> AsyncIterator[vision_pb2.KeyGreenScreenEvent]:
        params = KeyParams.from_request(request.threshold_low, request.threshold_high,
                                        request.spill_suppression)
        mode = _OUTPUT_MODES.get(request.output_mode)
        if mode is None:
            raise InvalidArgument(f"unknown output_mode {request.output_mode}",
                                  field_name="output_mode")
        start, end = time_range(request.range)
        store = self.ctx.store
        async with contextlib.AsyncExitStack() as files:
            source = await files.enter_async_context(store.local_file(request.input, "input"))
            info = await probe_picture(source, "input")
            background_image, background_video = await _backgrounds(store, files, request)
            ext = output_extension(is_still_image(info), mode)
            output = await store.output_path(request.output.uri, ext,
                                             overwrite=request.output.overwrite)
            preview = store.sibling(output, ".alpha", "png")
            job = KeyJob(source, _KEY_COLORS.get(request.key_color), params, mode,
                         _color(request.background_color)
                         if request.HasField("background_color") else None,
                         background_image, start, end, background_video)
            async for item in self.keyer.run(job, info, output, preview):
                if isinstance(item, KeyOutcome):
                    await store.publish(item.output)
                    await store.publish(item.alpha_preview)
                    yield vision_pb2.KeyGreenScreenEvent(result=vision_pb2.KeyGreenScreenResult(
                        output=media_ref(item.output, mime_for(item.output)),
                        alpha_preview=media_ref(item.alpha_preview, "image/png"),
                        frames=item.frames, duration=item.duration,
                        key_color_used=_KEY_COLOR_OUT[item.key_channel],
                        mean_alpha=item.mean_alpha))
                else:
                    yield vision_pb2.KeyGreenScreenEvent(
                        progress=progress(item.done, item.total, "keying"))

    async def DetectShots(self, request: vision_pb2.DetectShotsRequest,  # noqa: N802
                          context: grpc.aio.ServicerContext
                          ) -> AsyncIterator[vision_pb2.DetectShotsEvent]:
        params = ShotParams.from_sensitivity(request.threshold_sensitivity,
                                             request.detect_gradual)
        start, end = time_range(request.range)
        store = self.ctx.store
        async with store.local_file(request.video, "video") as source:
            info = await probe_picture(source, "video")
            check_video(info, start, end, self.ctx.settings.max_video_seconds)
            keyframes = None
            if request.with_keyframes:  # shot i -> outputs/<id>.shot<i>.jpg
                base = await store.output_path("", "jpg")
                keyframes = functools.partial(_keyframe_output, store, base)
            job = ShotJob(source, start, end, params, request.with_keyframes)
            async for item in self.shot_detector.run(job, info, keyframes):
                if isinstance(item, ShotOutcome):
                    for placed in item.shots:
                        if placed.keyframe is not None:
                            await store.publish(placed.keyframe)
                    yield vision_pb2.DetectShotsEvent(result=vision_pb2.DetectShotsResult(
                        shots=[_shot_message(i, s) for i, s in enumerate(item.shots)],
                        fps=item.fps, frame_count=item.frame_count))
                else:
                    yield vision_pb2.DetectShotsEvent(progress=common_pb2.Progress(
                        fraction=item.fraction, stage=item.stage, done=item.done,
                        total=item.total))

    async def SelectCover(self, request: vision_pb2.SelectCoverRequest,  # noqa: N802
                          context: grpc.aio.ServicerContext
                          ) -> AsyncIterator[vision_pb2.SelectCoverEvent]:
        fmt = _ANIMATED_FORMATS.get(request.animated_format)
        if fmt is None:
            raise InvalidArgument(f"unknown animated_format {request.animated_format}; use "
                                  "ANIMATED_FORMAT_GIF or ANIMATED_FORMAT_WEBP",
                                  field_name="animated_format")
        check_options(request.top_k, request.animated_duration, request.summary_duration)
        suffix = Path(urlparse(request.output.uri).path).suffix.lower()
        if request.animated and suffix not in ("", f".{fmt.value}"):
            raise InvalidArgument(f"output.uri ends in '{suffix}' but the animated cover is "
                                  f"{fmt.name}: use '.{fmt.value}' or no extension",
                                  field_name="output.uri")
        store = self.ctx.store
        async with store.local_file(request.video, "video") as source:
            info = await probe_picture(source, "video")
            check_video(info, 0.0, None, self.ctx.settings.max_video_seconds, "video",
                        "SelectCover")
            job = CoverJob.from_request(
                source, info, top_k=request.top_k, animated=request.animated,
                animated_format=fmt, animated_duration=request.animated_duration,
                max_animated_bytes=request.max_animated_bytes, summary=request.summary_plan,
                summary_duration=request.summary_duration)
            # the animated cover goes to output.uri; candidate i next to it, <name>.cover<i>.jpg
            base = await store.output_path(request.output.uri,
                                           fmt.value if job.animated else "jpg",
                                           overwrite=request.output.overwrite)
            candidates = functools.partial(_cover_output, store, base)
            async for item in self.cover_selector.run(job, info, candidates,
                                                      base if job.animated else None):
                if isinstance(item, CoverOutcome):
                    for candidate in item.candidates:
                        await store.publish(candidate.image)
                    if item.animated is not None:
                        await store.publish(item.animated)
                    yield vision_pb2.SelectCoverEvent(result=_cover_result(item))
                else:
                    yield vision_pb2.SelectCoverEvent(progress=common_pb2.Progress(
                        fraction=item.fraction, stage=item.stage, done=item.done,
                        total=item.total, message=item.message))

    async def Fingerprint(self, request: vision_pb2.FingerprintRequest,  # noqa: N802
                          context: grpc.aio.ServicerContext
                          ) -> AsyncIterator[vision_pb2.FingerprintEvent]:
        job_fps = sample_rate(request.sample_fps)
        async with self.ctx.store.local_file(request.video, "video") as source:
            info = await probe_picture(source, "video")
            check_video(info, 0.0, None, self.ctx.settings.max_video_seconds, rpc="Fingerprint")
            async for item in self.fingerprinter.run(FingerprintJob(source, job_fps), info):
                if isinstance(item, FingerprintProgress):
                    yield vision_pb2.FingerprintEvent(
                        progress=progress(item.done, item.total, "hashing"))
                else:
                    yield vision_pb2.FingerprintEvent(
                        result=_fingerprint_result(item.samples, job_fps, item.duration))

    async def MatchFingerprints(self, request: vision_pb2.MatchFingerprintsRequest,  # noqa: N802
                                context: grpc.aio.ServicerContext
                                ) -> vision_pb2.MatchFingerprintsResponse:
        params = _match_params(request.min_score)
        query = Fingerprint.from_bytes(request.query, "query")
        candidates = [(c.id, Fingerprint.from_bytes(c.fingerprint, f"candidates[{i}]"))
                      for i, c in enumerate(request.candidates)]
        work = len(query) * sum(len(c) for _, c in candidates)
        if work > MAX_MATCH_PAIRS:
            raise MeshError(f"comparing {len(query)} query samples with "
                            f"{work // max(1, len(query))} candidate samples is over the limit "
                            f"of {MAX_MATCH_PAIRS:,} sample pairs per request: send the "
                            "candidates in several requests", StatusCode.RESOURCE_EXHAUSTED,
                            "QUOTA_EXCEEDED", field_name="candidates")
        matches = await run_in_thread(_match_all, query, candidates, params)
        return vision_pb2.MatchFingerprintsResponse(matches=[
            vision_pb2.Match(id=cid, score=a.score, offset=a.offset,
                             query_range=common_pb2.TimeRange(start=a.query_start,
                                                              end=a.query_end),
                             candidate_range=common_pb2.TimeRange(start=a.candidate_start,
                                                                  end=a.candidate_end))
            for cid, a in matches])

    async def SegmentPortrait(self, request: vision_pb2.SegmentPortraitRequest,  # noqa: N802
                              context: grpc.aio.ServicerContext
                              ) -> AsyncIterator[vision_pb2.SegmentPortraitEvent]:
        options = portrait.PortraitOptions.from_request(
            portrait.Background.from_contract(request.mode, vision_pb2.PortraitBackground.Name),
            request.WhichOneof("background"), request.blur_radius,
            request.temporal_smoothing if request.HasField("temporal_smoothing")
            else matting.DEFAULT_SMOOTHING)
        start, end = time_range(request.range)
        store = self.ctx.store
        async with contextlib.AsyncExitStack() as files:
            source = await files.enter_async_context(store.local_file(request.input, "input"))
            info = await probe_picture(source, "input")
            if not is_still_image(info):  # the range must fit; streaming needs no length cap
                check_video(info, start, end, math.inf, "input", "SegmentPortrait")
            image, video = await _backgrounds(store, files, request)
            output = await store.output_path(
                request.output.uri, portrait.output_extension(is_still_image(info)),
                overwrite=request.output.overwrite)
            job = portrait.PortraitJob(source, options, _color(request.background_color)
                                       if request.HasField("background_color") else None,
                                       image, video, start, end)
            async for item in portrait.PortraitSegmenter(self.ctx.triton).run(job, info, output):
                if isinstance(item, portrait.PortraitOutcome):
                    await store.publish(item.output)
                    yield vision_pb2.SegmentPortraitEvent(
                        result=vision_pb2.SegmentPortraitResult(
                            output=media_ref(item.output, mime_for(item.output)),
                            frames=item.frames, mean_person_coverage=item.mean_person_coverage))
                else:
                    yield vision_pb2.SegmentPortraitEvent(
                        progress=progress(item.done, item.total, "matting"))


async def _backgrounds(store: MediaStore, files: contextlib.AsyncExitStack,
                       request: vision_pb2.KeyGreenScreenRequest
                       | vision_pb2.SegmentPortraitRequest
                       ) -> tuple[np.ndarray | None, tuple[Path, media.MediaInfo] | None]:
    """The request's background image (decoded) and background video (a local file, kept
    open on `files`, and its headers), each None when unset."""
    image = video = None
    if request.HasField("background_image"):
        path = await files.enter_async_context(
            store.local_file(request.background_image, "background_image"))
        image = await run_in_thread(read_background_image, path)
    if request.HasField("background_video"):
        path = await files.enter_async_context(
            store.local_file(request.background_video, "background_video"))
        video = (path, await probe_picture(path, "background_video"))
        check_background_video(video[1])
    return image, video


def _signal(message: vision_pb2.SignalWeight, field_name: str) -> reframe_job.SignalWeight:
    kind = _SIGNALS.get(message.kind)
    if kind is None:
        name = (vision_pb2.SignalKind.Name(message.kind)
                if message.kind in vision_pb2.SignalKind.values() else str(message.kind))
        why = ("is not available yet (it needs the OCR text detector)"
               if message.kind == vision_pb2.SIGNAL_KIND_TEXT else "is not a signal")
        raise InvalidArgument(f"{field_name}.kind {name} {why}; use SIGNAL_KIND_FACE, "
                              "SIGNAL_KIND_PERSON or SIGNAL_KIND_SALIENCY",
                              field_name=f"{field_name}.kind")
    return reframe_job.SignalWeight(kind, message.weight, message.required)


def _reframe_result(outcome: reframe_job.ReframeOutcome, options: reframe_job.ReframeOptions
                    ) -> vision_pb2.ReframeResult:
    result = vision_pb2.ReframeResult(output=media_ref(outcome.output, "video/mp4"))
    for plan in outcome.plans:
        result.shots.add(range=common_pb2.TimeRange(start=plan.start, end=plan.end),
                         mode=_CAMERA_MODE_OUT[plan.mode],
                         padded=plan.padded and options.allow_pad)
        for when, box in plan.keyframes:
            result.path.add(time=when, crop=common_pb2.Box(x=box.x, y=box.y, width=box.width,
                                                           height=box.height))
    return result


def _region(message: vision_pb2.Region, field_name: str) -> Region:
    start, end = time_range(message.range, f"{field_name}.range")
    return Region.checked([(k.time, NormBox(k.box.x, k.box.y, k.box.width, k.box.height))
                           for k in message.keyframes], start, end, field_name)


def _fingerprint_result(samples: Samples, sample_fps: float, duration: float
                        ) -> vision_pb2.FingerprintResult:
    return vision_pb2.FingerprintResult(
        fingerprint=samples.fingerprint(sample_fps, duration).to_bytes(), algorithm=ALGORITHM,
        version=VERSION, duration=duration,
        frame_hashes=[vision_pb2.FrameHash(time=float(t), hash=h.tobytes())
                      for t, h in zip(samples.times, samples.hashes, strict=True)])


def _lecture_result(outcome: lecture_job.LectureOutcome, published: list[StoredOutput]
                    ) -> vision_pb2.SplitLectureResult:
    video, chapters_json, webvtt, ffmetadata = published
    return vision_pb2.SplitLectureResult(
        chapters=[vision_pb2.LectureChapter(
            index=c.index, range=common_pb2.TimeRange(start=c.start, end=c.end), title=c.title,
            title_confidence=c.title_confidence, key_frame_time=c.key_frame_time)
            for c in outcome.chapters],
        video=media_ref(video, mime_for(video)),
        chapters_json=media_ref(chapters_json, "application/json"),
        webvtt=media_ref(webvtt, "text/vtt"), ffmetadata=media_ref(ffmetadata, "text/plain"),
        duration=outcome.duration,
        ignored_regions=[common_pb2.Box(x=x, y=y, width=w, height=h)
                         for x, y, w, h in outcome.split.masked],
        builds=outcome.split.builds)


def _cover_output(store: MediaStore, base: StoredOutput, index: int) -> StoredOutput:
    return store.sibling(base, f".cover{index}", "jpg")


def _cover_result(outcome: CoverOutcome) -> vision_pb2.SelectCoverResult:
    result = vision_pb2.SelectCoverResult(candidates=[vision_pb2.CoverCandidate(
        time=c.time, image=media_ref(c.image, "image/jpeg"), score=c.score.total,
        breakdown=vision_pb2.CoverScore(
            sharpness=c.score.sharpness, exposure=c.score.exposure,
            colorfulness=c.score.colorfulness, faces=c.score.faces,
            face_cut_penalty=c.score.face_cut_penalty,
            transition_penalty=c.score.transition_penalty, text_penalty=c.score.text_penalty))
        for c in outcome.candidates])
    if outcome.animated is not None:
        result.animated_cover.CopyFrom(media_ref(outcome.animated, mime_for(outcome.animated)))
    if outcome.summary is not None:
        result.summary_plan.CopyFrom(vision_pb2.SummaryPlan(
            segments=[common_pb2.TimeRange(start=a, end=b) for a, b in outcome.summary],
            duration=sum(b - a for a, b in outcome.summary)))
    return result


def _match_params(min_score: float) -> MatchParams:
    if min_score == 0:
        return MatchParams()
    if not 0 < min_score <= 1:
        raise InvalidArgument(f"min_score must be in (0, 1] (0 = the default "
                              f"{MatchParams().min_score:g}), got {min_score:g}",
                              field_name="min_score")
    return MatchParams(min_score=min_score)


def _match_all(query: Fingerprint, candidates: list[tuple[str, Fingerprint]],
               params: MatchParams) -> list[tuple[str, Alignment]]:
    """Candidates that match, best first (ties keep the request's order)."""
    found = []
    for cid, candidate in candidates:
        alignment = match(query, candidate, params)
        if alignment is not None:
            found.append((cid, alignment))
    return sorted(found, key=lambda item: -item[1].score)


def bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    return [ServiceBinding.of(VisionServicer(ctx), vision_pb2, vision_pb2_grpc, "VisionService")]
