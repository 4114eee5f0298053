"""SegmentPortrait through the whole path: client -> VisionService -> Triton
(selfie_segmentation), on a generated clip whose person matte is exact
(mediamesh.synth.portraits)."""
from __future__ import annotations

import io
import itertools
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.grpc_errors import error_info
from mediamesh.synth import portraits
from mediamesh.v1 import common_pb2, vision_pb2
from services.vision.keying import fit_background
from tests.integration.streams import collect
from tests.integration.test_mesh_health import cli

W, H, FPS, SECONDS, SEED = 320, 180, 25.0, 2.0, 11
FRAMES = int(SECONDS * FPS)


@pytest.fixture(scope="module")
def clip(media_root: Path) -> portraits.PortraitClip:
    """Two seconds of the astronaut over a moving texture, with sound, in the media root."""
    path = media_root / "tests" / "portrait.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    return portraits.write_clip(path, SEED, width=W, height=H, fps=FPS, seconds=SECONDS,
                                background="texture")


@pytest.fixture(scope="module")
def backdrop(media_root: Path) -> np.ndarray:
    """A smooth backdrop (4:3, so it is cropped to cover) in the media root."""
    y, x = np.mgrid[0:300, 0:400].astype(np.float32)
    image = np.stack([40 + x * 0.5, 90 + y * 0.3, 160 - x * 0.2], -1).astype(np.uint8)
    media.write_image(media_root / "tests" / "backdrop.png", image)
    return image


@pytest.fixture(scope="module")
def flashes(media_root: Path) -> Path:
    """A 0.6 s background video at 10 fps: one flat colour per frame (to see the loop)."""
    path = media_root / "tests" / "flashes.mp4"
    with media.VideoWriter(path, 160, 90, 10.0) as writer:
        for i in range(6):
            writer.write(np.full((90, 160, 3), (40 * i + 20, 200 - 30 * i, 90), np.uint8))
    return path


def source() -> common_pb2.MediaRef:
    return common_pb2.MediaRef(uri="tests/portrait.mp4")


async def run(client: MeshClient, request: vision_pb2.SegmentPortraitRequest
              ) -> tuple[list[common_pb2.Progress], vision_pb2.SegmentPortraitResult]:
    return await collect(client.vision.SegmentPortrait(request, timeout=180))


def iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    a, b = alpha >= 0.5, truth >= 0.5
    return float((a & b).sum() / max(1, (a | b).sum()))


def frames_of(path: Path) -> list[np.ndarray]:
    return [f.rgb for f in media.iter_frames(path)]


async def test_the_matte_matches_the_truth_and_keeps_every_frame(
        client: MeshClient, clip: portraits.PortraitClip, media_root: Path) -> None:
    request = vision_pb2.SegmentPortraitRequest(
        input=source(), output=common_pb2.OutputSpec(uri="tests/matte.mp4", overwrite=True),
        mode=vision_pb2.PORTRAIT_BACKGROUND_ALPHA_ONLY)  # unset smoothing: the default 0.6
    progress, result = await run(client, request)
    assert progress and progress[-1].fraction == pytest.approx(1.0)
    assert all(a.fraction <= b.fraction for a, b in itertools.pairwise(progress))
    assert result.output.uri == "tests/matte.mp4" and result.frames == FRAMES
    mattes = frames_of(media_root / "tests/matte.mp4")
    assert len(mattes) == FRAMES
    truths = [clip.alpha(i) for i in range(FRAMES)]
    ious = [iou(m[..., 0] / 255.0, t) for m, t in zip(mattes, truths, strict=True)]
    assert np.mean(ious) >= 0.85 and min(ious) >= 0.75, (np.mean(ious), min(ious))
    coverage = float(np.mean([t.mean() for t in truths]))
    assert result.mean_person_coverage == pytest.approx(coverage, abs=0.05)
    assert not media.probe(media_root / "tests/matte.mp4").has_audio  # a matte, not a film


async def test_a_composite_keeps_frames_rate_duration_and_audio(
        client: MeshClient, clip: portraits.PortraitClip, media_root: Path) -> None:
    request = vision_pb2.SegmentPortraitRequest(
        input=source(), output=common_pb2.OutputSpec(uri="tests/green.mp4", overwrite=True),
        mode=vision_pb2.PORTRAIT_BACKGROUND_REPLACE_COLOR,
        background_color=common_pb2.RgbColor(r=0, g=255, b=0), temporal_smoothing=0.6)
    _, result = await run(client, request)
    source_info = media.probe(media_root / "tests/portrait.mp4")
    info = media.probe(media_root / "tests/green.mp4")
    assert result.frames == FRAMES and result.output.mime_type == "video/mp4"
    assert (info.width, info.height, info.fps, info.has_audio) == (W, H, FPS, True)
    assert abs((info.frame_count or 0) - FRAMES) <= 1
    assert info.duration == pytest.approx(source_info.duration, abs=0.05)
    audio = media.decode_audio(media_root / "tests/green.mp4", 48000)
    assert np.sqrt(np.mean(audio ** 2)) > 0.05  # the tone came through
    corner = media.read_frame_at(media_root / "tests/green.mp4", 1.0).rgb[:10, :10]
    assert corner[..., 1].mean() > 200 and corner[..., 0].mean() < 50


