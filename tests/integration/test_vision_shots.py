"""DetectShots through the real mesh: client -> VisionService -> Triton (shot_features), on a
generated clip with exact truth (mediamesh.synth.videos)."""
from __future__ import annotations

import json
from pathlib import Path

import av
import grpc
import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.grpc_errors import error_info
from mediamesh.synth import videos
from mediamesh.v1 import common_pb2, vision_pb2
from tests.integration.streams import collect
from tests.integration.test_mesh_health import cli

SEED = 521  # 6 shots: opens with a fade in; fade in, fade out, cut, dissolve; 2 flashes
TYPES = {videos.Transition.NONE: vision_pb2.TRANSITION_TYPE_UNSPECIFIED,
         videos.Transition.CUT: vision_pb2.TRANSITION_TYPE_CUT,
         videos.Transition.DISSOLVE: vision_pb2.TRANSITION_TYPE_DISSOLVE,
         videos.Transition.FADE_IN: vision_pb2.TRANSITION_TYPE_FADE_IN,
         videos.Transition.FADE_OUT: vision_pb2.TRANSITION_TYPE_FADE_OUT}


@pytest.fixture(scope="module")
def clip(media_root: Path) -> videos.ClipTruth:
    path = media_root / "tests" / "shots.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    return videos.write_clip(path, SEED, shots=6)


async def run(client: MeshClient, request: vision_pb2.DetectShotsRequest
              ) -> tuple[list[common_pb2.Progress], vision_pb2.DetectShotsResult]:
    return await collect(client.vision.DetectShots(request, timeout=300))


def video(**kwargs: object) -> vision_pb2.DetectShotsRequest:
    return vision_pb2.DetectShotsRequest(video=common_pb2.MediaRef(uri="tests/shots.mp4"),
                                         **kwargs)  # type: ignore[arg-type]


async def test_shots_at_the_true_frames_with_their_transitions(
        client: MeshClient, clip: videos.ClipTruth, media_root: Path) -> None:
    progress, result = await run(client, video(detect_gradual=True, with_keyframes=True))
    assert result.frame_count == clip.frame_count and result.fps == pytest.approx(clip.fps)
    assert len(result.shots) == len(clip.shots)
    for got, want in zip(result.shots, clip.shots, strict=True):
        gradual = want.transition_in is videos.Transition.DISSOLVE
        assert abs(got.start_frame - want.start) <= (2 if gradual else 0), (got, want)
        assert got.transition_in == TYPES[want.transition_in]
    for i, shot in enumerate(result.shots):
        assert shot.index == i and 0 < shot.mean_luma < 1 and 0 <= shot.motion <= 1
        assert shot.range.start == pytest.approx(shot.start_frame / clip.fps, abs=1e-3)
        assert shot.range.end == pytest.approx(shot.end_frame / clip.fps, abs=1e-3)
        assert shot.keyframe.mime_type == "image/jpeg" and ".shot" in shot.keyframe.uri
        keyframe = media.read_image(media_root / shot.keyframe.uri)
        assert keyframe.shape == (clip.height, clip.width, 3)
        assert keyframe.mean() > 10  # a picture, not the black of a fade
    assert result.shots[-1].end_frame == clip.frame_count
    assert [s.end_frame for s in result.shots[:-1]] == [s.start_frame for s in result.shots[1:]]
    assert progress and progress[-1].fraction == pytest.approx(1.0)
    assert all(a.fraction <= b.fraction for a, b in zip(progress, progress[1:]))
    assert {p.stage for p in progress} == {"features", "keyframes"}


async def test_cuts_only_and_a_range(client: MeshClient, clip: videos.ClipTruth) -> None:
    _, result = await run(client, video(range=common_pb2.TimeRange(start=10.0, end=22.0)))
    cuts = [b.frame for b in clip.boundaries
            if b.kind is videos.Transition.CUT and 250 < b.frame < 550]
    assert [s.start_frame for s in result.shots] == [250] + cuts  # frame numbers of the source
    assert result.frame_count == 300 and result.shots[-1].end_frame == 550
    assert all(not s.HasField("keyframe") for s in result.shots)


