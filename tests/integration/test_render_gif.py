"""ComposeService.RenderGif: a range of a video as a GIF/WebP under a size cap."""
from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.grpc_errors import error_info
from mediamesh.synth import green_screen as synth
from mediamesh.v1 import common_pb2, compose_pb2


@pytest.fixture(scope="module")
def video(media_root: Path) -> str:
    path = media_root / "gif" / "source.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    with media.VideoWriter(path, 320, 180, 25.0) as writer:
        for frame in synth.render_clip(50, 25.0, 320, 180):
            writer.write(frame.rgb)
    return "gif/source.mp4"


async def render(client: MeshClient, **fields: object) -> compose_pb2.RenderGifResult:
    request = compose_pb2.RenderGifRequest(**fields)  # type: ignore[arg-type]
    return await MeshClient.run_job(client.compose.RenderGif(request, timeout=120))


async def test_gif_of_a_range(client: MeshClient, video: str, media_root: Path) -> None:
    result = await render(client, video=common_pb2.MediaRef(uri=video),
                          range=common_pb2.TimeRange(start=0.5, end=1.5), width=160, fps=10)
    assert (result.width, result.height) == (160, 90) and result.frames == 10
    info = media.probe(media_root / result.output.uri)
    assert result.output.mime_type == "image/gif" and abs((info.frame_count or 0) - 10) <= 1
    assert result.size_bytes == (media_root / result.output.uri).stat().st_size


async def test_webp_shrinks_to_fit_the_cap(client: MeshClient, video: str,
                                           media_root: Path) -> None:
    full = await render(client, video=common_pb2.MediaRef(uri=video), width=320, fps=25,
                        format=compose_pb2.GIF_FORMAT_WEBP)
    capped = await render(client, video=common_pb2.MediaRef(uri=video), width=320, fps=25,
                          format=compose_pb2.GIF_FORMAT_WEBP, max_bytes=full.size_bytes // 3)
    assert capped.size_bytes <= full.size_bytes // 3 < full.size_bytes
    assert capped.width < 320 or capped.frames < full.frames


@pytest.mark.parametrize("fields,code,reason,text", [
    ({"max_bytes": 200}, grpc.StatusCode.RESOURCE_EXHAUSTED, "OUTPUT_TOO_LARGE", "max_bytes"),
    ({"width": 5000}, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT_VALUE", "width"),
    ({"range": common_pb2.TimeRange(start=9.0)}, grpc.StatusCode.INVALID_ARGUMENT,
     "INVALID_ARGUMENT_VALUE", "video ends at 2.000 s"),
])
async def test_bad_requests(client: MeshClient, video: str, fields: dict[str, object],
                            code: grpc.StatusCode, reason: str, text: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await render(client, video=common_pb2.MediaRef(uri=video), **fields)
    assert caught.value.code() == code and text in caught.value.details()
    assert error_info(caught.value)[0] == reason
