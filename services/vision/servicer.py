"""VisionService servicer: validate, run the job, pack events. RPCs not yet built answer
UNIMPLEMENTED (the generated base class, mapped by the shared interceptor)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from mediamesh import media
from mediamesh.errors import InvalidArgument, MediaUndecodable
from mediamesh.grpc_server import ServiceBinding
from mediamesh.media_inputs import is_still_image, probe_picture
from mediamesh.protocol import media_ref, mime_for, progress, time_range
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import common_pb2, vision_pb2, vision_pb2_grpc
from services.vision.green_screen import (
    GreenScreenKeyer,
    KeyJob,
    KeyOutcome,
    OutputMode,
    output_extension,
    unsupported,
)
from services.vision.keying import KeyChannel, KeyParams

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

    async def KeyGreenScreen(self, request: vision_pb2.KeyGreenScreenRequest,  # noqa: N802
                             context: grpc.aio.ServicerContext
                             ) -> AsyncIterator[vision_pb2.KeyGreenScreenEvent]:
        params = KeyParams.from_request(request.threshold_low, request.threshold_high,
                                        request.spill_suppression)
        mode = _OUTPUT_MODES.get(request.output_mode)
        if mode is None:
            raise InvalidArgument(f"unknown output_mode {request.output_mode}",
                                  field_name="output_mode")
        if request.HasField("background_video"):
            raise unsupported("background_video (planned with VisionService keying, issue 5)")
        start, end = time_range(request.range)
        store = self.ctx.store
        async with store.local_file(request.input, "input") as source:
            info = await probe_picture(source, "input")
            background_image = None
            if request.HasField("background_image"):
                async with store.local_file(request.background_image, "background_image") as bg:
                    try:
                        background_image = await asyncio.to_thread(media.read_image, bg)
                    except media.MediaError as exc:
                        raise MediaUndecodable(f"background_image: {exc}",
                                               field_name="background_image") from exc
            ext = output_extension(is_still_image(info), mode)
            output = await store.output_path(request.output.uri, ext,
                                             overwrite=request.output.overwrite)
            preview = store.sibling(output, ".alpha", "png")
            job = KeyJob(source, _KEY_COLORS.get(request.key_color), params, mode,
                         _color(request.background_color)
                         if request.HasField("background_color") else None,
                         background_image, start, end)
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


def bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    return [ServiceBinding.of(VisionServicer(ctx), vision_pb2, vision_pb2_grpc, "VisionService")]
