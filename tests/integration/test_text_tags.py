"""TagMedia through the mesh: tags from a video's subtitles and scene text (OCR on Triton),
from a picture, and from speech (Whisper on Triton), each with where it occurs."""
from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.synth import subtitles
from mediamesh.v1 import common_pb2, text_pb2
from tests.integration.streams import assert_invalid_argument, collect
from tests.integration.test_text_ocr import LINES, draw

LINE_TEXTS = ("The train leaves at seven", "Where did you put the keys?",
              "The train was late again", "Keys to the old station")


async def tag(client: MeshClient, uri: str, **fields: object
              ) -> tuple[list[common_pb2.Progress], text_pb2.TagMediaResult]:
    return await collect(client.text.TagMedia(text_pb2.TagMediaRequest(
        media=common_pb2.MediaRef(uri=uri), **fields), timeout=600))


async def test_tags_of_a_video_occur_where_their_subtitles_are(client: MeshClient,
                                                               media_root: Path) -> None:
    path = media_root / "tags" / "clip.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    truth = subtitles.write_clip(path, 11, width=640, height=360, seconds=10.0,
                                 lines=LINE_TEXTS, scene_text="EXIT 12")
    progress, result = await tag(client, "tags/clip.mp4", use_ocr=True, top_k=5)
    assert {p.stage for p in progress} >= {"subtitles", "scene text"}
    assert 0 < len(result.tags) <= 5
    for found in result.tags:
        assert found.source == text_pb2.TAG_SOURCE_OCR and 0 < found.score <= 1
        for span in found.occurrences:
            said = [c for c in truth.cues if c.start < span.end + 0.3 and c.end > span.start - 0.3
                    and found.label.lower() in c.text.lower()]
            scene = found.label.lower() in "exit 12"
            assert said or scene, (found.label, span)
    for cue in truth.cues:
        assert cue.text in result.ocr_text
    assert "EXIT 12" in result.ocr_text  # the sign, read as scene text outside the band
    assert result.transcript == ""


async def test_a_picture_is_tagged_from_its_text(client: MeshClient, media_root: Path) -> None:
    picture, _ = draw(LINES, (30, 70, 50))
    (media_root / "tags").mkdir(parents=True, exist_ok=True)
    media.write_image(media_root / "tags" / "slide.png", picture)
    _, result = await tag(client, "tags/slide.png", use_ocr=True, use_speech=True)
    labels = {t.label.lower() for t in result.tags}
    assert labels & {"mediamesh", "quick brown fox", "brown fox", "fox", "column"}
    assert all(t.occurrences[0].start == 0 for t in result.tags)


async def test_bad_tag_requests(client: MeshClient, media_root: Path) -> None:
    await assert_invalid_argument(tag(client, "tags/slide.png"), "use_ocr", "nothing to tag")
    silent = media_root / "tags" / "tone.wav"
    silent.parent.mkdir(parents=True, exist_ok=True)
    media.write_audio(silent, np.zeros(16000, np.float32), 16000)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await tag(client, "tags/tone.wav", use_ocr=True)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "audio and no picture" in caught.value.details()


async def test_a_caption_that_stays_on_screen_is_tagged(client: MeshClient,
                                                        media_root: Path) -> None:
    """A caption shown for the whole clip is dropped from the subtitle cues as a watermark,
    but it is on-screen text: TagMedia still reads it."""
    from PIL import Image, ImageDraw

    from mediamesh import fonts
    from mediamesh.synth import videos

    face = fonts.default_face()
    assert face is not None, "make system installs DejaVu Sans"
    font = face.load(30)
    path = media_root / "tags" / "captioned.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    with media.VideoWriter(path, 640, 360, 25.0) as writer:
        for frame in videos.shot_frames("pan", 4, 200, 640, 360):  # 8 s, one shot
            picture = Image.fromarray(frame)
            ImageDraw.Draw(picture).text((320, 318), "Golden Gate Bridge", font=font,
                                         anchor="ms", fill="white", stroke_width=2,
                                         stroke_fill="black")
            writer.write(np.asarray(picture))
    _, result = await tag(client, "tags/captioned.mp4", use_ocr=True, top_k=5)
    assert "Golden Gate Bridge" in result.ocr_text
    assert any("golden gate" in t.label.lower() or "bridge" in t.label.lower()
               for t in result.tags)