def empty_video(path: Path) -> None:
    """An MP4 with a video stream and no frames."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()


@pytest.fixture(scope="module")
def bad_files(media_root: Path, clip: videos.ClipTruth) -> None:
    folder = media_root / "tests"
    media.write_audio(folder / "tone.wav", np.zeros(4800, np.float32), 48000)
    media.write_image(folder / "still.png", np.zeros((8, 8, 3), np.uint8))
    empty_video(folder / "empty.mp4")


def _request(uri: str = "tests/shots.mp4", **kwargs: object) -> vision_pb2.DetectShotsRequest:
    return vision_pb2.DetectShotsRequest(video=common_pb2.MediaRef(uri=uri),
                                         **kwargs)  # type: ignore[arg-type]


BAD = [
    ("garbage", vision_pb2.DetectShotsRequest(video=common_pb2.MediaRef(
        inline_data=b"not a video at all" * 20, name="x.mp4")),
     grpc.StatusCode.INVALID_ARGUMENT, "MEDIA_UNDECODABLE", "x.mp4"),
    ("audio_only", _request("tests/tone.wav"), grpc.StatusCode.INVALID_ARGUMENT,
     "INVALID_ARGUMENT_VALUE", "no picture"),
    ("still_image", _request("tests/still.png"), grpc.StatusCode.INVALID_ARGUMENT,
     "INVALID_ARGUMENT_VALUE", "still image"),
    ("zero_frames", _request("tests/empty.mp4"), grpc.StatusCode.INVALID_ARGUMENT,
     "INVALID_ARGUMENT_VALUE", "no picture"),
    ("range_after_end", _request(range=common_pb2.TimeRange(start=600.0)),
     grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT_VALUE", "range.start"),
    ("range_backwards", _request(range=common_pb2.TimeRange(start=5.0, end=2.0)),
     grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT_VALUE", "range.end"),
    ("sensitivity", _request(threshold_sensitivity=1.5), grpc.StatusCode.INVALID_ARGUMENT,
     "INVALID_ARGUMENT_VALUE", "threshold_sensitivity"),
    ("missing", _request("tests/nope.mp4"), grpc.StatusCode.NOT_FOUND, "MEDIA_NOT_FOUND",
     "tests/nope.mp4"),
    ("empty", vision_pb2.DetectShotsRequest(), grpc.StatusCode.INVALID_ARGUMENT,
     "INVALID_ARGUMENT_VALUE", "video is empty"),
]


@pytest.mark.parametrize("name,request_,code,reason,text", BAD, ids=[b[0] for b in BAD])
async def test_bad_input_gets_a_clear_status(client: MeshClient, bad_files: None, name: str,
                                             request_: vision_pb2.DetectShotsRequest,
                                             code: grpc.StatusCode, reason: str,
                                             text: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run(client, request_)
    assert caught.value.code() == code, caught.value.details()
    assert text in caught.value.details()
    assert error_info(caught.value)[0] == reason


def test_cli_prints_a_table_and_json(mesh: Settings, tmp_path: Path) -> None:
    source = tmp_path / "three.mp4"  # outside the media root: the CLI stages it
    truth = videos.write_clip(source, 7, shots=3, width=320, height=180, gradual=False)
    table = cli(mesh, "shots", str(source), "--keyframes")
    assert table.returncode == 0, table.stderr
    assert "3 shots in" in table.stdout and table.stdout.count("cut") == 2
    assert ".shot002.jpg" in table.stdout
    as_json = cli(mesh, "shots", str(source), "--gradual", "--json")
    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    assert [int(s["start_frame"]) for s in result["shots"]] == [s.start for s in truth.shots]
    assert result["shots"][1]["transition_in"] == "TRANSITION_TYPE_CUT"
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video" * 50)
    failed = cli(mesh, "shots", str(broken))
    assert failed.returncode == 1 and "INVALID_ARGUMENT" in failed.stderr
    assert "Traceback" not in failed.stderr and len(failed.stderr.splitlines()) == 1
