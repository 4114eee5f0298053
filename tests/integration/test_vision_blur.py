"""BlurRegions through the whole path: client -> VisionService -> Triton (edge_features for
the logo search), on generated clips with a logo burned in at a known box
(mediamesh.synth.overlays)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.synth import overlays
from mediamesh.v1 import common_pb2, vision_pb2
from tests.integration.streams import assert_invalid_argument, collect
from tests.integration.test_mesh_health import cli

W, H, FPS, SECONDS = 320, 180, 25.0, 6.0


@pytest.fixture(scope="module")
def logo_clip(media_root: Path) -> overlays.OverlayTruth:
    path = media_root / "tests" / "logo.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    return overlays.write_clip(path, 3, width=W, height=H, fps=FPS, seconds=SECONDS,
                               corner="top_right")


@pytest.fixture(scope="module")
def plain_clip(media_root: Path) -> overlays.OverlayTruth:
    path = media_root / "tests" / "nologo.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    return overlays.write_clip(path, 4, width=W, height=H, fps=FPS, seconds=4.0, logo=False,
                               audio=False)


@pytest.fixture(scope="module")
def busy_clip(media_root: Path) -> Path:
    """Five seconds of coarse random blocks, new every frame: detail everywhere, so any
    obscured box shows."""
    path = media_root / "tests" / "busy.mp4"
    rng = np.random.default_rng(6)
    with media.VideoWriter(path, W, H, FPS) as writer:
        for _ in range(int(5 * FPS)):
            blocks = rng.integers(0, 256, (H // 4, W // 4, 3), dtype=np.uint8)
            writer.write(np.repeat(np.repeat(blocks, 4, axis=0), 4, axis=1))
    return path


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return ix * iy / (aw * ah + bw * bh - ix * iy)


def detail(frame: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean absolute horizontal step inside (left, top, right, bottom): what a blur removes."""
    left, top, right, bottom = box
    patch = frame[top:bottom, left:right].astype(np.float32)
    return float(np.abs(np.diff(patch, axis=1)).mean())


def pixels(box: tuple[float, float, float, float], inset: int = 0) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return (round(x * W) + inset, round(y * H) + inset, round((x + w) * W) - inset,
            round((y + h) * H) - inset)


async def run(client: MeshClient, request: vision_pb2.BlurRegionsRequest
              ) -> tuple[list[common_pb2.Progress], vision_pb2.BlurRegionsResult]:
    return await collect(client.vision.BlurRegions(request, timeout=180))


