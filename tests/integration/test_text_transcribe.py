"""Transcribe through the mesh (TextService -> Silero VAD, whisper_encoder and
whisper_decoder on Triton) on speech espeak-ng says, and TagMedia from a video's speech."""
from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.synth.speech import RATE, programme
from mediamesh.v1 import common_pb2, text_pb2
from tests.integration.streams import assert_invalid_argument, collect

LINES = ["Good evening and welcome to the news.",
         "The city library will open a new reading room next month."]


@pytest.fixture(scope="module")
def speech(media_root: Path) -> list:
    audio, spoken = programme(LINES, "en")
    path = media_root / "speech" / "news.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    media.write_audio(path, audio, RATE)
    return spoken


async def transcribe(client: MeshClient, uri: str, **fields: object
                     ) -> tuple[list[common_pb2.Progress], text_pb2.TranscribeResult]:
    return await collect(client.text.Transcribe(text_pb2.TranscribeRequest(
        audio=common_pb2.MediaRef(uri=uri), **fields), timeout=600))


async def test_speech_comes_back_as_timed_segments_and_srt(client: MeshClient, speech: list,
                                                           media_root: Path) -> None:
    progress, result = await transcribe(client, "speech/news.wav", output=common_pb2.OutputSpec(
        uri="speech/news.srt", overwrite=True))
    assert progress and progress[-1].fraction == pytest.approx(1.0)
    assert result.language == "en"
    assert "welcome to the news" in result.text.lower() and "library" in result.text.lower()
    assert len(result.segments) == len(LINES)
    for segment, line in zip(result.segments, speech, strict=True):
        assert abs(segment.range.start - line.start) < 1.0, (segment, line)
        assert abs(segment.range.end - line.end) < 1.0, (segment, line)
        assert 0.3 < segment.confidence <= 1.0
    srt = (media_root / result.srt.uri).read_text("utf-8")
    assert srt.startswith("1\n00:00:0") and "library" in srt.lower()


async def test_speech_in_a_video_tags_it(client: MeshClient, speech: list,
                                         media_root: Path) -> None:
    audio = media.decode_audio(media_root / "speech" / "news.wav", RATE, True)
    path = media_root / "speech" / "news.mp4"
    fps = 5.0
    with media.VideoWriter(path, 160, 120, fps, audio_sample_rate=RATE,
                           audio_channels=1) as writer:
        for _ in range(int(len(audio) / RATE * fps)):
            writer.write(np.full((120, 160, 3), 40, np.uint8))
        writer.write_audio(audio)
    _, result = await collect(client.text.TagMedia(text_pb2.TagMediaRequest(
        media=common_pb2.MediaRef(uri="speech/news.mp4"), use_speech=True, top_k=5),
        timeout=600))
    assert "library" in result.transcript.lower()
    assert result.tags and all(t.source == text_pb2.TAG_SOURCE_SPEECH for t in result.tags)
    library = next(t for t in result.tags if "library" in t.label.lower())
    assert abs(library.occurrences[0].start - speech[1].start) < 1.0


async def test_bad_transcribe_requests(client: MeshClient, speech: list,
                                       media_root: Path) -> None:
    await assert_invalid_argument(transcribe(client, "speech/news.wav", language="xx-klingon"),
                                  "language", "xx")
    await assert_invalid_argument(transcribe(client, "speech/news.wav", word_timestamps=True),
                                  "word_timestamps", "not supported")
    picture = media_root / "speech" / "still.png"
    media.write_image(picture, np.zeros((16, 16, 3), np.uint8))
    await assert_invalid_argument(transcribe(client, "speech/still.png"), "audio", "no audio")
    silent = media_root / "speech" / "silence.wav"
    media.write_audio(silent, np.zeros(RATE * 3, np.float32), RATE)
    _, quiet = await transcribe(client, "speech/silence.wav", language="en")
    assert list(quiet.segments) == [] and quiet.text == ""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await transcribe(client, "speech/missing.wav")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
