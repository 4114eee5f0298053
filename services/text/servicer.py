"""TextService. RecognizeText reads the text of a picture or a video frame (PP-OCRv6 on
Triton); the other RPCs answer UNIMPLEMENTED until the rest of issue 6 lands."""
from __future__ import annotations

import math

import grpc
import numpy as np

from mediamesh import media
from mediamesh.boxes import NormBox, check_box
from mediamesh.errors import InvalidArgument
from mediamesh.grpc_server import ServiceBinding
from mediamesh.media_inputs import is_still_image, probe_picture
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import common_pb2, text_pb2, text_pb2_grpc
from mediamesh.worker_threads import run_in_thread
from services.text.reader import ReadLine, TextReader


class TextServicer(text_pb2_grpc.TextServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.reader = TextReader(ctx.triton)

    async def RecognizeText(self, request: text_pb2.RecognizeTextRequest,  # noqa: N802
                            context: grpc.aio.ServicerContext) -> text_pb2.RecognizeTextResponse:
        region = None
        if request.HasField("region"):
            r = request.region
            region = check_box(NormBox(r.x, r.y, r.width, r.height), "region")
        async with self.ctx.store.local_file(request.image, "image") as path:
            info = await probe_picture(path, "image")
            if is_still_image(info):
                if request.frame_time:
                    raise InvalidArgument("frame_time is for a video; image is a still "
                                          "picture (leave frame_time unset)",
                                          field_name="frame_time")
                picture = await run_in_thread(media.read_image, path)
            else:
                picture = (await run_in_thread(media.read_frame_at, path,
                                               _frame_time(request.frame_time, info))).rgb
        height, width = picture.shape[:2]
        left, top, right, bottom = region.pixels(width, height) if region else (0, 0, width,
                                                                               height)
        lines = await self.reader.read(np.ascontiguousarray(picture[top:bottom, left:right,
                                                                    :3]))
        return text_pb2.RecognizeTextResponse(
            lines=[_text_line(line, left, top, width, height) for line in lines],
            width=width, height=height)


def _frame_time(seconds: float, info: media.MediaInfo) -> float:
    duration = info.duration or 0.0
    if not math.isfinite(seconds) or not 0 <= seconds < max(duration, 1e-9):
        raise InvalidArgument(f"frame_time {seconds:g} s is outside the video (0 to "
                              f"{duration:.3f} s)", field_name="frame_time")
    return seconds


def _text_line(line: ReadLine, left: int, top: int, width: int,
               height: int) -> text_pb2.TextLine:
    """A line in the whole picture's normalised coordinates (a region's offset added)."""
    corners = (line.quad.corners + [left, top]) / [width, height]
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    return text_pb2.TextLine(
        text=line.text, confidence=line.confidence,
        box=common_pb2.Box(x=float(x0), y=float(y0), width=float(x1 - x0),
                           height=float(y1 - y0)),
        polygon=[float(v) for v in corners.ravel()])


def bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    return [ServiceBinding.of(TextServicer(ctx), text_pb2, text_pb2_grpc, "TextService")]