async def test_the_logo_is_found_where_it_was_drawn_and_blurred(
        client: MeshClient, logo_clip: overlays.OverlayTruth, media_root: Path) -> None:
    request = vision_pb2.BlurRegionsRequest(
        video=common_pb2.MediaRef(uri="tests/logo.mp4"), auto_detect_logos=True,
        output=common_pb2.OutputSpec(uri="tests/logo_blurred.mp4", overwrite=True))
    progress, result = await run(client, request)
    assert {p.stage for p in progress} == {"finding logos", "blurring"}
    assert progress[-1].fraction == 1.0
    assert len(result.detected) == 1, result.detected
    found = result.detected[0]
    assert logo_clip.box is not None
    assert iou((found.box.x, found.box.y, found.box.width, found.box.height),
               logo_clip.box) >= 0.6
    assert found.range.start <= 0.5 and found.range.end >= SECONDS - 0.5
    assert found.confidence > 0.5
    source, out = media_root / "tests" / "logo.mp4", media_root / result.output.uri
    info = media.probe(out)
    assert info.frame_count == logo_clip.frame_count and info.fps == FPS and info.has_audio
    before = [f.rgb for f in media.iter_frames(source)]
    after = [f.rgb for f in media.iter_frames(out)]
    inside = pixels(logo_clip.box, inset=2)
    for i in (10, 80, 140):  # three different shots
        assert detail(after[i], inside) < 0.5 * detail(before[i], inside)
        # far from the logo the picture is the source's (up to the re-encode)
        outside = np.abs(after[i][H // 2:, :W // 2].astype(int)
                         - before[i][H // 2:, :W // 2].astype(int))
        assert outside.mean() < 3.0


async def test_a_keyframed_box_moves_and_holds_and_mosaic_makes_cells(
        client: MeshClient, busy_clip: Path, media_root: Path) -> None:
    region = vision_pb2.Region(
        keyframes=[common_pb2.KeyframedBox(time=1.0, box=common_pb2.Box(
                       x=0.1, y=0.5, width=0.2, height=0.3)),
                   common_pb2.KeyframedBox(time=3.0, box=common_pb2.Box(
                       x=0.5, y=0.5, width=0.2, height=0.3))],
        range=common_pb2.TimeRange(start=0.0, end=4.0))
    request = vision_pb2.BlurRegionsRequest(
        video=common_pb2.MediaRef(uri="tests/busy.mp4"), regions=[region],
        style=vision_pb2.BLUR_STYLE_MOSAIC, strength=1.0,
        output=common_pb2.OutputSpec(uri="tests/moving_box.mp4", overwrite=True))
    _, result = await run(client, request)
    assert not result.detected
    before = [f.rgb for f in media.iter_frames(busy_clip)]
    after = [f.rgb for f in media.iter_frames(media_root / result.output.uri)]
    start_box, end_box = pixels((0.1, 0.5, 0.2, 0.3), 2), pixels((0.5, 0.5, 0.2, 0.3), 2)
    middle = pixels((0.3, 0.5, 0.2, 0.3), 2)  # at 2 s the box is halfway
    for frame, box in ((10, start_box), (50, middle), (85, end_box)):  # 85: held after 3 s
        assert detail(after[frame], box) < 0.5 * detail(before[frame], box), frame
    assert detail(after[10], end_box) > 0.8 * detail(before[10], end_box)  # not there yet
    assert detail(after[110], end_box) > 0.8 * detail(before[110], end_box)  # range over
    # mosaic: strength 1 makes cells 2/5 of the box's shorter side (54 px -> 22 px)
    left, top, right, bottom = pixels((0.5, 0.5, 0.2, 0.3))
    cell = after[85][top + 4:top + 18, left + 4:left + 18].astype(np.float32)
    source = before[85][top + 4:top + 18, left + 4:left + 18].astype(np.float32)
    assert cell.std(axis=(0, 1)).max() < 0.15 * source.std(axis=(0, 1)).min()  # one colour


async def test_no_logo_is_found_in_a_clip_without_one(
        client: MeshClient, plain_clip: overlays.OverlayTruth, media_root: Path) -> None:
    request = vision_pb2.BlurRegionsRequest(
        video=common_pb2.MediaRef(uri="tests/nologo.mp4"), auto_detect_logos=True,
        output=common_pb2.OutputSpec(uri="tests/nologo_out.mp4", overwrite=True))
    _, result = await run(client, request)
    assert list(result.detected) == []
    assert media.probe(media_root / result.output.uri).frame_count == plain_clip.frame_count


def _request(**kwargs: object) -> vision_pb2.BlurRegionsRequest:
    return vision_pb2.BlurRegionsRequest(video=common_pb2.MediaRef(uri="tests/logo.mp4"),
                                         **kwargs)  # type: ignore[arg-type]


def _static(x: float, y: float, w: float, h: float, **kwargs: object) -> vision_pb2.Region:
    return vision_pb2.Region(keyframes=[common_pb2.KeyframedBox(
        box=common_pb2.Box(x=x, y=y, width=w, height=h))], **kwargs)  # type: ignore[arg-type]


BAD_REQUESTS = [
    ("nothing_to_blur", _request(), "regions", "nothing to blur"),
    ("zero_area_box", _request(regions=[_static(0.1, 0.1, 0.0, 0.2)]),
     "regions[0].keyframes[0].box", "has no area"),
    ("box_outside", _request(regions=[_static(0.5, 0.5, 0.2, 0.2), _static(0.9, 0.1, 0.3, 0.1)]),
     "regions[1].keyframes[0].box", "reaches outside the frame"),
    ("no_keyframes", _request(regions=[vision_pb2.Region()]), "regions[0].keyframes",
     "has no keyframes"),
    ("backwards_range", _request(regions=[_static(0.1, 0.1, 0.2, 0.2, range=common_pb2.TimeRange(
        start=3.0, end=1.0))]), "regions[0].range.end", "must be after start"),
    ("strength", _request(regions=[_static(0.1, 0.1, 0.2, 0.2)], strength=3.0), "strength",
     "strength must be in [0, 1]"),
    ("style", _request(regions=[_static(0.1, 0.1, 0.2, 0.2)], style=9), "style",
     "unknown style 9"),
    ("logos_on_a_still", vision_pb2.BlurRegionsRequest(
        video=common_pb2.MediaRef(uri="tests/logo_still.png"), auto_detect_logos=True),
     "auto_detect_logos", "needs a video"),
]


@pytest.mark.parametrize("name,request_,field,text", BAD_REQUESTS,
                         ids=[b[0] for b in BAD_REQUESTS])
async def test_bad_input_is_invalid_argument_naming_the_field(
        client: MeshClient, logo_clip: overlays.OverlayTruth, media_root: Path, name: str,
        request_: vision_pb2.BlurRegionsRequest, field: str, text: str) -> None:
    media.write_image(media_root / "tests" / "logo_still.png", np.zeros((90, 160, 3), np.uint8))
    await assert_invalid_argument(run(client, request_), field, text)


async def test_a_still_image_is_blurred_to_a_png(client: MeshClient, media_root: Path) -> None:
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    media.write_image(media_root / "tests" / "noise.png", image)
    _, result = await run(client, vision_pb2.BlurRegionsRequest(
        video=common_pb2.MediaRef(uri="tests/noise.png"),
        regions=[_static(0.0, 0.0, 0.5, 1.0)],
        output=common_pb2.OutputSpec(uri="tests/noise_blurred.png", overwrite=True)))
    out = media.read_image(media_root / result.output.uri)
    assert out.shape == image.shape
    assert detail(out, (0, 0, 80, 90)) < 0.3 * detail(image, (0, 0, 80, 90))
    np.testing.assert_array_equal(out[:, 81:], image[:, 81:])


def test_cli_hides_the_logo_and_reports_it(mesh: Settings, logo_clip: overlays.OverlayTruth
                                           ) -> None:
    done = cli(mesh, "blur", str(mesh.media_root / "tests" / "logo.mp4"), "--logos",
               "--box", "0:0.1,0.5,0.2,0.3;3:0.5,0.5,0.2,0.3", "--output", "tests/cli_blur.mp4")
    assert done.returncode == 0, done.stderr
    assert "output:" in done.stdout and "logo at x=0.8" in done.stdout
    bad = cli(mesh, "blur", str(mesh.media_root / "tests" / "logo.mp4"), "--box", "1,2,3")
    assert bad.returncode != 0 and "a box is 'x,y,w,h'" in bad.stderr
