"""ComposeService: RenderGif is built; the other RPCs answer UNIMPLEMENTED (the generated
base class, mapped by the shared interceptor) until issues 4 and 9 land."""
from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from mediamesh.errors import InvalidArgument
from mediamesh.grpc_server import ServiceBinding
from mediamesh.media_inputs import is_still_image, probe_picture
from mediamesh.protocol import media_ref, mime_for, progress, time_range
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import compose_pb2, compose_pb2_grpc
from services.compose.animated_preview import (
    AnimatedFormat,
    PreviewResult,
    PreviewSpec,
    render_preview,
)

_FORMATS = {compose_pb2.GIF_FORMAT_UNSPECIFIED: AnimatedFormat.GIF,
            compose_pb2.GIF_FORMAT_GIF: AnimatedFormat.GIF,
            compose_pb2.GIF_FORMAT_WEBP: AnimatedFormat.WEBP}


class ComposeServicer(compose_pb2_grpc.ComposeServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    async def RenderGif(self, request: compose_pb2.RenderGifRequest,  # noqa: N802
                        context: grpc.aio.ServicerContext
                        ) -> AsyncIterator[compose_pb2.RenderGifEvent]:
        fmt = _FORMATS.get(request.format)
        if fmt is None:
            raise InvalidArgument(f"unknown format {request.format}", field_name="format")
        start, end = time_range(request.range)
        store = self.ctx.store
        async with store.local_file(request.video, "video") as source:
            info = await probe_picture(source, "video")
            if is_still_image(info):
                raise InvalidArgument("video is a still image; RenderGif needs a video",
                                      field_name="video")
            spec = PreviewSpec.from_request(info, start, end, request.width, request.fps, fmt,
                                            request.max_bytes)
            output = await store.output_path(request.output.uri, fmt.value,
                                             overwrite=request.output.overwrite)
            finished = False
            try:
                async for item in render_preview(source, output.path, info, spec):
                    if isinstance(item, PreviewResult):
                        await store.publish(output)
                        finished = True
                        yield compose_pb2.RenderGifEvent(result=compose_pb2.RenderGifResult(
                            output=media_ref(output, mime_for(output)),
                            size_bytes=item.size_bytes, width=item.width, height=item.height,
                            frames=item.frames))
                    else:
                        yield compose_pb2.RenderGifEvent(progress=progress(
                            item.attempt, item.attempts, "rendering"))
            except BaseException:
                if not finished:
                    output.path.unlink(missing_ok=True)  # never leave half a file
                raise


def bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    return [ServiceBinding.of(ComposeServicer(ctx), compose_pb2, compose_pb2_grpc,
                              "ComposeService")]
