"""Reframe through the whole path: client -> VisionService -> Triton (shot_features,
face_detection, selfie_segmentation), on generated clips where the face's box is exact in
every frame (mediamesh.synth.portraits: the astronaut moving over moving backgrounds)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.synth import portraits
from mediamesh.v1 import common_pb2, vision_pb2
from tests.integration.streams import assert_invalid_argument, collect
from tests.integration.test_mesh_health import cli

W, H, FPS = 640, 360, 25.0


@pytest.fixture(scope="module")
def clip(media_root: Path) -> portraits.PortraitClip:
    path = media_root / "tests" / "reframe.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    return portraits.write_clip(path, 21, width=W, height=H, fps=FPS, seconds=4.0,
                                background="texture")


@pytest.fixture(scope="module")
def two_shots(media_root: Path) -> tuple[list[portraits.Pose], int]:
    """Two portrait clips back to back (a hard cut at frame 50): poses and the cut."""
    path = media_root / "tests" / "reframe_cut.mp4"
    first = portraits.plan_clip(31, width=W, height=H, fps=FPS, seconds=2.0, background="photo")
    second = portraits.plan_clip(32, width=W, height=H, fps=FPS, seconds=2.0,
                                 background="shapes")
    with media.VideoWriter(path, W, H, FPS) as writer:
        for part in (first, second):
            for rgb, _ in part.frames():
                writer.write(rgb)
    return first.truth.poses + second.truth.poses, len(first.truth.poses)


def crop_at(result: vision_pb2.ReframeResult, t: float) -> tuple[float, float, float, float]:
    """The result's crop at `t`: its shot's keyframes, linearly interpolated and held."""
    shot = next(s for s in reversed(result.shots) if s.range.start <= t + 1e-6)
    keys = [k for k in result.path if shot.range.start - 1e-6 <= k.time <= shot.range.end + 1e-6]
    times = np.array([k.time for k in keys])
    boxes = np.array([(k.crop.x, k.crop.y, k.crop.width, k.crop.height) for k in keys])
    return tuple(float(np.interp(t, times, boxes[:, i])) for i in range(4))  # type: ignore


def inside(face: tuple[float, float, float, float], crop: tuple[float, float, float, float],
           tolerance: float = 0.005) -> bool:
    fx, fy, fw, fh = face
    cx, cy, cw, ch = crop
    return (fx >= cx - tolerance and fx + fw <= cx + cw + tolerance
            and fy >= cy - tolerance and fy + fh <= cy + ch + tolerance)


async def run(client: MeshClient, request: vision_pb2.ReframeRequest
              ) -> tuple[list[common_pb2.Progress], vision_pb2.ReframeResult]:
    return await collect(client.vision.Reframe(request, timeout=300))


async def test_the_face_stays_in_a_vertical_crop_that_the_video_follows(
        client: MeshClient, clip: portraits.PortraitClip, media_root: Path) -> None:
    request = vision_pb2.ReframeRequest(
        video=common_pb2.MediaRef(uri="tests/reframe.mp4"),
        output=common_pb2.OutputSpec(uri="tests/vertical.mp4", overwrite=True),
        aspect_ratio=vision_pb2.AspectRatio(width=9, height=16))
    progress, result = await run(client, request)
    assert {p.stage for p in progress} >= {"shots", "signals", "rendering"}
    assert progress[-1].fraction == 1.0
    assert len(result.shots) == 1 and result.shots[0].mode != vision_pb2.CAMERA_MODE_UNSPECIFIED
    assert not result.shots[0].padded
    truth = clip.truth
    held = [inside(portraits.face_box(pose, W, H), crop_at(result, i / FPS))
            for i, pose in enumerate(truth.poses)]
    assert np.mean(held) >= 0.97, np.flatnonzero(~np.array(held))
    for k in result.path:
        assert 0 <= k.crop.x and k.crop.x + k.crop.width <= 1 + 1e-6
        assert k.crop.height == pytest.approx(1.0) and k.crop.width == pytest.approx(202 / W)
    out = media_root / result.output.uri
    info = media.probe(out)
    assert (info.width, info.height) == (202, 360)
    assert info.frame_count == truth.frame_count and info.fps == FPS and info.has_audio
    source = [f.rgb for f in media.iter_frames(media_root / "tests" / "reframe.mp4")]
    for i, frame in ((5, None), (60, None)):  # the output is the source's crop, unscaled
        x, _, w, _ = crop_at(result, i / FPS)
        left = round(x * W)
        picture = next(f.rgb for f in media.iter_frames(out, start=i / FPS, end=(i + 1) / FPS))
        diff = np.abs(picture.astype(int) - source[i][:, left:left + 202].astype(int))
        assert diff.mean() < 4.0, (i, diff.mean())


async def test_each_shot_gets_its_own_camera(
        client: MeshClient, two_shots: tuple[list[portraits.Pose], int], media_root: Path
        ) -> None:
    poses, cut = two_shots
    _, result = await run(client, vision_pb2.ReframeRequest(
        video=common_pb2.MediaRef(uri="tests/reframe_cut.mp4"),
        output=common_pb2.OutputSpec(uri="tests/vertical_cut.mp4", overwrite=True),
        target_width=270, target_height=480))
    assert [round(s.range.start * FPS) for s in result.shots] == [0, cut]
    held = [inside(portraits.face_box(p, W, H), crop_at(result, i / FPS))
            for i, p in enumerate(poses)]
    assert np.mean(held) >= 0.97
    info = media.probe(media_root / result.output.uri)
    assert (info.width, info.height) == (270, 480) and info.frame_count == len(poses)


async def test_a_face_wider_than_the_crop_is_blur_padded(
        client: MeshClient, clip: portraits.PortraitClip, media_root: Path) -> None:
    # 1:5 of 360 px is 72 px: narrower than the face (~90 px), so it cannot be cut around
    _, result = await run(client, vision_pb2.ReframeRequest(
        video=common_pb2.MediaRef(uri="tests/reframe.mp4"),
        output=common_pb2.OutputSpec(uri="tests/padded.mp4", overwrite=True),
        aspect_ratio=vision_pb2.AspectRatio(width=1, height=5), allow_blur_pad=True))
    assert result.shots[0].padded
    picture = next(f.rgb for f in media.iter_frames(media_root / result.output.uri))
    assert picture.shape[:2] == (360, 72)
    # letterboxed: the bands above and below the content are the blurred fill, smooth
    top_band = picture[:40].astype(np.float32)
    assert np.abs(np.diff(top_band, axis=1)).mean() < 3.0


def _request(**kwargs: object) -> vision_pb2.ReframeRequest:
    return vision_pb2.ReframeRequest(video=common_pb2.MediaRef(uri="tests/reframe.mp4"),
                                     **kwargs)  # type: ignore[arg-type]


BAD_REQUESTS = [
    ("zero_aspect", _request(aspect_ratio=vision_pb2.AspectRatio(width=0, height=1)),
     "aspect_ratio", "has a zero side"),
    ("absurd_aspect", _request(aspect_ratio=vision_pb2.AspectRatio(width=100, height=1)),
     "aspect_ratio", "beyond 20:1"),
    ("width_alone", _request(target_width=320), "target_height", "go together"),
    ("huge_output", _request(target_width=10000, target_height=20000), "target_width",
     "at most 4096"),
    ("speed", _request(max_pan_speed=-1.0), "max_pan_speed", "must be in (0, 5]"),
    ("text_signal", _request(signals=[vision_pb2.SignalWeight(
        kind=vision_pb2.SIGNAL_KIND_TEXT, weight=1.0)]), "signals[0].kind", "not available"),
    ("duplicate_signal", _request(signals=[
        vision_pb2.SignalWeight(kind=vision_pb2.SIGNAL_KIND_FACE, weight=1.0),
        vision_pb2.SignalWeight(kind=vision_pb2.SIGNAL_KIND_FACE, weight=2.0)]), "signals",
     "twice"),
    ("negative_weight", _request(signals=[vision_pb2.SignalWeight(
        kind=vision_pb2.SIGNAL_KIND_PERSON, weight=-1.0)]), "signals[0].weight", ">= 0"),
    ("mode", _request(force_mode=7), "force_mode", "unknown force_mode 7"),
    ("still", vision_pb2.ReframeRequest(video=common_pb2.MediaRef(uri="tests/reframe_still.png")),
     "video", "Reframe needs a video"),
]


@pytest.mark.parametrize("name,request_,field,text", BAD_REQUESTS,
                         ids=[b[0] for b in BAD_REQUESTS])
async def test_bad_input_is_invalid_argument_naming_the_field(
        client: MeshClient, clip: portraits.PortraitClip, media_root: Path, name: str,
        request_: vision_pb2.ReframeRequest, field: str, text: str) -> None:
    media.write_image(media_root / "tests" / "reframe_still.png", np.zeros((90, 160, 3),
                                                                             np.uint8))
    await assert_invalid_argument(run(client, request_), field, text)


def test_cli_reframes_and_prints_the_camera_per_shot(mesh: Settings,
                                                     clip: portraits.PortraitClip) -> None:
    done = cli(mesh, "reframe", str(mesh.media_root / "tests" / "reframe.mp4"), "--aspect",
               "1:1", "--output", "tests/cli_square.mp4")
    assert done.returncode == 0, done.stderr
    assert "output:" in done.stdout and "360x360" in done.stdout
    assert any(m in done.stdout for m in ("stationary", "panning", "tracking"))
    bad = cli(mesh, "reframe", str(mesh.media_root / "tests" / "reframe.mp4"), "--aspect", "9x16")
    assert bad.returncode != 0 and "--aspect must be like 9:16" in bad.stderr
