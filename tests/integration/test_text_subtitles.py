"""ExtractSubtitles through the mesh: burned-in subtitles of a clip rendered with exact cue
times (mediamesh.synth.subtitles) come back as cues and SRT/JSON files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mediamesh.client import MeshClient
from mediamesh.synth import subtitles
from mediamesh.v1 import common_pb2, text_pb2
from tests.integration.streams import assert_invalid_argument, collect

SEED = 5


@pytest.fixture(scope="module")
def clip(media_root: Path) -> subtitles.SubtitleTruth:
    path = media_root / "subs" / "clip.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    return subtitles.write_clip(path, SEED, width=640, height=360, seconds=8.0)


async def test_cues_come_back_with_their_times_and_text(client: MeshClient,
                                                       clip: subtitles.SubtitleTruth,
                                                       media_root: Path) -> None:
    progress, result = await collect(client.text.ExtractSubtitles(
        text_pb2.ExtractSubtitlesRequest(
            video=common_pb2.MediaRef(uri="subs/clip.mp4"),
            output=common_pb2.OutputSpec(uri="subs/clip.srt", overwrite=True)), timeout=300))
    assert progress and progress[-1].fraction == pytest.approx(1.0)
    assert [c.text for c in result.cues] == [c.text for c in clip.cues]
    for got, want in zip(result.cues, clip.cues, strict=True):
        assert abs(got.range.start - want.start) <= 0.25, (got, want)
        assert abs(got.range.end - want.end) <= 0.25, (got, want)
        assert got.language == "en" and got.confidence > 0.8
        assert got.box.y >= 0.65 and got.box.y + got.box.height <= 1.0
    srt = (media_root / result.srt.uri).read_text()
    assert srt.startswith("1\n00:00:0") and clip.cues[0].text in srt
    cues = json.loads((media_root / result.json.uri).read_text())["cues"]
    assert [c["text"] for c in cues] == [c.text for c in clip.cues]


@pytest.mark.parametrize("fields,field,text", [
    ({"sample_fps": 100.0}, "sample_fps", "sample_fps must be in"),
    ({"languages": ["klingon"]}, "languages", "not supported"),
    ({"region": common_pb2.Box(x=0, y=0.9, width=1, height=0.2)}, "region", "outside"),
    ({"merge_similarity": 2.0}, "merge_similarity", "merge_similarity must be"),
])
async def test_bad_requests_name_the_field(client: MeshClient, clip: subtitles.SubtitleTruth,
                                           fields: dict[str, object], field: str,
                                           text: str) -> None:
    stream = client.text.ExtractSubtitles(text_pb2.ExtractSubtitlesRequest(
        video=common_pb2.MediaRef(uri="subs/clip.mp4"), **fields), timeout=60)
    await assert_invalid_argument(collect(stream), field, text)


async def test_subtitles_at_the_top_are_found_and_a_watermark_and_a_sign_are_not_cues(
        client: MeshClient, media_root: Path) -> None:
    path = media_root / "subs" / "top.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    truth = subtitles.write_clip(path, SEED + 1, width=640, height=360, seconds=10.0,
                                 position="top", watermark="CH7 NEWS", scene_text="EXIT 12")
    _, result = await collect(client.text.ExtractSubtitles(text_pb2.ExtractSubtitlesRequest(
        video=common_pb2.MediaRef(uri="subs/top.mp4"),
        output=common_pb2.OutputSpec(uri="subs/top.srt", overwrite=True)), timeout=300))
    assert [c.text for c in result.cues] == [c.text for c in truth.cues]
    assert all(c.box.y + c.box.height < 0.35 for c in result.cues)
    # the same clip read in the bottom band only: the watermark is the one text there, on
    # every frame, and is dropped as one
    _, bottom = await collect(client.text.ExtractSubtitles(text_pb2.ExtractSubtitlesRequest(
        video=common_pb2.MediaRef(uri="subs/top.mp4"),
        region=common_pb2.Box(x=0.5, y=0.85, width=0.5, height=0.15),
        output=common_pb2.OutputSpec(uri="subs/bottom.srt", overwrite=True)), timeout=300))
    assert list(bottom.cues) == []