def _regions(matte: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the service's own matte (uint8 H x W) is surely person, surely background."""
    return (ndimage.binary_erosion(matte >= 250, iterations=2),
            ndimage.binary_erosion(matte <= 5, iterations=2))


def _mostly_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to two H.264 generations: typically within a few levels, and nearly every
    pixel within 16 (the model's matte is not the truth's, so a few are not)."""
    diff = np.abs(a - b).max(-1)
    return bool(np.median(diff) <= 4 and (diff < 16).mean() > 0.95)


async def test_blur_and_replace_image_change_only_the_background(
        client: MeshClient, clip: portraits.PortraitClip, backdrop: np.ndarray,
        media_root: Path) -> None:
    index = 30  # frame 30, 1.2 s
    original = frames_of(media_root / "tests/portrait.mp4")[index].astype(float)
    requests = {
        "matte": vision_pb2.SegmentPortraitRequest(
            input=source(), output=common_pb2.OutputSpec(uri="tests/m.mp4", overwrite=True),
            temporal_smoothing=0.6),
        "blur": vision_pb2.SegmentPortraitRequest(
            input=source(), output=common_pb2.OutputSpec(uri="tests/blur.mp4", overwrite=True),
            mode=vision_pb2.PORTRAIT_BACKGROUND_BLUR, blur_radius=12.0, temporal_smoothing=0.6),
        "image": vision_pb2.SegmentPortraitRequest(
            input=source(), output=common_pb2.OutputSpec(uri="tests/image.mp4", overwrite=True),
            mode=vision_pb2.PORTRAIT_BACKGROUND_REPLACE_IMAGE,
            background_image=common_pb2.MediaRef(uri="tests/backdrop.png"),
            temporal_smoothing=0.6),
    }
    out = {}
    for name, request in requests.items():
        _, result = await run(client, request)
        assert result.frames == FRAMES
        out[name] = frames_of(media_root / result.output.uri)[index].astype(float)
    person, background = _regions(out.pop("matte")[..., 0])
    truth = clip.alpha(index) >= 0.5  # and the matte is the person's, give or take
    assert (person & ~truth).mean() < 0.01 and (background & truth).mean() < 0.01
    for name, frame in out.items():  # the person is untouched (up to the codec)
        assert _mostly_equal(frame[person], original[person]), name
    expected = fit_background(backdrop, H, W).astype(float)
    assert _mostly_equal(out["image"][background], expected[background])
    # the blurred background is the original's, smoothed: same colours, far less detail
    blurred, sharp = out["blur"], original
    assert np.abs(blurred - sharp)[background].mean() > 3.0
    def detail(x: np.ndarray) -> float:  # how far pixels stray from their 9 x 9 mean
        grey = x.mean(-1)
        return float(np.abs(grey - ndimage.uniform_filter(grey, 9))[background].mean())

    assert detail(blurred) < 0.5 * detail(sharp)
    assert abs(blurred[background].mean() - sharp[background].mean()) < 6.0


async def test_a_background_video_is_looped_under_the_clip(
        client: MeshClient, clip: portraits.PortraitClip, flashes: Path,
        media_root: Path) -> None:
    request = vision_pb2.SegmentPortraitRequest(
        input=source(), output=common_pb2.OutputSpec(uri="tests/video.mp4", overwrite=True),
        mode=vision_pb2.PORTRAIT_BACKGROUND_REPLACE_VIDEO,
        background_video=common_pb2.MediaRef(uri="tests/flashes.mp4"))
    _, result = await run(client, request)
    assert result.frames == FRAMES
    frames = frames_of(media_root / "tests/video.mp4")
    for index in (0, 12, 20, 37, 49):  # output time t shows flash int(10 t) mod 6
        k = int(round(index / FPS * 10, 6)) % 6
        corner = frames[index][:12, :12].reshape(-1, 3).mean(0)
        assert np.abs(corner - (40 * k + 20, 200 - 30 * k, 90)).max() < 12, (index, corner)


async def test_an_image_gives_a_png_cut_out(client: MeshClient, clip: portraits.PortraitClip,
                                            media_root: Path) -> None:
    rgb, truth = clip.frame(0)
    request = vision_pb2.SegmentPortraitRequest(
        input=common_pb2.MediaRef(inline_data=media.encode_image(rgb, "png"), name="me.png"))
    _, result = await run(client, request)
    assert result.frames == 1 and result.output.mime_type == "image/png"
    cut_out = Image.open(io.BytesIO((media_root / result.output.uri).read_bytes()))
    assert cut_out.mode == "RGBA" and cut_out.size == (W, H)
    pixels = np.asarray(cut_out)
    assert iou(pixels[..., 3] / 255.0, truth) >= 0.85
    assert np.array_equal(pixels[..., :3], rgb)  # the foreground is the photo itself


def _wav_bytes() -> bytes:
    """Half a second of the tone as a WAV file (audio, no picture)."""
    import wave

    samples = (portraits.tone(0.5) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def _request(**kwargs: object) -> vision_pb2.SegmentPortraitRequest:
    return vision_pb2.SegmentPortraitRequest(input=source(), **kwargs)  # type: ignore[arg-type]


BAD_REQUESTS = [
    ("image_without_background", _request(mode=vision_pb2.PORTRAIT_BACKGROUND_REPLACE_IMAGE),
     "INVALID_ARGUMENT_VALUE", "needs background_image"),
    ("colour_for_video_mode", _request(mode=vision_pb2.PORTRAIT_BACKGROUND_REPLACE_VIDEO,
                                       background_color=common_pb2.RgbColor(r=1)),
     "INVALID_ARGUMENT_VALUE", "needs background_video set, not background_color"),
    ("background_with_blur", _request(mode=vision_pb2.PORTRAIT_BACKGROUND_BLUR,
                                      background_image=common_pb2.MediaRef(uri="tests/x.png")),
     "INVALID_ARGUMENT_VALUE", "set mode to PORTRAIT_BACKGROUND_REPLACE_IMAGE"),
    ("background_without_mode", _request(background_color=common_pb2.RgbColor(r=1)),
     "INVALID_ARGUMENT_VALUE", "mode is PORTRAIT_BACKGROUND_ALPHA_ONLY"),
    ("negative_blur", _request(mode=vision_pb2.PORTRAIT_BACKGROUND_BLUR, blur_radius=-2),
     "INVALID_ARGUMENT_VALUE", "blur_radius must be in [0, 250]"),
    ("absurd_blur", _request(mode=vision_pb2.PORTRAIT_BACKGROUND_BLUR, blur_radius=1e9),
     "INVALID_ARGUMENT_VALUE", "blur_radius must be in [0, 250]"),
    ("blur_without_blur_mode", _request(blur_radius=8),
     "INVALID_ARGUMENT_VALUE", "only used with mode PORTRAIT_BACKGROUND_BLUR"),
    ("smoothing_above_one", _request(temporal_smoothing=1.5),
     "INVALID_ARGUMENT_VALUE", "temporal_smoothing must be in [0, 1]"),
    ("smoothing_negative", _request(temporal_smoothing=-0.1),
     "INVALID_ARGUMENT_VALUE", "temporal_smoothing must be in [0, 1]"),
    ("unknown_mode", _request(mode=42), "INVALID_ARGUMENT_VALUE", "unknown mode 42"),
    ("not_media", vision_pb2.SegmentPortraitRequest(input=common_pb2.MediaRef(
        inline_data=b"just some text, no picture" * 10, name="notes.txt")),
     "MEDIA_UNDECODABLE", "notes.txt"),
    ("audio_only", vision_pb2.SegmentPortraitRequest(input=common_pb2.MediaRef(
        inline_data=_wav_bytes(), name="tone.wav")), "INVALID_ARGUMENT_VALUE", "has no picture"),
    ("range_after_end", _request(range=common_pb2.TimeRange(start=5.0)),
     "INVALID_ARGUMENT_VALUE", "range.start"),
    ("still_background_video", _request(
        mode=vision_pb2.PORTRAIT_BACKGROUND_REPLACE_VIDEO,
        background_video=common_pb2.MediaRef(uri="tests/backdrop.png")),
     "INVALID_ARGUMENT_VALUE", "background_video is a still image"),
]


@pytest.mark.parametrize("name,request_,reason,text", BAD_REQUESTS,
                         ids=[b[0] for b in BAD_REQUESTS])
async def test_bad_input_is_invalid_argument_with_a_reason(
        client: MeshClient, clip: portraits.PortraitClip, backdrop: np.ndarray,
        name: str, request_: vision_pb2.SegmentPortraitRequest, reason: str,
        text: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run(client, request_)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert text in caught.value.details()
    assert error_info(caught.value)[0] == reason



def test_cli_blurs_the_background_and_explains_bad_options(
        mesh: Settings, clip: portraits.PortraitClip, tmp_path: Path) -> None:
    source_file = mesh.media_root / "tests" / "portrait.mp4"
    done = cli(mesh, "portrait", str(source_file), "--mode", "blur", "--output",
               "tests/cli_blur.mp4", "--end", "2")
    assert done.returncode == 0, done.stderr
    assert "output:" in done.stdout and "people cover" in done.stdout
    written = media.probe(mesh.media_root / "tests" / "cli_blur.mp4")
    assert written.duration == pytest.approx(2.0, abs=0.1)
    wrong = cli(mesh, "portrait", str(source_file), "--mode", "image")
    assert wrong.returncode == 1 and "--background" in wrong.stderr
    assert "Traceback" not in wrong.stderr
