"""A real model through the whole path: client -> VisionService -> Triton (green_keyer)."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.grpc_errors import error_info
from mediamesh.models.green_keyer import key_reference
from mediamesh.synth import green_screen as synth
from mediamesh.v1 import common_pb2, vision_pb2
from services.vision.keying import KeyParams, estimate_screen
from tests.integration.long_clips import write_long_clip
from tests.integration.streams import collect

W, H, FPS = 160, 96, 25.0


def frame() -> np.ndarray:
    return synth.render_frame(3, FPS, W, H).rgb


@pytest.fixture(scope="module")
def clip(media_root: Path) -> Path:
    """One second of synthetic green screen with an audio track, in the media root."""
    path = media_root / "tests" / "clip.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    with media.VideoWriter(path, W, H, FPS, audio_sample_rate=48000) as writer:
        for f in synth.render_clip(int(FPS), FPS, W, H):
            writer.write(f.rgb)
        writer.write_audio(synth.tone(1.0))
    return path


async def run(client: MeshClient, request: vision_pb2.KeyGreenScreenRequest
              ) -> tuple[list[common_pb2.Progress], vision_pb2.KeyGreenScreenResult]:
    return await collect(client.vision.KeyGreenScreen(request, timeout=120))


async def test_image_inline_matches_the_reference_keyer(client: MeshClient,
                                                        media_root: Path) -> None:
    image = frame()
    request = vision_pb2.KeyGreenScreenRequest(
        input=common_pb2.MediaRef(inline_data=media.encode_image(image, "png"), name="f.png"),
        output_mode=vision_pb2.KEY_OUTPUT_MODE_ALPHA_ONLY)
    _, result = await run(client, request)
    assert result.frames == 1 and result.key_color_used == vision_pb2.KEY_COLOR_GREEN
    assert result.output.uri.startswith("outputs/") and result.output.mime_type == "image/png"
    matte = media.read_image(media_root / result.output.uri)[..., 0]
    planes = media.YuvPlanes.from_rgb(image)  # the service keys the picture's 4:2:0 chroma
    row = estimate_screen(planes).row(KeyParams())
    expected_alpha, _, _ = key_reference(planes.chroma[None], row[None])
    assert np.array_equal(matte, expected_alpha[0, 0, :H, :W])
    truth = synth.render_frame(3, FPS, W, H).alpha
    assert np.abs(matte / 255.0 - truth).mean() < 0.01  # and it is the subject's matte
    assert 0.05 < result.mean_alpha < 0.6  # a subject on a screen, not all one or the other


async def test_a_picture_without_a_screen_stays_opaque(client: MeshClient,
                                                        media_root: Path) -> None:
    grey = np.full((48, 64, 3), 128, np.uint8)  # no screen anywhere: nothing is keyed out
    request = vision_pb2.KeyGreenScreenRequest(
        input=common_pb2.MediaRef(inline_data=media.encode_image(grey, "png"), name="g.png"),
        key_color=vision_pb2.KEY_COLOR_GREEN, output_mode=vision_pb2.KEY_OUTPUT_MODE_ALPHA_ONLY)
    _, result = await run(client, request)
    assert (media.read_image(media_root / result.output.uri) == 255).all()
    assert result.mean_alpha == pytest.approx(1.0)


async def test_video_composite_keeps_frames_audio_and_reports_progress(
        client: MeshClient, clip: Path, media_root: Path) -> None:
    request = vision_pb2.KeyGreenScreenRequest(
        input=common_pb2.MediaRef(uri="tests/clip.mp4"),
        output=common_pb2.OutputSpec(uri="tests/keyed.mp4", overwrite=True),
        background_color=common_pb2.RgbColor(r=255, g=0, b=0))
    progress, result = await run(client, request)
    assert progress and progress[-1].fraction == pytest.approx(1.0)
    assert all(a.fraction <= b.fraction for a, b in zip(progress, progress[1:]))
    assert result.output.uri == "tests/keyed.mp4" and result.frames == 25
    info = media.probe(media_root / "tests/keyed.mp4")
    assert (info.width, info.height, info.has_audio) == (W, H, True)
    assert abs((info.frame_count or 0) - 25) <= 1
    out = media.read_frame_at(media_root / "tests/keyed.mp4", 0.5).rgb.astype(int)
    corner = out[:8, :8].reshape(-1, 3).mean(0)  # the screen became the red background
    assert corner[0] > 200 and corner[1] < 60
    assert (media_root / result.alpha_preview.uri).exists()


async def test_range_and_foreground_alpha(client: MeshClient, clip: Path,
                                          media_root: Path) -> None:
    request = vision_pb2.KeyGreenScreenRequest(
        input=common_pb2.MediaRef(uri="tests/clip.mp4"),
        output_mode=vision_pb2.KEY_OUTPUT_MODE_FOREGROUND_ALPHA,
        range=common_pb2.TimeRange(start=0.2, end=0.6))
    _, result = await run(client, request)
    assert abs(result.frames - 10) <= 1
    assert result.output.uri.endswith(".webm")
    assert media.probe(media_root / result.output.uri).has_video


async def test_background_video_plays_behind_and_loops(client: MeshClient, clip: Path,
                                                      media_root: Path) -> None:
    backdrop = media_root / "tests" / "backdrop.mp4"  # 0.4 s: 5 red frames, then 5 blue
    with media.VideoWriter(backdrop, 64, 36, 25.0) as writer:
        for i in range(10):
            writer.write(np.full((36, 64, 3), (230, 20, 20) if i < 5 else (20, 20, 230),
                                 np.uint8))
    request = vision_pb2.KeyGreenScreenRequest(
        input=common_pb2.MediaRef(uri="tests/clip.mp4"),
        output=common_pb2.OutputSpec(uri="tests/keyed_over_video.mp4", overwrite=True),
        background_video=common_pb2.MediaRef(uri="tests/backdrop.mp4"))
    _, result = await run(client, request)
    assert result.frames == 25
    out = media_root / result.output.uri
    assert media.probe(out).has_audio
    for when, red in ((0.1, True), (0.3, False), (0.5, True), (0.7, False)):  # 0.5 = looped
        corner = media.read_frame_at(out, when).rgb[:8, :8].reshape(-1, 3).mean(0)
        assert (corner[0] > 180 and corner[2] < 70) if red else \
            (corner[2] > 180 and corner[0] < 70), (when, corner)
    still = media_root / "tests" / "still_backdrop.png"
    media.write_image(still, np.zeros((8, 8, 3), np.uint8))
    request.background_video.uri = "tests/still_backdrop.png"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run(client, request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "background_image instead" in caught.value.details()


def _request(**kwargs: object) -> vision_pb2.KeyGreenScreenRequest:
    return vision_pb2.KeyGreenScreenRequest(**kwargs)  # type: ignore[arg-type]


BAD_REQUESTS = [
    ("outside_root", _request(input=common_pb2.MediaRef(uri="../../etc/passwd")),
     grpc.StatusCode.INVALID_ARGUMENT, "PATH_OUTSIDE_MEDIA_ROOT", "outside the media root"),
    ("absolute_outside", _request(input=common_pb2.MediaRef(uri="/etc/hostname")),
     grpc.StatusCode.INVALID_ARGUMENT, "PATH_OUTSIDE_MEDIA_ROOT", "/etc/hostname"),
    ("missing", _request(input=common_pb2.MediaRef(uri="tests/nope.mp4")),
     grpc.StatusCode.NOT_FOUND, "MEDIA_NOT_FOUND", "tests/nope.mp4"),
    ("too_big", _request(input=common_pb2.MediaRef(inline_data=b"\0" * ((1 << 20) + 1))),
     grpc.StatusCode.RESOURCE_EXHAUSTED, "INLINE_DATA_TOO_LARGE", "1048576"),
    ("garbage", _request(input=common_pb2.MediaRef(inline_data=b"not a video at all" * 20,
                                                   name="x.mp4")),
     grpc.StatusCode.INVALID_ARGUMENT, "MEDIA_UNDECODABLE", "x.mp4"),
    ("empty", _request(), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT_VALUE",
     "input is empty"),
    ("scheme", _request(input=common_pb2.MediaRef(uri="http://169.254.169.254/x")),
     grpc.StatusCode.INVALID_ARGUMENT, "URI_SCHEME_NOT_ALLOWED", "http"),
    ("thresholds", _request(input=common_pb2.MediaRef(uri="tests/clip.mp4"),
                            threshold_low=90, threshold_high=50),
     grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT_VALUE", "threshold_high"),
    ("bg_video_missing", _request(input=common_pb2.MediaRef(uri="tests/clip.mp4"),
                                  background_video=common_pb2.MediaRef(uri="tests/no.mp4")),
     grpc.StatusCode.NOT_FOUND, "MEDIA_NOT_FOUND", "tests/no.mp4"),
    ("output_exists", _request(input=common_pb2.MediaRef(uri="tests/clip.mp4"),
                               output=common_pb2.OutputSpec(uri="tests/clip.mp4")),
     grpc.StatusCode.FAILED_PRECONDITION, "OUTPUT_EXISTS", "already exists"),
]


@pytest.mark.parametrize("name,request_,code,reason,text", BAD_REQUESTS,
                         ids=[b[0] for b in BAD_REQUESTS])
async def test_bad_input_gets_a_clear_status(client: MeshClient, clip: Path, name: str,
                                             request_: vision_pb2.KeyGreenScreenRequest,
                                             code: grpc.StatusCode, reason: str,
                                             text: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run(client, request_)
    assert caught.value.code() == code, caught.value.details()
    assert text in caught.value.details()
    assert error_info(caught.value)[0] == reason
    assert clip.exists()  # a refused output never touches the existing file


async def test_cancelled_jobs_leave_nothing_and_the_service_keeps_serving(
        client: MeshClient, media_root: Path) -> None:
    # Cancelled at different points of decode / key / encode: each partial output goes, and
    # the service still keys (a cancel once froze it: the handler flushed the encoder while
    # a worker thread was still encoding into it)
    frames = write_long_clip(media_root / "tests" / "cancel-long.mp4", 20.0, 640, 360)
    for i, delay in enumerate((0.0, 0.05, 0.15, 0.3, 0.6)):
        output = media_root / "tests" / f"cancelled-{i}.mp4"
        call = client.vision.KeyGreenScreen(vision_pb2.KeyGreenScreenRequest(
            input=common_pb2.MediaRef(uri="tests/cancel-long.mp4"),
            output=common_pb2.OutputSpec(uri=f"tests/cancelled-{i}.mp4", overwrite=True)),
            timeout=60)
        if delay:
            first = await call.read()
            assert first.progress.fraction < 0.5  # the job is running
            await asyncio.sleep(delay)
        call.cancel()
        deadline = time.monotonic() + 10
        while (output.exists() or output.with_suffix(".alpha.png").exists()) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not output.exists(), f"cancel {i} left its output"
    _, result = await collect(client.vision.KeyGreenScreen(vision_pb2.KeyGreenScreenRequest(
        input=common_pb2.MediaRef(uri="tests/cancel-long.mp4")), timeout=60))
    assert result.frames == frames
